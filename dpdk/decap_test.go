package dpdk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// Frames crafted for what the shared captures lack (QinQ, MPLS, IP in
// IP, GTP-U, Geneve carrying IP, GRE variants), built field by field.

var (
	macA = []byte{0x02, 0, 0, 0, 0, 0xa}
	macB = []byte{0x02, 0, 0, 0, 0, 0xb}
	ip4A = []byte{10, 0, 0, 1}
	ip4B = []byte{10, 0, 0, 2}
	ip6A = append(bytes.Repeat([]byte{0x20, 0x01, 0x0d, 0xb8}, 3), 0, 0, 0, 1)
	ip6B = append(bytes.Repeat([]byte{0x20, 0x01, 0x0d, 0xb8}, 3), 0, 0, 0, 2)
)

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func be(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func ethH(etype uint16) []byte { return cat(macB, macA, be(etype)) }

func tagH(etype uint16) []byte { return cat(be(100), be(etype)) }

func mplsH(bottom bool) []byte {
	b := []byte{0, 0x10, 0, 64}
	if bottom {
		b[2] |= 1
	}
	return b
}

func ip4H(proto byte, src, dst []byte, payload []byte, frag uint16) []byte {
	return pcaptest.IPv4(proto, src, dst, payload, frag)
}

func ip6H(nh byte, src, dst []byte, payload []byte) []byte {
	h := []byte{0x60, 0, 0, 0, 0, 0, nh, 64}
	binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
	return cat(h, src, dst, payload)
}

func udpH(sp, dp uint16, payload []byte) []byte {
	return cat(be(sp), be(dp), be(uint16(8+len(payload))), be(0), payload)
}

func tcpH(sp, dp uint16) []byte {
	return cat(be(sp), be(dp), make([]byte, 8), []byte{0x50, 0x10}, be(1024), be(0), be(0))
}

func greH(flags, proto uint16, extra int) []byte {
	return cat(be(flags), be(proto), make([]byte, extra))
}

func gtpH(flags byte, opt []byte, payload []byte) []byte {
	h := []byte{flags, 255}
	return cat(h, be(uint16(len(opt)+len(payload))), []byte{0, 0, 0, 7}, opt, payload)
}

func vxlanH() []byte { return []byte{0x08, 0, 0, 0, 0, 0, 42, 0} }

func geneveH(proto uint16, opts int) []byte {
	return cat([]byte{byte(opts / 4), 0}, be(proto), []byte{0, 0, 42, 0}, make([]byte, opts))
}

// craftedFrames are the frames of crafted.pcap: both directions of each
// inner conversation, so the hash test sees them.
func craftedFrames() [][]byte {
	var out [][]byte
	both := func(f func(a, b []byte, a6, b6 []byte, sp, dp uint16) []byte) {
		out = append(out, f(ip4A, ip4B, ip6A, ip6B, 40000, 80), f(ip4B, ip4A, ip6B, ip6A, 80, 40000))
	}
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // QinQ 88a8/8100
		return cat(ethH(0x88a8), tagH(0x8100), tagH(0x0800), ip4H(6, a, b, tcpH(sp, dp), 0))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // 9100/8100, IPv6
		return cat(ethH(0x9100), tagH(0x8100), tagH(0x86DD), ip6H(17, a6, b6, udpH(sp, dp, []byte("hello"))))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // MPLS x2
		return cat(ethH(0x8847), mplsH(false), mplsH(true), ip4H(17, a, b, udpH(sp, dp, []byte("x")), 0))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // MPLS, IPv6
		return cat(ethH(0x8847), mplsH(true), ip6H(6, a6, b6, tcpH(sp, dp)))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // IPv4 in IPv4
		return cat(ethH(0x0800), ip4H(4, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2}, ip4H(6, a, b, tcpH(sp, dp), 0), 0))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // IPv6 in IPv4
		return cat(ethH(0x0800), ip4H(41, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2}, ip6H(17, a6, b6, udpH(sp, dp, nil)), 0))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // GRE K S, IPv4
		return cat(ethH(0x0800), ip4H(47, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2},
			cat(greH(0x3000, 0x0800, 8), ip4H(6, a, b, tcpH(sp, dp), 0)), 0))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // GRE C, MPLS, IPv4
		return cat(ethH(0x0800), ip4H(47, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2},
			cat(greH(0x8000, 0x8847, 4), mplsH(true), ip4H(17, a, b, udpH(sp, dp, []byte("y")), 0)), 0))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // GRE TEB, Ethernet, VLAN, IPv4
		return cat(ethH(0x0800), ip4H(47, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2},
			cat(greH(0x2000, 0x6558, 4), ethH(0x8100), tagH(0x0800), ip4H(6, a, b, tcpH(sp, dp), 0)), 0))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // GTP-U, IPv4
		return cat(ethH(0x0800), ip4H(17, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2},
			udpH(2152, 2152, gtpH(0x30, nil, ip4H(6, a, b, tcpH(sp, dp), 0))), 0))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // GTP-U S, IPv6
		return cat(ethH(0x0800), ip4H(17, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2},
			udpH(2152, 2152, gtpH(0x32, []byte{0, 9, 0, 0}, ip6H(17, a6, b6, udpH(sp, dp, nil)))), 0))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // GTP-U E, PDU session container, IPv4
		return cat(ethH(0x86DD), ip6H(17, ip6B, ip6A,
			udpH(2152, 2152, gtpH(0x34, []byte{0, 0, 0, 0x85, 1, 0x10, 5, 0}, ip4H(17, a, b, udpH(sp, dp, nil), 0)))))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // Geneve options, Ethernet
		return cat(ethH(0x0800), ip4H(17, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2},
			udpH(50000, 6081, cat(geneveH(0x6558, 8), ethH(0x0800), ip4H(6, a, b, tcpH(sp, dp), 0))), 0))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // Geneve, IPv6
		return cat(ethH(0x0800), ip4H(17, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2},
			udpH(50000, 6081, cat(geneveH(0x86DD, 0), ip6H(6, a6, b6, tcpH(sp, dp)))), 0))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // IPv6 hop-by-hop, destination, VXLAN
		ext := cat([]byte{60, 0}, make([]byte, 6), []byte{17, 0}, make([]byte, 6))
		return cat(ethH(0x86DD), ip6H(0, ip6B, ip6A, cat(ext, udpH(sp, 4789, cat(vxlanH(), ethH(0x0800),
			ip4H(6, a, b, tcpH(sp, dp), 0))))))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // IPv4 first fragment: ports
		return cat(ethH(0x0800), ip4H(17, a, b, udpH(sp, dp, make([]byte, 16)), 0x2000))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // IPv4 in a first fragment: not decoded
		return cat(ethH(0x0800), ip4H(4, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2}, ip4H(6, a, b, tcpH(sp, dp), 0), 0x2000))
	})
	out = append(out,
		// A later fragment: no L4.
		cat(ethH(0x0800), ip4H(17, ip4A, ip4B, make([]byte, 16), 0x0003)),
		// VXLAN cut inside the inner Ethernet header.
		cat(ethH(0x0800), ip4H(17, ip4A, ip4B, udpH(1000, 4789, cat(vxlanH(), macB)), 0)),
		// VLAN, ARP: nothing removed that reaches IP.
		cat(ethH(0x8100), tagH(0x0806), make([]byte, 28)),
		// GRE version 1 (PPTP): not decoded.
		cat(ethH(0x0800), ip4H(47, ip4A, ip4B, cat(greH(0x2001, 0x880b, 4), make([]byte, 8)), 0)),
		// MPLS whose payload is not IP.
		cat(ethH(0x8847), mplsH(true), make([]byte, 4), ethH(0x0800)),
		// Shorter than an Ethernet header.
		macA,
	)
	return out
}

// decapFiles are every shared capture and crafted.pcap, written in dir.
func decapFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(pcaps, "tcpdump-tests", "*.pcap"))
	if err != nil || len(files) < 200 {
		t.Fatalf("%d captures in %s: %v", len(files), pcaps, err)
	}
	crafted := filepath.Join(dir, "crafted.pcap")
	var recs []pcap.Record
	for i, f := range craftedFrames() {
		recs = append(recs, pcap.Record{Timestamp: int64(i+1) * int64(time.Millisecond), OrigLen: uint32(len(f)), Data: f})
	}
	pcaptest.WriteCapture(t, crafted, pcaptest.File{}, recs)
	return append([]string{filepath.Join(pcaps, "metron-example.pcap"), crafted}, files...)
}

// decapDisagreements are the frames where tshark's decode and fc_parse
// differ on purpose, with why.
var decapDisagreements = map[string]string{
	// A tunnel in a fragment is not decoded: the inner packet is cut, its
	// other fragments could not be decapsulated, and a filter on the inner
	// packet would keep one fragment of several. tshark decodes it.
	"crafted.pcap#33": "IPv4 in IPv4 in a first fragment",
	"crafted.pcap#34": "IPv4 in IPv4 in a first fragment",
	// A version-6 header under ethertype 0x0800: tshark says "bogus IPv4
	// version" and decodes it as IPv6 in IPv4; fc_parse stops at a wrong
	// version.
	"kday1.pcap#1": "IPv6 header under ethertype IPv4",
	// Frames captured before GSO/BIG TCP segmentation: UDP length 0, or
	// IPv6 payload length 0. tshark stops at the length; fc_parse checks no
	// length field beyond the headers present, so it decapsulates them as
	// the kernel sends them.
	"bigtcp-ipv4-vxlan-ipv6.pcap#1": "BIG TCP frame, UDP length 0",
	"bigtcp-ipv6-vxlan-ipv6.pcap#1": "BIG TCP frame, IPv6 payload length 0",
}

// decapOracle is pcaptest.Decapsulated and the records of each of files,
// computed once for the tests that share them (tshark takes ~40 s over
// every shared capture).
type decapCase struct {
	name  string
	recs  []pcap.Record
	decap []pcaptest.Decap
}

var decapCases []decapCase

func decapOracle(t *testing.T) []decapCase {
	t.Helper()
	if decapCases != nil {
		return decapCases
	}
	dir, err := os.MkdirTemp("", "fc-decap-*")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	var cases []decapCase
	for _, file := range decapFiles(t, dir) {
		cases = append(cases, decapCase{name: filepath.Base(file), recs: pcaptest.ReadAll(t, file),
			decap: pcaptest.Decapsulated(t, file)})
	}
	decapCases = cases
	return cases
}

var decapPools int

// newDecapPool is a pool of one-segment mbufs of 2048 B for the decap tests.
func newDecapPool(t testing.TB) *Mempool {
	t.Helper()
	requireEAL(t)
	decapPools++
	pool, err := NewMempool(MempoolSpec{Name: fmt.Sprintf("p-decap-%d", decapPools), Mbufs: 1023, Cache: 0,
		DataRoom: 2048 + 128, Socket: -1})
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

// segFor is the segment size that fits frame in the pool's mbufs.
func segFor(frame []byte, seg int) int {
	if len(frame) > 2048 && (seg == 0 || len(frame) > 9000) {
		return 2048
	}
	return seg
}

// TestParseMatchesTshark: for every frame of every shared capture and of
// the crafted frames, fc_parse finds the innermost packet tshark's decode
// gives (pcaptest.Decapsulated: same rule, tshark's positions);
// fc_inner_enter presents the frame the oracle builds, or refuses when
// the header it writes is not in the first segment (segments of 60 B),
// and fc_inner_leave restores the mbuf byte for byte. Bytes around the
// frame (headroom, tailroom) filled with 0x00 or 0xFF change nothing.
func TestParseMatchesTshark(t *testing.T) {
	pool := newDecapPool(t)
	defer pool.Close()
	cases := decapOracle(t)
	var frames, inner, refused, bad int
	kinds := map[string]int{}
	seen := map[string]bool{} // explained disagreements met
	for _, c := range cases {
		name, recs := c.name, c.recs
		for i, want := range c.decap {
			frames++
			if want.Kind != pcaptest.InnerNone {
				inner++
				kinds[fmt.Sprint(want.Protos[:min(len(want.Protos), 8)])]++
			}
			data := recs[i].Data
			for _, seg := range []int{0, 60} {
				for _, fill := range []byte{0x00, 0xFF} {
					got, err := decapForTest(pool, data, segFor(data, seg), fill)
					if err != nil {
						t.Fatal(err)
					}
					key := fmt.Sprintf("%s#%d", name, i+1)
					why, explained := decapDisagreements[key]
					if got.Off != want.Off || got.Kind != want.Kind || got.Layers != want.Layers {
						if seg == 0 && fill == 0 {
							if explained {
								t.Logf("%s: fc_parse %s; tshark %s: %s", key, got.parsed, want, why)
								seen[key] = true
							} else {
								bad++
								t.Errorf("%s: fc_parse %s; tshark %s", key, got.parsed, want)
							}
						}
						continue
					}
					if got.Changed != 0 {
						t.Errorf("%s (seg %d): after fc_inner_leave the mbuf differs (mask %d)", key, seg, got.Changed)
					}
					first := segFor(data, seg)
					if first == 0 {
						first = len(data)
					}
					fits := want.Kind == pcaptest.InnerNone || (want.Kind == pcaptest.InnerEth && want.Off+14 <= first) ||
						(want.Kind != pcaptest.InnerEth && want.Off <= first)
					switch {
					case !fits && got.Enter != -1:
						t.Errorf("%s (seg %d): fc_inner_enter %d, want -1 (inner header at %d past the first segment)", key, seg, got.Enter, want.Off)
					case !fits:
						refused++
					case got.Enter != 0:
						t.Errorf("%s (seg %d): fc_inner_enter %d", key, seg, got.Enter)
					case !bytes.Equal(got.Presented, want.Frame):
						t.Errorf("%s (seg %d): fc_inner_enter presents\n%x\ntshark's inner frame\n%x", key, seg, got.Presented, want.Frame)
					}
				}
			}
		}
	}
	t.Logf("%d frames of %d files, %d with an inner packet, %d refusals of fc_inner_enter in segments of 60 B; %d disagreements",
		frames, len(cases), inner, refused/2, bad)
	for k := range decapDisagreements {
		if !seen[k] {
			t.Errorf("%s: listed as a disagreement, but fc_parse and tshark agree", k)
		}
	}
	keys := make([]string, 0, len(kinds))
	for k := range kinds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("%4d %s", kinds[k], k)
	}
	if a := pool.Audit(); a.InUse != 0 {
		t.Errorf("%d mbufs in use after the test", a.InUse)
	}
}

// TestFlowHashSymmetric: every packet of one of tshark's conversations
// (tcp.stream, udp.stream of the innermost TCP or UDP header), both
// directions, has one flow hash; different conversations almost always
// have different ones. The hash of fixed tuples is pinned: a change of
// algorithm or seed shows here.
func TestFlowHashSymmetric(t *testing.T) {
	pool := newDecapPool(t)
	defer pool.Close()
	hashes := map[string]map[uint32]int{}  // file and stream: hash: packets
	tuples := map[uint32]map[string]bool{} // hash: tuples
	for _, c := range decapOracle(t) {
		for i, d := range c.decap {
			if _, ok := decapDisagreements[fmt.Sprintf("%s#%d", c.name, i+1)]; ok || d.Stream == "" {
				continue
			}
			got, err := decapForTest(pool, c.recs[i].Data, segFor(c.recs[i].Data, 0), 0)
			if err != nil {
				t.Fatal(err)
			}
			k := c.name + " " + d.Stream
			if hashes[k] == nil {
				hashes[k] = map[uint32]int{}
			}
			hashes[k][got.Hash]++
			if tuples[got.Hash] == nil {
				tuples[got.Hash] = map[string]bool{}
			}
			tuples[got.Hash][d.Tuple] = true
		}
	}
	for k, hs := range hashes {
		if len(hs) != 1 {
			t.Errorf("%s: %d hashes %v", k, len(hs), hs)
		}
	}
	// 32 bits over a few hundred tuples: a collision is a bug (p < 1e-5).
	n := 0
	for h, ts := range tuples {
		n += len(ts)
		if len(ts) > 1 {
			t.Errorf("hash %#08x for %d conversations: %v", h, len(ts), ts)
		}
	}
	t.Logf("%d conversations (tcp.stream, udp.stream) of %d tuples, %d distinct hashes", len(hashes), n, len(tuples))
	if len(hashes) < 200 {
		t.Errorf("only %d conversations", len(hashes))
	}

	for _, g := range []struct {
		name  string
		frame []byte
		want  uint32
	}{
		{"IPv4 TCP", cat(ethH(0x0800), ip4H(6, ip4A, ip4B, tcpH(40000, 80), 0)), 0x7dfbca1b},
		{"IPv4 TCP reversed", cat(ethH(0x0800), ip4H(6, ip4B, ip4A, tcpH(80, 40000), 0)), 0x7dfbca1b},
		{"IPv6 UDP in VXLAN", cat(ethH(0x0800), ip4H(17, ip4A, ip4B, udpH(1, 4789, cat(vxlanH(), ethH(0x86DD),
			ip6H(17, ip6A, ip6B, udpH(53, 5353, nil)))), 0)), 0x64c71a81},
		{"ARP", cat(ethH(0x0806), make([]byte, 28)), 0xfdbd85e9},
		{"runt", macA, 0x9e3779b9},
	} {
		got, err := decapForTest(pool, g.frame, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got.Hash != g.want {
			t.Errorf("%s: flow hash %#08x, want %#08x", g.name, got.Hash, g.want)
		}
	}
}

// FuzzParse: on hostile bytes fc_parse reads nothing outside the frame
// (bytes around it, filled two ways, and how it is cut in segments change
// nothing), gives an innermost packet inside it, and fc_inner_enter and
// fc_inner_leave present it and restore the mbuf.
func FuzzParse(f *testing.F) {
	pool := newDecapPool(f)
	f.Cleanup(pool.Close)
	for _, fr := range craftedFrames() {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 2048 {
			return
		}
		seg := 7 // small segments, but not hundreds of them
		if len(data) > 256 {
			seg = 61
		}
		var rs [3]decapResult
		for i, v := range []struct {
			seg  int
			fill byte
		}{{0, 0x00}, {0, 0xFF}, {seg, 0x5A}} {
			r, err := decapForTest(pool, data, v.seg, v.fill)
			if err != nil {
				t.Fatal(err)
			}
			if r.Changed != 0 {
				t.Fatalf("segments of %d: mbuf changed (mask %d) after enter and leave", v.seg, r.Changed)
			}
			rs[i] = r
		}
		p := rs[0].parsed
		if rs[1].parsed != p || rs[2].parsed != p {
			t.Fatalf("parse depends on bytes outside the frame or on segments: %s, %s, %s", p, rs[1].parsed, rs[2].parsed)
		}
		switch {
		case p.Kind == innerNone && (p.Off != 0 || p.Layers != 0),
			p.Kind == innerEth && p.Off+14 > len(data),
			(p.Kind == innerIP4 || p.Kind == innerIP6) && (p.Off < 14 || p.Off+20 > len(data)),
			p.Kind > innerIP6, p.Kind != innerNone && (p.Layers == 0 || p.Layers > 8):
			t.Fatalf("%d bytes: %s", len(data), p)
		}
		if rs[0].Enter != 0 {
			t.Fatalf("%s: fc_inner_enter %d on one segment", p, rs[0].Enter)
		}
		want := data
		switch p.Kind {
		case innerEth:
			want = data[p.Off:]
		case innerIP4:
			want = cat(data[:12], be(0x0800), data[p.Off:])
		case innerIP6:
			want = cat(data[:12], be(0x86DD), data[p.Off:])
		}
		if !bytes.Equal(rs[0].Presented, want) {
			t.Fatalf("%s: presented %x, want %x", p, rs[0].Presented, want)
		}
	})
}

// BenchmarkParse: fc_parse on one frame, b.N times in one C call.
func BenchmarkParse(b *testing.B) {
	pool := newDecapPool(b)
	defer pool.Close()
	inner := ip4H(6, ip4A, ip4B, tcpH(40000, 80), 0)
	for _, c := range []struct {
		name  string
		frame []byte
	}{
		{"eth-ip4-tcp", cat(ethH(0x0800), inner)},
		{"vlan-ip4-tcp", cat(ethH(0x8100), tagH(0x0800), inner)},
		{"vxlan-ip4-tcp", cat(ethH(0x0800), ip4H(17, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2},
			udpH(50000, 4789, cat(vxlanH(), ethH(0x0800), inner)), 0))},
	} {
		b.Run(c.name, func(b *testing.B) {
			if _, err := parseLoopForTest(pool, c.frame, b.N); err != nil {
				b.Fatal(err)
			}
		})
	}
}
