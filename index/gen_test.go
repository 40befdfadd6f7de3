package index

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
)

// A generator of layered frames, built inside out, that knows what a walk
// must find in each: the addresses, ports and protocols it placed at a
// layer the walk covers. It is written from the protocols' layouts, not
// from the walk, so the two check each other.

type want struct {
	addrs  []netip.Addr
	ports  []uint16
	protos []uint8
}

func (w *want) add(o want) {
	w.addrs = append(w.addrs, o.addrs...)
	w.ports = append(w.ports, o.ports...)
	w.protos = append(w.protos, o.protos...)
}

type gen struct {
	r *rand.Rand
	// pools of addresses and ports to draw from; nil: any
	v4, v6 []netip.Addr
	ports  []uint16
	// maxLevel: the deepest level to put headers in (maxDepth: what the
	// walk reads)
	maxLevel int
}

func newGen(seed uint64) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, seed^0x5eed)), maxLevel: maxDepth}
}

func (g *gen) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

func (g *gen) addr4() netip.Addr {
	if g.v4 != nil {
		return g.v4[g.r.IntN(len(g.v4))]
	}
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], g.r.Uint32())
	return netip.AddrFrom4(a)
}

func (g *gen) addr6() netip.Addr {
	if g.v6 != nil {
		return g.v6[g.r.IntN(len(g.v6))]
	}
	var a [16]byte
	binary.BigEndian.PutUint64(a[:], g.r.Uint64())
	binary.BigEndian.PutUint64(a[8:], g.r.Uint64())
	return netip.AddrFrom16(a)
}

func (g *gen) port() uint16 {
	if g.ports != nil {
		return g.ports[g.r.IntN(len(g.ports))]
	}
	for {
		p := uint16(g.r.Uint32())
		if !tunnelPort(p) {
			return p
		}
	}
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// frame is an Ethernet frame with random link-layer wrappers around a
// random network packet at level 0.
func (g *gen) frame(w *want) []byte {
	et, p := g.network(w, 0)
	et, p = g.l2(et, p)
	return cat(g.bytes(12), u16(et), p)
}

// l2 wraps a packet of EtherType et in 0 to 3 link-layer headers.
func (g *gen) l2(et uint16, p []byte) (uint16, []byte) {
	for range g.r.IntN(4) {
		ip := et == 0x0800 || et == 0x86dd // MPLS and PPPoE carry IP here
		switch g.r.IntN(9) {
		case 0, 1, 2:
			tags := []uint16{0x8100, 0x88a8, 0x9100, 0x9200}
			et, p = tags[g.r.IntN(len(tags))], cat(u16(uint16(g.r.IntN(4096))), u16(et), p)
		case 3:
			if ip {
				labels := g.r.IntN(3) + 1
				var s []byte
				for i := range labels {
					l := g.r.Uint32() &^ 0x100
					if i == labels-1 {
						l |= 0x100
					}
					s = append(s, u32(l)...)
				}
				et, p = 0x8847, cat(s, p)
			}
		case 4:
			if ip {
				proto := uint16(0x0021)
				if et == 0x86dd {
					proto = 0x0057
				}
				et, p = 0x8864, cat([]byte{0x11, 0}, u16(uint16(g.r.Uint32())), u16(uint16(len(p)+2)), u16(proto), p)
			}
		case 5:
			tci := byte(g.r.IntN(4)) // AN
			var sci []byte
			if g.r.IntN(2) == 0 {
				tci |= 0x20
				sci = g.bytes(8)
			}
			et, p = 0x88e5, cat([]byte{tci, 0}, g.bytes(4), sci, u16(et), p, g.bytes(16))
		case 6:
			if g.r.IntN(2) == 0 {
				et, p = 0xd28b, cat([]byte{0, 1, 0, 0x10}, g.bytes(8), u16(et), p)
			} else {
				et, p = 0xd28b, cat([]byte{0, 1, 1, 0x20}, g.bytes(6), u16(et), p)
			}
		case 7:
			et, p = 0x8909, cat([]byte{1, 1, 0, 1}, g.bytes(2), u16(et), p)
		case 8:
			if len(p)+8 <= 1500 {
				return uint16(len(p) + 8), cat([]byte{0xaa, 0xaa, 3, 0, 0, 0}, u16(et), p)
			}
		}
	}
	return et, p
}

// network is a network packet at level: IPv4, IPv6 or ARP, and what it
// carries.
func (g *gen) network(w *want, level int) (uint16, []byte) {
	switch g.r.IntN(9) {
	case 0:
		a, b := g.addr4(), g.addr4()
		w.addrs = append(w.addrs, a, b)
		return 0x0806, cat([]byte{0, 1, 8, 0, 6, 4, 0, 1}, g.bytes(6), a.AsSlice(), g.bytes(6), b.AsSlice())
	case 1, 2, 3:
		proto, p := g.transport(w, level, 6)
		return 0x86dd, g.ip6(w, proto, p)
	default:
		proto, p := g.transport(w, level, 4)
		return 0x0800, g.ip4(w, proto, p)
	}
}

func (g *gen) ip4(w *want, proto uint8, p []byte) []byte {
	a, b := g.addr4(), g.addr4()
	w.addrs = append(w.addrs, a, b)
	w.protos = append(w.protos, proto)
	opts := g.r.IntN(3) * 4
	h := make([]byte, 20+opts)
	h[0] = 0x40 | byte(5+opts/4)
	binary.BigEndian.PutUint16(h[2:], uint16(min(len(h)+len(p), 65535)))
	h[8], h[9] = 64, proto
	copy(h[12:], a.AsSlice())
	copy(h[16:], b.AsSlice())
	return cat(h, p)
}

func (g *gen) ip6(w *want, proto uint8, p []byte) []byte {
	a, b := g.addr6(), g.addr6()
	w.addrs = append(w.addrs, a, b)
	w.protos = append(w.protos, proto)
	// Extension headers, innermost first.
	for range g.r.IntN(3) {
		switch g.r.IntN(4) {
		case 0, 1: // hop-by-hop, destination options, routing
			kinds := []uint8{0, 60, 43}
			k := kinds[g.r.IntN(3)]
			n := g.r.IntN(3)
			p = cat([]byte{proto, byte(n)}, g.bytes(6+8*n), p)
			proto = k
		case 2: // a first fragment
			p = cat([]byte{proto, 0, 0, byte(g.r.IntN(2))}, g.bytes(4), p)
			proto = 44
		case 3: // AH
			n := g.r.IntN(3) + 1 // (n+2)*4 bytes: 12, 16, 20
			p = cat([]byte{proto, byte(n)}, g.bytes((n+2)*4-2), p)
			proto = 51
		}
		w.protos = append(w.protos, proto)
	}
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(min(len(p), 65535)))
	h[6], h[7] = proto, 64
	copy(h[8:], a.AsSlice())
	copy(h[24:], b.AsSlice())
	return cat(h, p)
}

// transport is what an IP header at level carries: a protocol and its
// bytes. version is the carrying header's.
func (g *gen) transport(w *want, level, version int) (uint8, []byte) {
	deeper := level < g.maxLevel
	n := 6
	if deeper {
		n = 17
	}
	switch g.r.IntN(n) {
	case 0, 1:
		return g.ports4(w, 6, 20)
	case 2:
		return g.ports4(w, 17, 8)
	case 3:
		return g.ports4(w, 132, 12)
	case 4:
		return g.ports4(w, 136, 8)
	case 5:
		p := uint8(g.r.IntN(256))
		if p == 0 || p == 4 || p == 41 || p == 47 || p == 97 || p == 137 || p == 51 || p == 43 || p == 44 || p == 60 || p == 103 ||
			p == 1 || p == 58 || p == 17 || p == 6 || p == 132 || p == 136 || p == 135 || p == 139 || p == 140 {
			p = 253
		}
		return p, g.bytes(g.r.IntN(30))
	}
	// tunnels, one level down
	var in want
	defer func() { w.add(in) }()
	switch g.r.IntN(12) {
	case 0:
		et, p := g.network(&in, level+1)
		if et == 0x0806 {
			in = want{}
			return 4, g.ip4(&in, 253, nil)
		}
		if et == 0x0800 {
			return 4, p
		}
		return 41, p
	case 1:
		// An ICMP error quoting a packet's header and first 8 bytes.
		sp, dp := g.port(), g.port()
		in.ports = append(in.ports, sp, dp)
		quoted := cat(u16(sp), u16(dp), g.bytes(4))
		if version == 4 {
			types := []byte{3, 4, 5, 11, 12}
			return 1, cat([]byte{types[g.r.IntN(5)], 0}, g.bytes(6), g.ip4(&in, 6, quoted))
		}
		return 58, cat([]byte{byte(1 + g.r.IntN(4)), 0}, g.bytes(6), g.ip6(&in, 17, quoted))
	case 2, 3, 4:
		return 47, g.gre(&in, level+1)
	case 5:
		return 97, cat([]byte{0x30, 0}, g.ether(&in, level+1))
	case 6:
		et, p := g.network(&in, level+1)
		if et == 0x0806 {
			in = want{}
			et, p = 0x0800, g.ip4(&in, 253, nil)
		}
		return 137, cat(u32(uint32(g.r.IntN(1<<20))<<12|0x100), p)
	case 7:
		et, p := g.network(&in, level+1)
		if et == 0x0806 {
			in = want{}
			p = g.ip4(&in, 253, nil)
		}
		return 103, cat([]byte{0x21, 0}, g.bytes(2), []byte{0, 0, 0, 0}, p)
	default:
		return g.udpTunnel(w, &in, level+1)
	}
}

func (g *gen) ports4(w *want, proto uint8, hdr int) (uint8, []byte) {
	sp, dp := g.port(), g.port()
	w.ports = append(w.ports, sp, dp)
	return proto, cat(u16(sp), u16(dp), g.bytes(hdr-4+g.r.IntN(20)))
}

// ether is an Ethernet frame at level.
func (g *gen) ether(w *want, level int) []byte {
	et, p := g.network(w, level)
	et, p = g.l2(et, p)
	return cat(g.bytes(12), u16(et), p)
}

func (g *gen) gre(in *want, level int) []byte {
	flags := uint16(0)
	var opt []byte
	if g.r.IntN(2) == 0 {
		flags |= 0x8000
		opt = append(opt, g.bytes(4)...)
	}
	if g.r.IntN(2) == 0 {
		flags |= 0x2000
		opt = append(opt, g.bytes(4)...)
	}
	seq := g.r.IntN(2) == 0
	if seq {
		flags |= 0x1000
		opt = append(opt, g.bytes(4)...)
	}
	switch g.r.IntN(8) {
	case 0: // Ethernet
		return cat(u16(flags), u16(0x6558), opt, g.ether(in, level))
	case 1: // ERSPAN I or II
		hdr := []byte{}
		if seq {
			hdr = g.bytes(8)
		}
		return cat(u16(flags), u16(0x88be), opt, hdr, g.ether(in, level))
	case 2: // ERSPAN III, maybe with its subheader
		hdr := g.bytes(12)
		hdr[10] &^= 0x7c // frame type 0: Ethernet
		var sub []byte
		if hdr[11]&1 != 0 {
			sub = g.bytes(8)
		}
		return cat(u16(flags), u16(0x22eb), opt, hdr, sub, g.ether(in, level))
	case 3: // PPTP: version 1, key, maybe sequence and acknowledgment
		f := uint16(0x2001)
		o := g.bytes(4)
		if g.r.IntN(2) == 0 {
			f |= 0x1000
			o = append(o, g.bytes(4)...)
		}
		if g.r.IntN(2) == 0 {
			f |= 0x0080
			o = append(o, g.bytes(4)...)
		}
		et, p := g.network(in, level)
		if et == 0x0806 {
			*in = want{}
			et, p = 0x0800, g.ip4(in, 253, nil)
		}
		var ppp []byte
		if g.r.IntN(2) == 0 {
			ppp = []byte{0xff, 0x03}
		}
		proto := []byte{0, 0x21}
		if et == 0x86dd {
			proto = []byte{0, 0x57}
		}
		if g.r.IntN(2) == 0 {
			proto = proto[1:] // compressed
		}
		return cat(u16(f), u16(0x880b), o, ppp, proto, p)
	case 4: // MPLS
		et, p := g.network(in, level)
		if et == 0x0806 {
			*in = want{}
			p = g.ip4(in, 253, nil)
		}
		return cat(u16(flags), u16(0x8847), opt, u32(0x100), p)
	case 5: // Cisco MetaData
		et, p := g.network(in, level)
		return cat(u16(flags), u16(0x8909), opt, u16(et), []byte{1, 1, 0, 1}, g.bytes(2), p)
	default: // IPv4, IPv6, ARP or anything an EtherType names
		et, p := g.network(in, level)
		return cat(u16(flags), u16(et), opt, p)
	}
}

func (g *gen) udpTunnel(w, in *want, level int) (uint8, []byte) {
	var port uint16
	var p []byte
	switch g.r.IntN(6) {
	case 0, 1:
		port, p = 4789, cat([]byte{8, 0, 0, 0}, g.bytes(3), []byte{0}, g.ether(in, level))
	case 2:
		opts := g.r.IntN(4)
		eth := g.ether(in, level)
		p = cat([]byte{byte(opts)}, []byte{0}, u16(0x6558), g.bytes(4), g.bytes(4*opts), eth)
		port = 6081
	case 3: // GTP-U, maybe with a sequence number and an extension header
		et, q := g.network(in, level)
		if et == 0x0806 {
			*in = want{}
			q = g.ip4(in, 253, nil)
		}
		if g.r.IntN(2) == 0 {
			p = cat([]byte{0x30, 0xff}, u16(uint16(len(q))), g.bytes(4), q)
		} else {
			p = cat([]byte{0x36, 0xff}, u16(uint16(len(q)+8)), g.bytes(4), g.bytes(3), []byte{0x85}, []byte{1}, g.bytes(2), []byte{0}, q)
		}
		port = 2152
	case 4: // VXLAN-GPE carrying IPv4, IPv6 or Ethernet
		et, q := g.network(in, level)
		np := byte(1)
		switch {
		case et == 0x86dd:
			np = 2
		case et != 0x0800:
			*in = want{}
			np, q = 3, g.ether(in, level)
		}
		p = cat([]byte{0x0c, 0, 0, np}, g.bytes(4), q)
		port = 4790
	case 5: // NSH over VXLAN-GPE
		et, q := g.network(in, level)
		np := byte(1)
		switch {
		case et == 0x86dd:
			np = 2
		case et != 0x0800:
			*in = want{}
			np, q = 1, g.ip4(in, 253, nil)
		}
		nsh := cat([]byte{0, 6, 1, np}, g.bytes(20))
		p = cat([]byte{0x0c, 0, 0, 4}, g.bytes(4), nsh, q)
		port = 4790
	}
	src, dst := g.port(), port
	if g.r.IntN(4) == 0 {
		src, dst = port, g.port()
	}
	w.ports = append(w.ports, src, dst)
	w.protos = append(w.protos, 17)
	return 17, cat(u16(src), u16(dst), u16(uint16(8+len(p))), g.bytes(2), p)
}
