package records

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
)

// CommunityID returns the Community ID (version 1, seed 0) of a flow's
// endpoints: "1:" and the base64 of the SHA-1 of the seed, the two
// addresses, the protocol, a zero byte and the two ports, the endpoints
// ordered so that both directions give one ID. Ports count for TCP, UDP
// and SCTP; for ICMP and ICMPv6 the type and its counterpart (or the
// code) stand in for them, as in Zeek; other protocols hash the
// addresses only. See https://github.com/corelight/community-id-spec.
//
// No maintained Go module for it is served here (satta/gommunityid is
// refused by the module proxy); tshark's own Community ID is the
// oracle in the tests.
func CommunityID(src, dst netip.Addr, proto uint8, sport, dport uint16, ports bool) string {
	oneWay := false
	switch proto {
	case 1, 58:
		sport, dport, oneWay = icmpPorts(proto, uint8(sport), uint8(dport))
		ports = true
	case 6, 17, 132:
	default:
		ports = false
	}
	if !ports {
		sport, dport = 0, 0
	}
	if !oneWay {
		if c := src.Compare(dst); c > 0 || c == 0 && sport > dport {
			src, dst, sport, dport = dst, src, dport, sport
		}
	}
	var b [2 + 16 + 16 + 2 + 4]byte // seed 0 is the first two bytes
	n := 2
	n += copy(b[n:], src.AsSlice())
	n += copy(b[n:], dst.AsSlice())
	b[n] = proto
	n += 2 // and a zero byte
	if ports {
		binary.BigEndian.PutUint16(b[n:], sport)
		binary.BigEndian.PutUint16(b[n+2:], dport)
		n += 4
	}
	sum := sha1.Sum(b[:n])
	return "1:" + base64.StdEncoding.EncodeToString(sum[:])
}

// icmpPorts maps an ICMP or ICMPv6 type and code to the ports Community
// ID hashes: the type, and the counterpart type of a request or reply
// (then the flow has two directions) or else the code (one way).
func icmpPorts(proto, typ, code uint8) (sport, dport uint16, oneWay bool) {
	pairs := icmp4Pairs
	if proto == 58 {
		pairs = icmp6Pairs
	}
	if c, ok := pairs[typ]; ok {
		return uint16(typ), uint16(c), false
	}
	return uint16(typ), uint16(code), true
}

// The ICMP types with a counterpart, both ways.
var (
	icmp4Pairs = pairsOf(8, 0, 13, 14, 15, 16, 10, 9, 17, 18)
	icmp6Pairs = pairsOf(128, 129, 130, 131, 133, 134, 135, 136, 139, 140, 144, 145)
)

func pairsOf(p ...uint8) map[uint8]uint8 {
	m := map[uint8]uint8{}
	for i := 0; i < len(p); i += 2 {
		m[p[i]], m[p[i+1]] = p[i+1], p[i]
	}
	return m
}
