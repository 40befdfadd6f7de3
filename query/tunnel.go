package query

import (
	"net/netip"

	"github.com/fastcapa-go/fastcapa/index"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// Tunnels matches a fixed query on every IP header of an Ethernet frame
// — the outer one, those inside VLAN tags, MPLS and PPPoE, and those
// carried by IP in IP, GRE (IP or Ethernet), VXLAN, Geneve, GTP-U and the
// other tunnels index.LayersOf enters — and keeps the frame if any one
// header passes the whole test: protocol, addresses and ports are all
// read from that one header and the transport header directly behind it,
// as Expr reads them from the outer one. It never matches the packets ICMP
// errors quote. On a frame with one IP header it decides as Expr does
// through package filter with MatchVLAN (TestTunnelsAgreeWithExpr); a
// header cut short before its addresses (20 bytes of IPv4, 40 of IPv6)
// is not read, where libpcap would still match the fields that are there.
//
// Use it as Spec.Payload with an empty Spec.Filter. It is safe for
// concurrent use and allocates nothing.
type Tunnels struct{ Fixed }

// Match reports whether any IP header of frame passes the fixed test.
func (m Tunnels) Match(frame []byte) bool {
	if m.Fixed == (Fixed{}) {
		return true // asks nothing: every packet, as Expr's ""
	}
	layers, n := index.LayersOf(pcap.LinkTypeEthernet, frame)
	for _, l := range layers[:n] {
		if m.MatchLayer(l) {
			return true
		}
	}
	return false
}

// MatchLayer is the fixed test on one IP header: the protocol, then the
// forward test or, with IncludeReverse, the swapped one.
func (f Fixed) MatchLayer(l index.Layer) bool {
	if f.Protocol != 0 && l.Proto != f.Protocol {
		return false
	}
	return f.way(l.Src, l.Dst, l.SrcPort, l.DstPort, l) ||
		f.IncludeReverse && f.way(l.Dst, l.Src, l.DstPort, l.SrcPort, l)
}

// way is the forward test, with src and dst the header's addresses and
// ports in the order the test reads them. Ports are TCP's or UDP's only,
// as Expr's "tcp src port X or udp src port X".
func (f Fixed) way(src, dst netip.Addr, sport, dport uint16, l index.Layer) bool {
	ports := l.Ports && (l.Proto == 6 || l.Proto == 17)
	switch {
	case f.SrcAddr.IsValid() && f.SrcAddr != src,
		f.DstAddr.IsValid() && f.DstAddr != dst,
		f.SrcPort != 0 && (!ports || f.SrcPort != sport),
		f.DstPort != 0 && (!ports || f.DstPort != dport):
		return false
	}
	return true
}

// AllOf keeps a frame that every one of its matchers keeps.
type AllOf []PayloadMatcher

// Match reports whether every matcher keeps frame.
func (a AllOf) Match(frame []byte) bool {
	for _, m := range a {
		if !m.Match(frame) {
			return false
		}
	}
	return true
}
