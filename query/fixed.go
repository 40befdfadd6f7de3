package query

import (
	"cmp"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Fixed is Metron's fixed query (pcap_query fixed: -sa -da -sp -dp -p
// -ir), written out by Expr as the tcpdump expression it means, so that
// package filter (libpcap) matches it and tcpdump can check it. A zero
// field matches anything.
//
// Metron's FixedPcapFilter.test (metron-pcap, filter/fixed) keeps a
// packet when the protocol matches, and then either the forward test
// (every given source and destination address and port equals the
// packet's) or, with include-reverse, the same test with the packet's
// source and destination swapped. Its fields come from
// PcapHelper.packetToFields: the protocol from the IPv4 header, and
// addresses and ports from its TCP and UDP decoders only. Expr keeps
// that:
//
//	protocol p   (ip proto p or ip6 proto p)
//	source A     ip src host A  (ip6 for an IPv6 address)
//	source port  (tcp src port X or udp src port X)  — TCP and UDP only,
//	             as Metron; tcpdump's bare "port" would take SCTP too
//	forward F    the given tests joined by "and"
//	reverse R    F with src and dst swapped
//	query        P and F, or with include-reverse P and ((F) or (R))
//
// Departures from Metron, each on purpose: IPv6 packets match too
// (Metron decodes IPv4 only); an address matches any IP packet, not only
// TCP and UDP ones (Metron's ICMP packets have no address, so -sa never
// finds them); protocols are compared as numbers (Metron compares strings,
// so "06" never matched); port 0 and protocol 0 cannot be asked for
// (write an expression). Metron's decoder reads through one 802.1Q tag:
// the query's MatchVLAN does that (for up to two tags of any of the three
// VLAN types), and the fixed command turns it on.
type Fixed struct {
	SrcAddr, DstAddr netip.Addr // the zero Addr: any
	SrcPort, DstPort uint16     // 0: any
	Protocol         uint8      // IP protocol number; 0: any
	IncludeReverse   bool
}

// Expr is the tcpdump expression for f; "" when f asks nothing (every
// packet, as Metron without header fields).
func (f Fixed) Expr() string {
	var proto string
	if f.Protocol != 0 {
		proto = fmt.Sprintf("(ip proto %d or ip6 proto %d)", f.Protocol, f.Protocol)
	}
	fwd := f.direction("src", "dst")
	test := fwd
	if f.IncludeReverse && fwd != "" {
		test = "((" + fwd + ") or (" + f.direction("dst", "src") + "))"
	}
	switch {
	case proto == "":
		return test
	case test == "":
		return proto
	}
	return proto + " and " + test
}

// direction is the forward test with the packet's source field called
// src and its destination field dst.
func (f Fixed) direction(src, dst string) string {
	var terms []string
	if f.SrcAddr.IsValid() {
		terms = append(terms, hostTerm(src, f.SrcAddr))
	}
	if f.DstAddr.IsValid() {
		terms = append(terms, hostTerm(dst, f.DstAddr))
	}
	if f.SrcPort != 0 {
		terms = append(terms, portTerm(src, f.SrcPort))
	}
	if f.DstPort != 0 {
		terms = append(terms, portTerm(dst, f.DstPort))
	}
	return strings.Join(terms, " and ")
}

func hostTerm(dir string, a netip.Addr) string {
	if a.Is4() {
		return "ip " + dir + " host " + a.String()
	}
	return "ip6 " + dir + " host " + a.String()
}

func portTerm(dir string, p uint16) string {
	return fmt.Sprintf("(tcp %s port %d or udp %s port %d)", dir, p, dir, p)
}

// Validate checks the addresses (no IPv6 zone, which tcpdump cannot
// match).
func (f Fixed) Validate() error {
	for _, a := range []netip.Addr{f.SrcAddr, f.DstAddr} {
		if a.Zone() != "" {
			return fmt.Errorf("%w: address %s: a zone cannot be matched in a capture", ErrSpec, a)
		}
	}
	return nil
}

// FixedFields are Metron's fixed query as its command line gives them
// (pcap_query fixed -sa -da -sp -dp -p -ir): each field as text, ""
// for any.
type FixedFields struct {
	SrcAddr, DstAddr, SrcPort, DstPort, Protocol string
	IncludeReverse                               bool
}

// ParseFixed reads Metron's fields into a Fixed with ParseAddr,
// ParsePort and ParseProtocol. The error, wrapping ErrSpec, is that of
// the first field in FixedFields' order that cannot be read.
func ParseFixed(ff FixedFields) (Fixed, error) {
	f := Fixed{IncludeReverse: ff.IncludeReverse}
	if err := cmp.Or(
		parseField(&f.SrcAddr, ff.SrcAddr, ParseAddr),
		parseField(&f.DstAddr, ff.DstAddr, ParseAddr),
		parseField(&f.SrcPort, ff.SrcPort, ParsePort),
		parseField(&f.DstPort, ff.DstPort, ParsePort),
		parseField(&f.Protocol, ff.Protocol, ParseProtocol),
	); err != nil {
		return Fixed{}, err
	}
	return f, nil
}

// parseField sets *v to parse(s), unless s is "".
func parseField[T any](v *T, s string, parse func(string) (T, error)) error {
	if s == "" {
		return nil
	}
	x, err := parse(s)
	if err != nil {
		return err
	}
	*v = x
	return nil
}

// Matchers are a Spec's Filter and Payload for the fixed query f and
// Metron's packet filter pattern (nil: none). Without tunnels, filter is
// f.Expr(), matched on the outer IP header, and payload is pattern.
// With tunnels, f is tested on every IP header (Tunnels) as part of
// payload, together with pattern (AllOf), and filter is "".
func (f Fixed) Matchers(tunnels bool, pattern PayloadMatcher) (filter string, payload PayloadMatcher) {
	if !tunnels {
		return f.Expr(), pattern
	}
	if pattern == nil {
		return "", Tunnels{Fixed: f}
	}
	return "", AllOf{Tunnels{Fixed: f}, pattern}
}

// protocolNames are the names ParseProtocol takes besides numbers.
var protocolNames = map[string]uint8{
	"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51, "icmp6": 58, "sctp": 132,
}

// ParseProtocol reads an IP protocol: a number from 1 to 255, as Metron's
// -p takes it, or one of the names icmp igmp tcp udp gre esp ah icmp6
// sctp.
func ParseProtocol(s string) (uint8, error) {
	if p, ok := protocolNames[strings.ToLower(s)]; ok {
		return p, nil
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%w: protocol %q: give an IP protocol number from 1 to 255, or icmp, igmp, tcp, udp, gre, esp, ah, icmp6, sctp", ErrSpec, s)
	}
	return uint8(n), nil
}

// ParsePort reads a port from 1 to 65535.
func ParsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%w: port %q: give a number from 1 to 65535", ErrSpec, s)
	}
	return uint16(n), nil
}

// ParseAddr reads an IPv4 or IPv6 address (no zone). An IPv4-mapped IPv6
// address stays IPv6: it matches what the packet's IPv6 header holds.
func ParseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%w: address %q: give an IPv4 or IPv6 address, without a zone", ErrSpec, s)
	}
	return a, nil
}
