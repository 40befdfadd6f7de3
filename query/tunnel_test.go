package query

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastcapa-go/fastcapa/filter"
	"github.com/fastcapa-go/fastcapa/index"
	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/packet"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// TestTunnelsAgreeWithExpr: on every frame of the shared captures with
// exactly one IP header (also under one and two VLAN tags), Tunnels
// decides as Expr does through libpcap with MatchVLAN, for 300 random
// fixed queries made of the frames' own fields.
func TestTunnelsAgreeWithExpr(t *testing.T) {
	var frames []pcap.Record
	recs, _ := ethernetFrames(t)
	for _, r := range recs {
		frames = append(frames, r, tagged(r, 0x8100, 7), tagged(r, 0x88a8, 8, 0x8100, 9))
	}
	var one []pcap.Record
	var layers []index.Layer
	for _, r := range frames {
		// One IP header, where libpcap with MatchVLAN reads it: behind
		// the Ethernet header and at most two VLAN tags.
		s := packet.Decode(r.Data)
		l, n := index.LayersOf(pcap.LinkTypeEthernet, r.Data)
		if n == 1 && modelComparable(r.Data, s) && l[0].Src == s.Src && (s.EtherType == 0x0800 || s.EtherType == 0x86dd) {
			one = append(one, r)
			layers = append(layers, l[0])
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	compared, kept := 0, 0
	for range 300 {
		l := layers[rng.IntN(len(layers))]
		var f Fixed
		bits := rng.IntN(32)
		if bits&1 != 0 {
			f.SrcAddr = l.Src
		}
		if bits&2 != 0 {
			f.DstAddr = l.Dst
		}
		if bits&4 != 0 && l.Ports && l.SrcPort != 0 {
			f.SrcPort = l.SrcPort
		}
		if bits&8 != 0 && l.Ports && l.DstPort != 0 {
			f.DstPort = l.DstPort
		}
		if bits&16 != 0 && l.Proto != 0 {
			f.Protocol = l.Proto
		}
		f.IncludeReverse = rng.IntN(2) == 0
		if f == (Fixed{IncludeReverse: f.IncludeReverse}) {
			continue
		}
		flt, err := filter.New(filter.Spec{Expr: f.Expr(), MatchVLAN: true})
		if err != nil {
			t.Fatalf("%+v: %q: %v", f, f.Expr(), err)
		}
		m := Tunnels{f}
		for _, r := range one {
			got, want := m.Match(r.Data), flt.Match(r.Data, r.OrigLen)
			if got != want {
				t.Fatalf("%+v (%q): frame %s: Tunnels %v, libpcap %v", f, f.Expr(), packet.Decode(r.Data), got, want)
			}
			compared++
			if got {
				kept++
			}
		}
	}
	if kept == 0 || kept == compared {
		t.Fatalf("%d of %d kept: the queries tell nothing apart", kept, compared)
	}
	t.Logf("%d frames with one IP header, %d decisions, %d kept", len(one), compared, kept)
}

// TestTunnelsInside: a TCP packet 192.0.2.1:40000 > 198.51.100.7:80 inside
// each kind of tunnel, whose outer header is 10.1.1.1 > 10.2.2.2. With
// Tunnels a query for the inner packet finds it in every one, and a query
// mixing the outer header's fields with the inner's finds nothing;
// through libpcap (Expr) only the outer header is seen.
func TestTunnelsInside(t *testing.T) {
	inner := ip4(addr("192.0.2.1"), addr("198.51.100.7"), 6, tcp(40000, 80))
	outerA, outerB := addr("10.1.1.1"), addr("10.2.2.2")
	ethInner := ether(0x0800, inner)
	vxlan := append([]byte{0x08, 0, 0, 0, 0, 0, 42, 0}, ethInner...)
	tunnels := map[string][]byte{
		"IPv4 in IPv4": ether(0x0800, ip4(outerA, outerB, 4, inner)),
		"GRE, IPv4":    ether(0x0800, ip4(outerA, outerB, 47, append([]byte{0, 0, 0x08, 0x00}, inner...))),
		"GRE, Ethernet (GRETAP)": ether(0x0800, ip4(outerA, outerB, 47,
			append([]byte{0, 0, 0x65, 0x58}, ethInner...))),
		"VXLAN":           ether(0x0800, ip4(outerA, outerB, 17, udp(50000, 4789, vxlan))),
		"GRE in VLAN 100": vlanTag(ether(0x0800, ip4(outerA, outerB, 47, append([]byte{0, 0, 0x08, 0x00}, inner...))), 100),
	}
	innerQ := Fixed{SrcAddr: addr("192.0.2.1"), DstPort: 80, Protocol: 6}
	reverseQ := Fixed{SrcAddr: addr("198.51.100.7"), SrcPort: 80, IncludeReverse: true}
	mixed := Fixed{SrcAddr: outerA, DstPort: 80} // outer address, inner port
	outerQ := Fixed{SrcAddr: outerA, DstAddr: outerB}
	for name, frame := range tunnels {
		for _, c := range []struct {
			q         Fixed
			want, bpf bool
			what      string
		}{
			{innerQ, true, false, "the inner packet"},
			{reverseQ, true, false, "the inner packet, reversed"},
			{mixed, false, false, "outer address with inner port"},
			{outerQ, true, true, "the outer header"},
		} {
			if got := (Tunnels{c.q}).Match(frame); got != c.want {
				t.Errorf("%s: %s (%+v): Tunnels %v, want %v", name, c.what, c.q, got, c.want)
			}
			flt, err := filter.New(filter.Spec{Expr: c.q.Expr(), MatchVLAN: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := flt.Match(frame, uint32(len(frame))); got != c.bpf {
				t.Errorf("%s: %s through libpcap: %v, want %v", name, c.what, got, c.bpf)
			}
		}
	}
	// An ICMP error quoting the inner packet is not a tunnel.
	icmp := ether(0x0800, ip4(outerA, outerB, 1, append([]byte{3, 1, 0, 0, 0, 0, 0, 0}, inner...)))
	if (Tunnels{innerQ}).Match(icmp) {
		t.Error("matched the packet an ICMP error quotes")
	}
	if n := testing.AllocsPerRun(100, func() { (Tunnels{innerQ}).Match(tunnels["VXLAN"]) }); n != 0 {
		t.Errorf("Match allocates %v times", n)
	}
}

func ether(etherType uint16, payload []byte) []byte {
	b := make([]byte, 14, 14+len(payload))
	copy(b, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(b[12:], etherType)
	return append(b, payload...)
}

func vlanTag(frame []byte, id uint16) []byte {
	return tagged(pcap.Record{Data: frame, OrigLen: uint32(len(frame))}, 0x8100, id).Data
}

func ip4(src, dst netip.Addr, proto uint8, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	b[0], b[8], b[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(b[2:], uint16(20+len(payload)))
	s, d := src.As4(), dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	return append(b, payload...)
}

func tcp(sport, dport uint16) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	b[12] = 5 << 4
	return b
}

func udp(sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(8+len(payload)))
	return append(b, payload...)
}

// TestTunnelsAgainstTshark: on every Ethernet frame of the shared
// captures that holds no ICMP error (tshark decodes the packet an error
// quotes as a layer; Tunnels does not), the sources of the IP headers
// LayersOf finds, in order, are those tshark reports (ip.src, ipv6.src)
// — so a Tunnels query on a source address, at any depth, finds exactly
// the frames tshark's "ip.src == A" does. Frames whose layers tshark and
// the walk read differently are counted and listed, and must stay under
// 1 %: at this writing 12 of 6 328, for reasons known and kept — tshark
// does not decode the inner packet of a 64 KiB "big TCP" VXLAN frame,
// the walk reads IP headers with a bad total length or version that
// tshark drops and skips IPv6 headers cut short that tshark still shows,
// and it does not read the packets sFlow samples carry.
func TestTunnelsAgainstTshark(t *testing.T) {
	tshark := testenv.RequireTool(t, "tshark")
	// Every Ethernet frame of the shared captures in one file, so that
	// tshark starts once.
	recs, from := ethernetFrames(t)
	all := filepath.Join(t.TempDir(), "all.pcap")
	pcaptest.WriteCapture(t, all, pcaptest.File{}, recs)
	out, err := exec.Command(tshark, "-r", all, "-o", "tcp.desegment_tcp_streams:FALSE", "-o", "ip.defragment:FALSE",
		"-o", "ipv6.defragment:FALSE", "-T", "fields", "-E", "occurrence=a",
		"-e", "ip.src", "-e", "ipv6.src", "-e", "icmp.type", "-e", "icmpv6.type", "-e", "_ws.col.Protocol").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != len(recs) {
		t.Fatalf("tshark printed %d lines for %d frames", len(lines), len(recs))
	}
	compared, differ := 0, 0
	var examples []string
	for i, line := range lines {
		f := strings.Split(line, "\t")
		if len(f) < 5 || f[2] != "" || f[3] != "" {
			continue
		}
		var want []string
		for _, col := range f[:2] {
			if col != "" {
				want = append(want, strings.Split(col, ",")...)
			}
		}
		layers, n := index.LayersOf(pcap.LinkTypeEthernet, recs[i].Data)
		var got []string
		for _, l := range layers[:n] {
			got = append(got, l.Src.String())
		}
		compared++
		if !sameSet(got, want) {
			differ++
			if len(examples) < 12 {
				examples = append(examples, fmt.Sprintf("%s (%s): walk %v, tshark %v", from[i], f[4], got, want))
			}
		}
	}
	t.Logf("%d frames compared, %d read differently", compared, differ)
	for _, e := range examples {
		t.Log(e)
	}
	if compared < 1000 || differ*100 > compared {
		t.Errorf("%d of %d frames read differently from tshark (at most 1 %% allowed)", differ, compared)
	}
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}

// ethernetFrames are the Ethernet records of every shared capture, each
// with the base name of its file.
func ethernetFrames(t *testing.T) (recs []pcap.Record, from []string) {
	for _, p := range testenv.AllPcaps(t) {
		c, err := pcap.OpenFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := pcap.ReadAll(c)
		if err != nil {
			t.Logf("%s: %v: the records before it are used", p, err)
		}
		for _, r := range rs {
			if r.LinkType == pcap.LinkTypeEthernet {
				recs = append(recs, r)
				from = append(from, filepath.Base(p))
			}
		}
		c.Close()
	}
	return recs, from
}
