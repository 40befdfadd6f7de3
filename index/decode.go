package index

import (
	"encoding/binary"
	"net/netip"
)

// The layers an index covers. Builder (what a file holds) and
// Constraints.Match (what a packet holds) read a frame through the same
// walk, so an index holds every address, port and protocol Match can
// find in any packet of its file.
//
// A walk starts at the link layer and goes down one encapsulation level
// at a time; a level holds at most one network header (IPv4, IPv6 or
// ARP; an IPv4 EtherType with an IPv6 header behind it, as tshark reads
// it, counts as one) and one transport header. It records:
//
//   - addresses: the source and destination of every IPv4 and IPv6
//     header, and the sender and target protocol addresses of ARP and
//     RARP for IPv4 (tcpdump's "host" matches those too, read at fixed
//     offsets: both readings are recorded);
//   - protocols: the protocol of every IPv4 header and the next header
//     of every IPv6 header and extension header and of IPsec AH;
//   - ports: the source and destination ports of every TCP, UDP,
//     UDP-Lite and SCTP header (of a first fragment or a whole packet).
//
// At one level it passes any number of VLAN tags (0x8100, 0x88a8,
// 0x9100, 0x9200), MPLS labels (IP by its version nibble, or Ethernet
// after a pseudowire control word), a PPPoE session, LLC/SNAP, MACsec
// that is neither encrypted nor modified, Arista's timestamp header,
// Cisco MetaData, NSH, and Ethernet in Ethernet (0x6558). Each of these
// tunnels takes it one level down, to at most maxDepth levels below the
// outermost:
//
//   - IP in IP: IPv4 or IPv6 in IPv4 or IPv6 (protocols 4 and 41);
//   - GRE (47), version 0 with any of checksum, key and sequence number,
//     carrying IPv4, IPv6, Ethernet (0x6558), MPLS, Cisco MetaData, NSH
//     or ERSPAN type I, II or III (of Ethernet frames); version 1 (PPTP)
//     carrying PPP;
//   - EtherIP (97), MPLS in IP (137), a PIM register (103);
//   - VXLAN (UDP port 4789), VXLAN-GPE (4790), Geneve (6081) and GTP-U
//     (2152), on either port, the destination first;
//   - ICMP and ICMPv6 errors: the IP header and first transport bytes of
//     the packet they quote.
//
// The link layers it reads are Ethernet, raw IP (LINKTYPE_RAW, IPV4,
// IPV6), Linux cooked (SLL, SLL2), BSD loopback (NULL, LOOP) and PPP; a
// record of another link type holds nothing an index records.
//
// It never reads past the captured bytes: a header cut short ends the
// walk, after the fields of it that are there (an IPv4 header of 16
// bytes still gives its protocol and source). An IPv4 header whose
// version nibble is not 4 is still read for its addresses and protocol,
// as tcpdump's filters do; an IPv4 header length under 20 bytes ends the
// walk after the ports where that length points (tcpdump's "port" reads
// them there). It does not reassemble fragments, decrypt (ESP, MACsec),
// follow routing headers' addresses, or read the packets that sFlow
// samples or NHRP error indications quote.

// maxDepth is the number of encapsulation levels below the outermost
// that a walk enters.
const maxDepth = 7

// levels is the number of levels a walk reads.
const levels = maxDepth + 1

// Link types (LINKTYPE_ values, as capture files give them).
const (
	linkNull     = 0
	linkEthernet = 1
	linkPPP      = 9
	linkRaw12    = 12 // DLT_RAW on most systems, in old files
	linkRaw14    = 14 // DLT_RAW on OpenBSD
	linkRaw      = 101
	linkLoop     = 108
	linkSLL      = 113
	linkIPv4     = 228
	linkIPv6     = 229
	linkSLL2     = 276
)

// key is an address in its 16-byte form, as two big-endian halves. An
// IPv4 address is IPv4-mapped (::ffff:a.b.c.d), so it and its mapped IPv6
// form are one key.
type key struct{ hi, lo uint64 }

func key4(b []byte) key {
	return key{0, 0xffff<<32 | uint64(binary.BigEndian.Uint32(b))}
}

func key6(b []byte) key {
	return key{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])}
}

// is4 reports whether k is an IPv4 address.
func (k key) is4() bool { return k.hi == 0 && k.lo>>32 == 0xffff }

// headers is what one walk found. A level adds at most four addresses
// (an IPv4 header with an IPv6 header behind it, or ARP read both ways)
// and two ports, so the arrays never fill; the checks only keep a bug
// from becoming a panic.
type headers struct {
	addrs   [4 * levels]key
	nAddrs  int
	ports   [2 * levels]uint16
	nPorts  int
	protos  [4]uint64 // bit p: IP protocol p
	dropped bool      // an array was full: a bug (the tests check it)

	// layers, when wantLayers (LayersOf), gets each whole IP header the
	// walk passes, but not those quoted by ICMP errors (quote > 0); cur
	// is the one whose transport header comes next, or -1.
	layers     [MaxLayers]Layer
	nLayers    int
	wantLayers bool
	cur        int
	quote      int
	// next is the Layer whose Transport comes next, or -1; vlans
	// are the tags before the outer IP header (Frame.VLANs).
	next   int
	vlans  [2]uint16
	nVLANs int

	// in, for Inner, keeps the walk to dpdk/decap.h's ground and finds
	// the innermost packet (inner.go); nil otherwise.
	in *inner
}

// Layer is one IP header of a packet, as Layers finds it.
type Layer struct {
	Src, Dst netip.Addr
	// Proto is the header's own protocol field: IPv4's protocol, IPv6's
	// next header (an extension header's number when one follows, as
	// tcpdump's "ip6 proto" reads it).
	Proto uint8
	// Ports says SrcPort and DstPort were read: Proto is TCP, UDP,
	// UDP-Lite or SCTP, its header directly behind the IP header, in a
	// whole packet or first fragment.
	Ports            bool
	SrcPort, DstPort uint16

	// What package records keeps of the header: its version (4 or 6),
	// TTL or hop limit, length (IPv4's total length, IPv6's payload
	// length plus 40: as the header says, 0 under TCP segmentation
	// offload), IPv4's three flag bits (reserved, DF, MF; for IPv6 the
	// fragment header's M flag), and the fragment offset in 8-byte
	// units (IPv4's, or the fragment header's).
	Version, TTL uint8
	Length       uint16
	Flags        uint8
	FragOffset   uint16
	// Transport is the header behind the IP header and its extension
	// headers.
	Transport Transport
}

// Transport is the header an IP header carries, past IPv6's extension
// headers, as LayersOf reads it: its protocol always; its ports, TCP's
// sequence, acknowledgement and flags, or ICMP's type and code when
// the header is there whole (a first fragment or a whole packet).
type Transport struct {
	// Proto is the upper-layer protocol: IPv4's protocol field, the
	// last next header of IPv6's chain (the fragment header's on a
	// fragment).
	Proto uint8
	// Ports: SrcPort and DstPort are TCP's, UDP's, UDP-Lite's or
	// SCTP's.
	Ports            bool
	SrcPort, DstPort uint16
	// TCP: Seq, Ack and Flags (the 12 bits after the data offset: 3
	// reserved, then NS CWR ECE URG ACK PSH RST SYN FIN, FIN lowest, as
	// tshark's tcp.flags) were read from a 14-byte TCP header.
	TCP      bool
	Seq, Ack uint32
	TCPFlags uint16
	// ICMP: Type and Code are ICMP's or ICMPv6's.
	ICMP       bool
	Type, Code uint8
}

// Frame is what one walk of a record found for package records: its IP
// headers (as LayersOf) and the outermost VLAN tags of its link layer.
type Frame struct {
	Layers [MaxLayers]Layer
	N      int
	// VLANs holds the IDs of the first two VLAN tags before the outer
	// IP header, outer first (802.1ad's service tag, then the customer
	// tag), in VLANs[:NVLANs].
	VLANs  [2]uint16
	NVLANs int
}

// MaxLayers bounds the IP headers of one packet LayersOf reports: one a
// level.
const MaxLayers = levels

// LayersOf returns the IP headers of a record of linkType (a LINKTYPE_
// value: 1 for Ethernet), outermost first, in layers[:n]: the outer
// header, then those inside VLAN tags, MPLS and PPPoE and every tunnel
// the walk enters (IP in IP, GRE, VXLAN, Geneve, GTP-U, ...; see the list
// above), never the packets ICMP errors quote. An IPv4 header needs its
// 20 bytes, an IPv6 header its 40. It does not allocate.
func LayersOf(linkType uint32, frame []byte) (layers [MaxLayers]Layer, n int) {
	h := headers{wantLayers: true, cur: -1, next: -1}
	h.link(linkType, frame)
	return h.layers, h.nLayers
}

// Decode is LayersOf with the frame's outer VLAN tags: the one walk
// package records reads packets through.
func Decode(linkType uint32, frame []byte) Frame {
	h := headers{wantLayers: true, cur: -1, next: -1}
	h.link(linkType, frame)
	return Frame{Layers: h.layers, N: h.nLayers, VLANs: h.vlans, NVLANs: h.nVLANs}
}

// layer starts a Layer at an IP header: the walk's next transport
// header is its.
func (h *headers) layer(src, dst netip.Addr, proto uint8) {
	if !h.wantLayers || h.quote > 0 || h.nLayers == len(h.layers) {
		h.cur = -1
		return
	}
	h.layers[h.nLayers] = Layer{Src: src, Dst: dst, Proto: proto}
	h.cur = h.nLayers
	h.next = h.nLayers
	h.nLayers++
}

// current returns the Layer the walk is in, whose Transport comes next,
// or nil.
func (h *headers) current() *Layer {
	if !h.wantLayers || h.quote > 0 || h.next < 0 || h.next >= h.nLayers {
		return nil
	}
	return &h.layers[h.next]
}

// layerTransport gives the current Layer its Transport: protocol p,
// whose header starts b.
func (h *headers) layerTransport(p uint8, b []byte) {
	l := h.current()
	if l == nil {
		return
	}
	t := &l.Transport
	t.Proto = p
	if p == 51 {
		return // IPv4's AH: the header behind it is the layer's
	}
	h.next = -1
	switch p {
	case 6, 17, 132, 136:
		if len(b) >= 4 {
			t.Ports, t.SrcPort, t.DstPort = true, be16(b), be16(b[2:])
		}
		if p == 6 && len(b) >= 14 {
			t.TCP = true
			t.Seq, t.Ack = binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:])
			t.TCPFlags = be16(b[12:]) & 0x0fff
		}
	case 1, 58:
		if len(b) >= 2 {
			t.ICMP, t.Type, t.Code = true, b[0], b[1]
		}
	}
}

// layerPorts gives the current Layer its ports, if its protocol is p:
// the transport header is directly behind the IP header.
func (h *headers) layerPorts(p uint8, b []byte) {
	if h.cur < 0 || len(b) < 4 || h.layers[h.cur].Proto != p {
		return
	}
	l := &h.layers[h.cur]
	l.Ports, l.SrcPort, l.DstPort = true, be16(b), be16(b[2:])
	h.cur = -1
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

func (h *headers) reset() {
	h.nAddrs, h.nPorts, h.dropped = 0, 0, false
	h.protos = [4]uint64{}
}

func (h *headers) addr(k key) {
	if h.nAddrs == len(h.addrs) {
		h.dropped = true
		return
	}
	h.addrs[h.nAddrs] = k
	h.nAddrs++
}

func (h *headers) proto(p uint8) { h.protos[p>>6] |= 1 << (p & 63) }

func (h *headers) portPair(b []byte) {
	if len(b) < 4 {
		return
	}
	if h.nPorts+2 > len(h.ports) {
		h.dropped = true
		return
	}
	h.ports[h.nPorts] = be16(b)
	h.ports[h.nPorts+1] = be16(b[2:])
	h.nPorts += 2
}

// link walks a record of linkType.
func (h *headers) link(linkType uint32, b []byte) {
	switch linkType {
	case linkEthernet:
		h.ether(b, 0)
	case linkRaw, linkRaw12, linkRaw14:
		h.ipByVersion(b, 0)
	case linkIPv4:
		h.ip4(b, 0)
	case linkIPv6:
		h.ip6(b, 0)
	case linkSLL:
		if len(b) >= 16 {
			h.ethertype(be16(b[14:]), b[16:], 0)
		}
	case linkSLL2:
		if len(b) >= 20 {
			h.ethertype(be16(b), b[20:], 0)
		}
	case linkNull, linkLoop:
		if len(b) < 4 {
			return
		}
		// NULL is in the writer's byte order, LOOP in network order:
		// the family is small, so whichever order gives a small value.
		fam := binary.BigEndian.Uint32(b)
		if fam > 0xffff {
			fam = binary.LittleEndian.Uint32(b)
		}
		switch fam {
		case 2: // AF_INET
			h.ip4(b[4:], 0)
		case 10, 24, 28, 30: // AF_INET6: Linux, NetBSD/OpenBSD, FreeBSD, Darwin
			h.ip6(b[4:], 0)
		}
	case linkPPP:
		h.ppp(b, 0)
	}
}

// ether walks an Ethernet frame.
func (h *headers) ether(b []byte, depth int) {
	if len(b) < 14 || (h.in != nil && !h.in.reach(b, InnerEthernet)) {
		return
	}
	h.ethertype(be16(b[12:]), b[14:], depth)
}

// ethertype walks b, which follows EtherType et.
func (h *headers) ethertype(et uint16, b []byte, depth int) {
	for {
		if h.in != nil && !innerEthertype(et) {
			return // inner: not its ground
		}
		switch et {
		case 0x0800:
			h.ip4(b, depth)
		case 0x86dd:
			h.ip6(b, depth)
		case 0x8100, 0x88a8, 0x9100, 0x9200: // VLAN tags
			if len(b) < 4 || (h.in != nil && !h.in.remove()) {
				return
			}
			if h.wantLayers && depth == 0 && h.nLayers == 0 && h.nVLANs < len(h.vlans) {
				h.vlans[h.nVLANs] = be16(b) & 0x0fff
				h.nVLANs++
			}
			et, b = be16(b[2:]), b[4:]
			continue
		case 0x0806, 0x8035:
			h.arp(b)
		case 0x8847, 0x8848:
			if b = h.mpls(b, depth); len(b) >= 14 {
				et, b = be16(b[12:]), b[14:]
				continue
			}
		case 0x8864: // PPPoE session
			if len(b) >= 6 {
				h.ppp(b[6:], depth)
			}
		case 0x6558: // transparent Ethernet bridging
			if len(b) >= 14 {
				et, b = be16(b[12:]), b[14:]
				continue
			}
		case 0x88e5: // MACsec, if neither encrypted nor changed
			if len(b) < 6 || b[0]&0x0c != 0 {
				return
			}
			n := 6
			if b[0]&0x20 != 0 { // SCI present
				n += 8
			}
			if len(b) < n+2 {
				return
			}
			et, b = be16(b[n:]), b[n+2:]
			continue
		case 0xd28b: // Arista timestamp: 64-bit or 48-bit
			if len(b) < 4 || be16(b) != 1 {
				return
			}
			n := 0
			switch be16(b[2:]) {
			case 0x0010, 0x0110:
				n = 12
			case 0x0020, 0x0120:
				n = 10
			default:
				return
			}
			if len(b) < n+2 {
				return
			}
			et, b = be16(b[n:]), b[n+2:]
			continue
		case 0x8909: // Cisco MetaData
			if len(b) < 8 {
				return
			}
			et, b = be16(b[6:]), b[8:]
			continue
		case 0x894f:
			if b = h.nsh(b, depth); len(b) >= 14 {
				et, b = be16(b[12:]), b[14:]
				continue
			}
		default:
			// An 802.3 length, then LLC/SNAP with an EtherType.
			if et <= 1500 && len(b) >= 8 && b[0] == 0xaa && b[1] == 0xaa && b[2] == 0x03 &&
				b[3] == 0 && b[4] == 0 && (b[5] == 0 || b[5] == 0xf8) {
				et, b = be16(b[6:]), b[8:]
				continue
			}
		}
		return
	}
}

// ipByVersion walks an IPv4 or IPv6 header, by its version nibble.
func (h *headers) ipByVersion(b []byte, depth int) {
	if len(b) == 0 {
		return
	}
	switch b[0] >> 4 {
	case 4:
		h.ip4(b, depth)
	case 6:
		h.ip6(b, depth)
	}
}

func (h *headers) ip4(b []byte, depth int) {
	if h.in != nil {
		h.innerIP4(b, depth)
		return
	}
	// What a header cut short still holds: tcpdump's filters and tshark
	// read each field that is there.
	if len(b) >= 10 {
		h.proto(b[9])
	}
	if len(b) >= 16 {
		h.addr(key4(b[12:]))
	}
	if len(b) < 20 {
		return
	}
	h.addr(key4(b[16:]))
	if b[0]>>4 == 6 {
		// tshark reads an IPv6 header behind an IPv4 EtherType.
		h.ip6(b, depth)
		return
	}
	h.layer(netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20])), b[9])
	if l := h.current(); l != nil {
		l.Version, l.TTL, l.Length = 4, b[8], be16(b[2:])
		l.Flags, l.FragOffset = b[6]>>5, be16(b[6:])&0x1fff
		l.Transport.Proto = b[9]
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 {
		// tcpdump's "port" still reads ports where the header length
		// points: so does the walk, and goes no further.
		if be16(b[6:])&0x1fff == 0 {
			switch b[9] {
			case 6, 17, 132:
				h.portPair(b[ihl:])
				h.layerPorts(b[9], b[ihl:])
			}
		}
		return
	}
	if len(b) < ihl {
		return
	}
	// Trim the link layer's padding; a total length under the header's
	// (0 from TCP segmentation offload) or past the captured bytes says
	// nothing.
	if n := int(be16(b[2:])); n >= ihl && n < len(b) {
		b = b[:n]
	}
	if be16(b[6:])&0x1fff != 0 {
		return // not a first fragment: no transport header
	}
	h.transport(b[9], b[ihl:], depth)
}

func (h *headers) ip6(b []byte, depth int) {
	if h.in != nil {
		h.innerIP6(b, depth)
		return
	}
	if len(b) >= 7 {
		h.proto(b[6])
	}
	if len(b) >= 24 {
		h.addr(key6(b[8:]))
	}
	if len(b) < 40 {
		return
	}
	h.addr(key6(b[24:]))
	h.layer(netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40])), b[6])
	l := h.current()
	if l != nil {
		l.Version, l.TTL, l.Transport.Proto = 6, b[7], b[6]
		if n := be16(b[4:]); n != 0 {
			l.Length = n + 40
		}
	}
	if n := int(be16(b[4:])); n != 0 && n < len(b)-40 {
		b = b[:40+n]
	}
	next := b[6]
	b = b[40:]
	for range 8 {
		h.proto(next)
		n := 0
		switch next {
		case 0, 43, 60, 135, 139, 140: // hop-by-hop, routing, destination options, mobility, HIP, shim6
			if len(b) < 8 {
				return
			}
			n = 8 + int(b[1])*8
		case 51: // AH
			if len(b) < 8 {
				return
			}
			n = (int(b[1]) + 2) * 4
		case 44: // fragment
			if len(b) < 8 {
				return
			}
			if l != nil {
				l.Flags, l.FragOffset, l.Transport.Proto = b[3]&1, be16(b[2:])>>3, b[0]
			}
			if be16(b[2:])&0xfff8 != 0 {
				h.proto(b[0])
				return // not a first fragment
			}
			n = 8
		default:
			h.transport(next, b, depth)
			return
		}
		if len(b) < n {
			return
		}
		next, b = b[0], b[n:]
		if l != nil {
			l.Transport.Proto = next
		}
	}
	h.proto(next)
}

// transport walks what follows an IP header of protocol p.
func (h *headers) transport(p uint8, b []byte, depth int) {
	if h.in != nil {
		h.innerTransport(p, b, depth)
		return
	}
	h.layerTransport(p, b)
	switch p {
	case 6, 132, 136: // TCP, SCTP, UDP-Lite
		h.portPair(b)
		h.layerPorts(p, b)
	case 17:
		h.portPair(b)
		h.layerPorts(p, b)
		if len(b) >= 8 && depth < maxDepth {
			h.udpTunnel(be16(b), be16(b[2:]), b[8:], depth+1)
		}
	case 51: // AH in IPv4
		if len(b) >= 8 && depth < maxDepth {
			if n := (int(b[1]) + 2) * 4; len(b) >= n {
				h.proto(b[0])
				h.transport(b[0], b[n:], depth+1)
			}
		}
	}
	if depth >= maxDepth {
		return
	}
	switch p {
	case 1: // ICMP errors quote an IPv4 header
		if len(b) >= 8 {
			switch b[0] {
			case 3, 4, 5, 11, 12:
				h.quote++
				h.ip4(b[8:], depth+1)
				h.quote--
			}
		}
	case 58: // ICMPv6 errors quote an IPv6 header
		if len(b) >= 8 && b[0] >= 1 && b[0] <= 4 {
			h.quote++
			h.ip6(b[8:], depth+1)
			h.quote--
		}
	case 4:
		h.ip4(b, depth+1)
	case 41:
		h.ip6(b, depth+1)
	case 47:
		h.gre(b, depth+1)
	case 97: // EtherIP
		if len(b) >= 2 {
			h.ether(b[2:], depth+1)
		}
	case 137:
		h.ether(h.mpls(b, depth+1), depth+1)
	case 103: // PIM register: the packet it carries
		if len(b) >= 8 && b[0] == 0x21 {
			h.ipByVersion(b[8:], depth+1)
		}
	}
}

// nsh walks a Network Service Header and the IP packet it carries, or
// returns the Ethernet frame it carries.
func (h *headers) nsh(b []byte, depth int) (ether []byte) {
	if len(b) < 8 {
		return nil
	}
	n := int(b[1]&0x3f) * 4
	if n < 8 || len(b) < n {
		return nil
	}
	switch b[3] {
	case 1:
		h.ip4(b[n:], depth)
	case 2:
		h.ip6(b[n:], depth)
	case 3:
		return b[n:]
	case 5:
		return h.mpls(b[n:], depth)
	}
	return nil
}

// udpTunnel walks a UDP payload b that a well-known tunnel port says is
// encapsulated traffic: the destination port first, then the source.
func (h *headers) udpTunnel(src, dst uint16, b []byte, depth int) {
	port, _ := TunnelPort(src, dst)
	if len(b) < 8 {
		return
	}
	switch port {
	case 4789: // VXLAN
		h.ether(b[8:], depth)
	case 4790: // VXLAN-GPE: next protocol if the P flag is set, else Ethernet
		np := byte(3)
		if b[0]&0x04 != 0 {
			np = b[3]
		}
		switch np {
		case 1:
			h.ip4(b[8:], depth)
		case 2:
			h.ip6(b[8:], depth)
		case 3:
			h.ether(b[8:], depth)
		case 4:
			h.ether(h.nsh(b[8:], depth), depth)
		}
	case 6081: // Geneve: an EtherType, 0x6558 for Ethernet
		if n := 8 + int(b[0]&0x3f)*4; len(b) >= n {
			h.ethertype(be16(b[2:]), b[n:], depth)
		}
	case 2152:
		h.gtpu(b, depth)
	}
}

func tunnelPort(p uint16) bool {
	return p == 4789 || p == 4790 || p == 6081 || p == 2152
}

// TunnelPort returns the UDP port by which the walk enters a datagram
// from src to dst as a tunnel (VXLAN 4789, VXLAN-GPE 4790, Geneve 6081,
// GTP-U 2152): the destination if it is one, else the source; ok is
// false if neither is.
func TunnelPort(src, dst uint16) (port uint16, ok bool) {
	switch {
	case tunnelPort(dst):
		return dst, true
	case tunnelPort(src):
		return src, true
	}
	return 0, false
}

// gtpu walks a GTP-U G-PDU.
func (h *headers) gtpu(b []byte, depth int) {
	if len(b) < 8 || b[0]>>5 != 1 || b[0]&0x10 == 0 || b[1] != 0xff {
		return
	}
	n := 8
	if b[0]&0x07 != 0 {
		if len(b) < 12 {
			return
		}
		next := b[11]
		if h.in != nil && b[0]&0x04 == 0 {
			next = 0 // inner: extension headers only with E
		}
		n = 12
		for i := 0; next != 0; i++ {
			if i == 8 || len(b) <= n {
				return
			}
			l := int(b[n]) * 4
			if l == 0 || len(b) < n+l {
				return
			}
			next = b[n+l-1]
			n += l
		}
	}
	if h.in != nil && !h.in.remove() {
		return
	}
	h.ipByVersion(b[n:], depth)
}

// gre walks a GRE header and what it carries.
func (h *headers) gre(b []byte, depth int) {
	if len(b) < 4 {
		return
	}
	flags, proto := be16(b), be16(b[2:])
	n := 4
	switch flags & 7 {
	case 0:
		if flags&0x4000 != 0 {
			return // RFC 1701 source routing: not read
		}
		if flags&0x8000 != 0 { // checksum
			n += 4
		}
		if flags&0x2000 != 0 { // key
			n += 4
		}
		if flags&0x1000 != 0 { // sequence number
			n += 4
		}
	case 1: // PPTP: key (payload length, call ID), sequence, acknowledgment
		if h.in != nil {
			return // inner: version 0 only
		}
		n += 4
		if flags&0x1000 != 0 {
			n += 4
		}
		if flags&0x0080 != 0 {
			n += 4
		}
	default:
		return
	}
	if len(b) < n {
		return
	}
	b = b[n:]
	if h.in != nil && !h.in.gre(flags, proto, b) {
		return
	}
	switch proto {
	case 0x88be: // ERSPAN type II (with a sequence number) or I (without)
		if flags&0x1000 != 0 {
			if len(b) < 8 {
				return
			}
			b = b[8:]
		}
		h.ether(b, depth)
	case 0x22eb: // ERSPAN type III, maybe with its platform subheader
		if len(b) < 12 || (b[10]>>2)&0x1f != 0 {
			return // short, or a frame type other than Ethernet
		}
		n := 12
		if b[11]&1 != 0 {
			n += 8
		}
		if len(b) >= n {
			h.ether(b[n:], depth)
		}
	case 0x880b:
		h.ppp(b, depth)
	case 0x8909: // Cisco MetaData, its EtherType first in GRE
		if len(b) >= 8 {
			h.ethertype(be16(b), b[8:], depth)
		}
	case 0x6558:
		h.ether(b, depth)
	default:
		h.ethertype(proto, b, depth)
	}
}

// ppp walks a PPP frame: address and control optional, protocol field
// compressed or not.
func (h *headers) ppp(b []byte, depth int) {
	if len(b) >= 2 && b[0] == 0xff && b[1] == 0x03 {
		b = b[2:]
	}
	if len(b) == 0 {
		return
	}
	var p uint16
	if b[0]&1 != 0 {
		p, b = uint16(b[0]), b[1:]
	} else {
		if len(b) < 2 {
			return
		}
		p, b = be16(b), b[2:]
	}
	switch p {
	case 0x0021:
		h.ip4(b, depth)
	case 0x0057:
		h.ip6(b, depth)
	case 0x0281, 0x0283:
		h.ether(h.mpls(b, depth), depth)
	}
}

// mpls walks a label stack and the IP packet at its bottom, or returns
// the Ethernet frame there (after a pseudowire control word).
func (h *headers) mpls(b []byte, depth int) (ether []byte) {
	for i := 0; ; i++ {
		if len(b) < 4 || (h.in != nil && i == maxMPLS) {
			return nil
		}
		bottom := b[2]&1 != 0
		b = b[4:]
		if bottom {
			break
		}
	}
	if len(b) == 0 || (h.in != nil && (!h.in.remove() || b[0]>>4 == 0)) {
		return nil // inner: no pseudowire
	}
	switch b[0] >> 4 {
	case 4:
		h.ip4(b, depth)
	case 6:
		h.ip6(b, depth)
	case 0: // Ethernet pseudowire control word
		if len(b) >= 4 {
			return b[4:]
		}
	}
	return nil
}

// arp records the IPv4 addresses of an ARP or RARP packet: where its
// header says they are, and where tcpdump's "host" reads them (as if
// the hardware addresses were 6 bytes and the protocol IPv4, whatever
// the header says).
func (h *headers) arp(b []byte) {
	if len(b) >= 18 {
		h.addr(key4(b[14:]))
	}
	if len(b) >= 28 {
		h.addr(key4(b[24:]))
	}
	if len(b) < 8 || be16(b[2:]) != 0x0800 || b[5] != 4 || b[4] == 6 {
		return
	}
	hl := int(b[4])
	if spa := 8 + hl; len(b) >= spa+4 {
		h.addr(key4(b[spa:]))
	}
	if tpa := 8 + 2*hl + 4; len(b) >= tpa+4 {
		h.addr(key4(b[tpa:]))
	}
}
