package index

// Inner finds the innermost packet of an Ethernet frame: what a filter
// with decapsulation (the sink's decap, fastcapa's capture.decap) looks
// at. The rule is dpdk/decap.h's, the capture side's, so that a filter
// means the same packets in both places; the walk is this package's (the
// one pcapstore query -tunnels and the indexes read frames through),
// kept to that rule's ground by the hooks marked "inner" in decode.go:
//
//   - Ethernet, then any number of VLAN tags (0x8100, 0x88a8, 0x9100),
//     an MPLS stack (at most 8 labels, then IPv4 or IPv6 by the first
//     nibble), IPv4 (version 4, its whole header there; a fragment or a
//     first fragment ends the walk) or IPv6 (extension headers 0, 43, 60
//     and a fragment header of an unfragmented packet, at most 8);
//   - IPv4 or IPv6 in IP; GRE version 0 without routing carrying IPv4,
//     IPv6, Ethernet, MPLS or ERSPAN I, II (version 1) and III (version
//     2, Ethernet frames); UDP by its destination port only: VXLAN 4789
//     and 8472, Geneve 6081 (version 0; Ethernet, IPv4 or IPv6), GTP-U
//     2152 (a G-PDU of version 1; its extension headers when E is set;
//     then IPv4 or IPv6);
//   - anything else (ARP, PPPoE, LLC, MACsec, NSH, a pseudowire, another
//     port or protocol) or a header cut short ends the walk where it is.
//
// Each VLAN tag, MPLS stack and tunnel the walk passes is removed (at
// most 8); the innermost packet is the last Ethernet or IP header the
// walk reaches right after a removal, and layers is how many removals
// came before it. So a plain Ethernet frame has none (InnerNone, off 0);
// Ethernet/VLAN/IPv4 has IPv4 at 18, 1 layer; VXLAN/Ethernet/IPv4 the
// inner Ethernet header. It does not allocate.
func Inner(frame []byte) (off int, kind InnerKind, layers int) {
	in := inner{base: cap(frame)}
	h := headers{in: &in, cur: -1, next: -1}
	h.ether(frame, 0)
	return in.off, in.kind, in.at
}

// InnerWalker is Inner for a caller that walks many frames in one
// goroutine: it keeps the walk's state between calls rather than clear
// it for each (Inner's own walk is most of its cost on a plain frame).
// Its zero value is ready; it is not safe for concurrent use.
type InnerWalker struct {
	h  headers
	in inner
}

// Inner is the package's Inner.
func (w *InnerWalker) Inner(frame []byte) (off int, kind InnerKind, layers int) {
	// Only these fields of a walk for Inner are written: the rest of
	// headers (what indexes and Layers record) is left as it is.
	w.in = inner{base: cap(frame)}
	w.h.in, w.h.cur, w.h.next = &w.in, -1, -1
	w.h.ether(frame, 0)
	return w.in.off, w.in.kind, w.in.at
}

// InnerKind says what starts the innermost packet Inner finds.
type InnerKind uint8

// The kinds of innermost packet, numbered as dpdk's enum fc_inner_kind.
const (
	InnerNone     InnerKind = iota // nothing removed: the frame as it is
	InnerEthernet                  // an Ethernet header
	InnerIPv4                      // an IPv4 header
	InnerIPv6                      // an IPv6 header
)

// maxInnerLayers bounds the removals (FC_DECAP_MAX_LAYERS); maxMPLS the
// labels of a stack and maxExt IPv6's extension headers.
const (
	maxInnerLayers = 8
	maxMPLS        = 8
	maxExt         = 8
)

// inner is what a walk for Inner keeps.
type inner struct {
	base    int // cap of the frame: a header at b is at base - cap(b)
	layers  int // removed so far
	removed bool
	stopped bool // the walk left the rule's ground
	off     int  // the innermost packet, as far as the walk went
	kind    InnerKind
	at      int // the removals before it
}

// remove counts a removal (a VLAN tag, an MPLS stack, a tunnel), if
// the bound allows; false ends the walk.
func (in *inner) remove() bool {
	if in.stopped || in.layers >= maxInnerLayers {
		in.stopped = true
		return false
	}
	in.layers++
	in.removed = true
	return true
}

// reach is an Ethernet or IP header at b, whole: the innermost packet if
// it follows a removal. False ends the walk.
func (in *inner) reach(b []byte, kind InnerKind) bool {
	off := in.base - cap(b)
	if in.stopped || off > 0xffff {
		in.stopped = true
		return false
	}
	if in.removed {
		in.off, in.kind, in.at = off, kind, in.layers
	}
	in.removed = false
	return true
}

// innerEthertype says whether the walk for Inner goes on after
// EtherType et.
func innerEthertype(et uint16) bool {
	switch et {
	case 0x0800, 0x86dd, 0x8100, 0x88a8, 0x9100, 0x8847, 0x8848:
		return true
	}
	return false
}

// innerIP4 walks an IPv4 header for Inner.
func (h *headers) innerIP4(b []byte, depth int) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 || len(b) < ihl || !h.in.reach(b, InnerIPv4) || be16(b[6:])&0x3fff != 0 {
		return // cut short, or a fragment: its payload is not walked
	}
	h.transport(b[9], b[ihl:], depth)
}

// innerIP6 walks an IPv6 header and its extension headers for Inner.
func (h *headers) innerIP6(b []byte, depth int) {
	if len(b) < 40 || b[0]>>4 != 6 || !h.in.reach(b, InnerIPv6) {
		return
	}
	next := b[6]
	b = b[40:]
	for range maxExt {
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(b) < 2 || len(b) < (int(b[1])+1)*8 {
				return
			}
			next, b = b[0], b[(int(b[1])+1)*8:]
		case 44: // a fragment header: walked on only in a whole packet
			if len(b) < 8 || be16(b[2:])&0xfff9 != 0 {
				return
			}
			h.transport(b[0], b[8:], depth)
			return
		default:
			h.transport(next, b, depth)
			return
		}
	}
}

// innerTransport walks what follows an IP header of protocol p for
// Inner.
func (h *headers) innerTransport(p uint8, b []byte, depth int) {
	switch p {
	case 4:
		if h.in.remove() {
			h.ip4(b, depth+1)
		}
	case 41:
		if h.in.remove() {
			h.ip6(b, depth+1)
		}
	case 47:
		h.gre(b, depth+1)
	case 17:
		if len(b) < 8 {
			return
		}
		h.innerUDP(be16(b[2:]), b[8:], depth+1)
	}
}

// innerUDP walks a UDP payload by its destination port for Inner.
func (h *headers) innerUDP(dst uint16, b []byte, depth int) {
	switch dst {
	case 4789, 8472: // VXLAN
		if len(b) >= 8 && h.in.remove() {
			h.ether(b[8:], depth)
		}
	case 6081: // Geneve
		if len(b) < 8 || b[0]>>6 != 0 {
			return
		}
		n, pt := 8+int(b[0]&0x3f)*4, be16(b[2:])
		if len(b) < n || (pt != 0x6558 && pt != 0x0800 && pt != 0x86dd) || !h.in.remove() {
			return
		}
		if pt == 0x6558 {
			h.ether(b[n:], depth)
		} else {
			h.ethertype(pt, b[n:], depth)
		}
	case 2152:
		h.gtpu(b, depth)
	}
}

// innerGRE says whether the walk for Inner enters a GRE packet of
// version 0 with flags and protocol proto whose payload is b, and
// counts the removal.
func (in *inner) gre(flags, proto uint16, b []byte) bool {
	switch proto {
	case 0x0800, 0x86dd, 0x6558, 0x8847, 0x8848:
	case 0x88be: // ERSPAN I, or II (version 1) with a sequence number
		if flags&0x1000 != 0 && (len(b) < 8 || b[0]>>4 != 1) {
			return false
		}
	case 0x22eb: // ERSPAN III: version 2
		if len(b) < 12 || b[0]>>4 != 2 {
			return false
		}
	default:
		return false
	}
	return in.remove()
}
