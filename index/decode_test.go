package index

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/fastcapa-go/fastcapa/packet"
	"github.com/fastcapa-go/fastcapa/pcap"
)

func walk(linkType uint32, b []byte) *headers {
	var h headers
	h.link(linkType, b)
	return &h
}

// missing lists what w holds and h does not.
func (h *headers) missing(w want) []string {
	var m []string
	for _, a := range w.addrs {
		if !slices.Contains(h.addrs[:h.nAddrs], hostKey(a)) {
			m = append(m, "host "+a.String())
		}
	}
	for _, p := range w.ports {
		if !slices.Contains(h.ports[:h.nPorts], p) {
			m = append(m, fmt.Sprint("port ", p))
		}
	}
	for _, p := range w.protos {
		if h.protos[p>>6]&(1<<(p&63)) == 0 {
			m = append(m, fmt.Sprint("proto ", p))
		}
	}
	return m
}

// TestWalkFindsGenerated: in random frames of every layering the walk
// covers, down to its deepest level, it finds every address, port and
// protocol the generator put there; cut short anywhere, a frame never
// panics it or overflows its arrays.
func TestWalkFindsGenerated(t *testing.T) {
	g := newGen(1)
	n := 20000
	if testing.Short() {
		n = 2000
	}
	deepest := 0
	for i := range n {
		var w want
		f := g.frame(&w)
		h := walk(linkEthernet, f)
		if m := h.missing(w); len(m) > 0 {
			t.Fatalf("frame %d (% x): missing %v", i, f, m)
		}
		if h.dropped {
			t.Fatalf("frame %d (% x): arrays full", i, f)
		}
		deepest = max(deepest, h.nAddrs)
		for range 3 {
			if h := walk(linkEthernet, f[:g.r.IntN(len(f)+1)]); h.dropped {
				t.Fatalf("frame %d cut short: arrays full", i)
			}
		}
	}
	t.Logf("%d frames, up to %d addresses in one", n, deepest)
}

// ipip nests n IPv4-in-IPv4 headers around a TCP header; level i has
// addresses 10.0.i.1 and 10.0.i.2.
func ipip(n int) ([]byte, []netip.Addr) {
	var addrs []netip.Addr
	p := cat(u16(1000), u16(80), make([]byte, 16))
	proto := uint8(6)
	for i := n - 1; i >= 0; i-- {
		a, b := netip.AddrFrom4([4]byte{10, 0, byte(i), 1}), netip.AddrFrom4([4]byte{10, 0, byte(i), 2})
		addrs = append([]netip.Addr{a, b}, addrs...)
		h := make([]byte, 20)
		h[0] = 0x45
		h[2], h[3] = byte((20+len(p))>>8), byte(20+len(p))
		h[9] = proto
		copy(h[12:], a.AsSlice())
		copy(h[16:], b.AsSlice())
		p, proto = cat(h, p), 4
	}
	return cat(make([]byte, 12), u16(0x0800), p), addrs
}

// TestWalkDepth: the walk reads maxDepth levels below the outermost and
// no more.
func TestWalkDepth(t *testing.T) {
	f, addrs := ipip(20)
	h := walk(linkEthernet, f)
	if h.dropped {
		t.Fatal("arrays full")
	}
	for i, a := range addrs {
		got := slices.Contains(h.addrs[:h.nAddrs], hostKey(a))
		if got != (i/2 <= maxDepth) {
			t.Errorf("level %d address %s: found %v", i/2, a, got)
		}
	}
	f, _ = ipip(maxDepth + 1)
	if h := walk(linkEthernet, f); !slices.Contains(h.ports[:h.nPorts], 80) {
		t.Errorf("ports at level %d not found", maxDepth)
	}
}

// TestLinkTypes: the same IP packet is found under every link type the
// walk reads, and nothing under one it does not.
func TestLinkTypes(t *testing.T) {
	eth := packet.UDPFrame(64, 1234, 53)
	ip := eth[14:]
	w := want{
		addrs:  []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")},
		ports:  []uint16{1234, 53},
		protos: []uint8{17},
	}
	var g gen
	var w6 want
	g.r = newGen(2).r
	ip6 := g.ip6(&w6, 6, cat(u16(5), u16(6), make([]byte, 16)))
	w6.ports = []uint16{5, 6}
	for _, c := range []struct {
		name string
		link uint32
		data []byte
		w    want
	}{
		{"ethernet", linkEthernet, eth, w},
		{"raw", linkRaw, ip, w},
		{"raw ipv6", linkRaw, ip6, w6},
		{"raw 12", linkRaw12, ip, w},
		{"raw 14", linkRaw14, ip, w},
		{"ipv4", linkIPv4, ip, w},
		{"ipv6", linkIPv6, ip6, w6},
		{"sll", linkSLL, cat(make([]byte, 14), u16(0x0800), ip), w},
		{"sll2", linkSLL2, cat(u16(0x86dd), make([]byte, 18), ip6), w6},
		{"null little-endian", linkNull, cat([]byte{2, 0, 0, 0}, ip), w},
		{"null big-endian ipv6", linkNull, cat([]byte{0, 0, 0, 30}, ip6), w6},
		{"loop", linkLoop, cat([]byte{0, 0, 0, 2}, ip), w},
		{"loop ipv6 linux", linkLoop, cat([]byte{0, 0, 0, 10}, ip6), w6},
		{"ppp", linkPPP, cat([]byte{0xff, 0x03, 0, 0x21}, ip), w},
	} {
		h := walk(c.link, c.data)
		if m := h.missing(c.w); len(m) > 0 {
			t.Errorf("%s: missing %v", c.name, m)
		}
		q := Constraints{Hosts: c.w.addrs[:1], Ports: c.w.ports[:1]}
		if !q.Match(pcap.Record{LinkType: c.link, Data: c.data}) {
			t.Errorf("%s: Match false", c.name)
		}
	}
	if h := walk(147, eth); h.nAddrs != 0 || h.nPorts != 0 || h.protos != [4]uint64{} {
		t.Errorf("link type 147 (user 0): found %d addresses", h.nAddrs)
	}
}

// TestWalkExamples: layers as they are usually seen, written out.
func TestWalkExamples(t *testing.T) {
	a1, a2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	i1, i2 := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2")
	ip4 := func(src, dst netip.Addr, proto uint8, frag uint16, p []byte) []byte {
		h := make([]byte, 20)
		h[0] = 0x45
		h[2], h[3] = byte((20+len(p))>>8), byte(20+len(p))
		h[6], h[7] = byte(frag>>8), byte(frag)
		h[9] = proto
		copy(h[12:], src.AsSlice())
		copy(h[16:], dst.AsSlice())
		return cat(h, p)
	}
	tcp := cat(u16(40000), u16(443), make([]byte, 16))
	inner := ip4(i1, i2, 6, 0, tcp)
	eth := func(et uint16, p []byte) []byte { return cat(make([]byte, 12), u16(et), p) }
	both := want{addrs: []netip.Addr{a1, a2, i1, i2}, ports: []uint16{40000, 443}, protos: []uint8{6}}
	for _, c := range []struct {
		name  string
		frame []byte
		w     want
		not   []uint16 // ports that must not be found
	}{
		{"one VLAN tag", eth(0x8100, cat(u16(100), u16(0x0800), inner)), want{addrs: []netip.Addr{i1, i2}, ports: []uint16{443}}, nil},
		{"802.1ad and 802.1Q", eth(0x88a8, cat(u16(100), u16(0x8100), u16(200), u16(0x0800), inner)), want{addrs: []netip.Addr{i1}, ports: []uint16{443}}, nil},
		{"IPv4 in GRE", eth(0x0800, ip4(a1, a2, 47, 0, cat(u16(0), u16(0x0800), inner))), both, nil},
		{"GRETAP with key", eth(0x0800, ip4(a1, a2, 47, 0, cat(u16(0x2000), u16(0x6558), u32(7), eth(0x0800, inner)))), both, nil},
		{"IP in IP", eth(0x0800, ip4(a1, a2, 4, 0, inner)), both, nil},
		{"ICMP error quoting", eth(0x0800, ip4(a1, a2, 1, 0, cat([]byte{3, 3, 0, 0, 0, 0, 0, 0}, inner[:28]))), both, nil},
		{"non-first fragment", eth(0x0800, ip4(a1, a2, 6, 185, tcp)), want{addrs: []netip.Addr{a1, a2}, protos: []uint8{6}}, []uint16{443}},
	} {
		h := walk(linkEthernet, c.frame)
		if m := h.missing(c.w); len(m) > 0 {
			t.Errorf("%s: missing %v", c.name, m)
		}
		for _, p := range c.not {
			if slices.Contains(h.ports[:h.nPorts], p) {
				t.Errorf("%s: found port %d", c.name, p)
			}
		}
	}
}
