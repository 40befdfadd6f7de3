package dpdk

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// The crafted frames and their builders are pcaptest's (DecapFrames),
// shared with package index's test of the same rule.
var (
	macA, macB, ip4A, ip4B, ip6A, ip6B = pcaptest.MACA, pcaptest.MACB, pcaptest.IP4A, pcaptest.IP4B, pcaptest.IP6A, pcaptest.IP6B

	cat, be                 = pcaptest.Cat, pcaptest.BE16
	ethH, tagH, mplsH, ip4H = pcaptest.Eth, pcaptest.Tag, pcaptest.MPLS, pcaptest.IPv4
	ip6H, udpH, tcpH, greH  = pcaptest.IPv6, pcaptest.UDP, pcaptest.TCP, pcaptest.GRE
	gtpH, vxlanH, geneveH   = pcaptest.GTPU, pcaptest.VXLAN, pcaptest.Geneve
	decapFiles              = pcaptest.DecapFiles
	decapDisagreements      = pcaptest.DecapDisagreements
)

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
	for _, fr := range pcaptest.DecapFrames() {
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
