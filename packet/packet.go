package packet

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Summary is what one frame carries, as far as it could be decoded.
type Summary struct {
	VLANs     []uint16 // outer first
	EtherType uint16
	Src, Dst  netip.Addr // zero unless IPv4/IPv6
	Proto     uint8      // IP protocol number, when IP
	SrcPort   uint16     // TCP/UDP/SCTP
	DstPort   uint16
	Truncated bool // a header was cut short
}

// IP protocol numbers used here.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
	ProtoSCTP   = 132
)

// Decode summarises an Ethernet frame.
func Decode(frame []byte) Summary {
	var s Summary
	if len(frame) < 14 {
		s.Truncated = true
		return s
	}
	et := binary.BigEndian.Uint16(frame[12:])
	b := frame[14:]
	for et == 0x8100 || et == 0x88a8 || et == 0x9100 {
		if len(b) < 4 {
			s.Truncated = true
			s.EtherType = et
			return s
		}
		s.VLANs = append(s.VLANs, binary.BigEndian.Uint16(b)&0x0fff)
		et = binary.BigEndian.Uint16(b[2:])
		b = b[4:]
	}
	s.EtherType = et
	switch et {
	case 0x0800:
		if len(b) < 20 || b[0]>>4 != 4 {
			s.Truncated = true
			return s
		}
		ihl := int(b[0]&0x0f) * 4
		s.Src, _ = netip.AddrFromSlice(b[12:16])
		s.Dst, _ = netip.AddrFromSlice(b[16:20])
		s.Proto = b[9]
		fragOff := binary.BigEndian.Uint16(b[6:]) & 0x1fff
		if ihl < 20 || len(b) < ihl {
			s.Truncated = true
			return s
		}
		if fragOff == 0 {
			s.ports(b[ihl:])
		}
	case 0x86dd:
		if len(b) < 40 || b[0]>>4 != 6 {
			s.Truncated = true
			return s
		}
		s.Src, _ = netip.AddrFromSlice(b[8:24])
		s.Dst, _ = netip.AddrFromSlice(b[24:40])
		next, rest := b[6], b[40:]
		// Skip hop-by-hop, routing, destination options and fragment
		// headers to reach the transport.
		for i := 0; i < 8; i++ {
			switch next {
			case 0, 43, 60:
				if len(rest) < 8 {
					s.Truncated = true
					s.Proto = next
					return s
				}
				n := 8 + int(rest[1])*8
				if len(rest) < n {
					s.Truncated = true
					s.Proto = next
					return s
				}
				next, rest = rest[0], rest[n:]
				continue
			case 44:
				if len(rest) < 8 {
					s.Truncated = true
					s.Proto = next
					return s
				}
				first := binary.BigEndian.Uint16(rest[2:])&0xfff8 == 0
				next, rest = rest[0], rest[8:]
				if !first {
					s.Proto = next
					return s
				}
				continue
			}
			break
		}
		s.Proto = next
		s.ports(rest)
	}
	return s
}

func (s *Summary) ports(b []byte) {
	switch s.Proto {
	case ProtoTCP, ProtoUDP, ProtoSCTP:
		if len(b) < 4 {
			s.Truncated = true
			return
		}
		s.SrcPort, s.DstPort = binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
	}
}

// ProtoName names an IP protocol.
func ProtoName(p uint8) string {
	switch p {
	case ProtoICMP:
		return "icmp"
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoICMPv6:
		return "icmp6"
	case ProtoSCTP:
		return "sctp"
	}
	return fmt.Sprintf("ip-proto-%d", p)
}

// String is a one-line summary: "tcp 10.0.0.1:80 > 10.0.0.2:5000".
func (s Summary) String() string {
	var out string
	for _, v := range s.VLANs {
		out += fmt.Sprintf("vlan %d ", v)
	}
	switch {
	case s.Src.IsValid():
		out += ProtoName(s.Proto) + " "
		if s.SrcPort != 0 || s.DstPort != 0 {
			out += fmt.Sprintf("%s > %s", netip.AddrPortFrom(s.Src, s.SrcPort), netip.AddrPortFrom(s.Dst, s.DstPort))
		} else {
			out += fmt.Sprintf("%s > %s", s.Src, s.Dst)
		}
	case s.EtherType == 0x0806:
		out += "arp"
	default:
		out += fmt.Sprintf("ethertype 0x%04x", s.EtherType)
	}
	if s.Truncated {
		out += " [truncated]"
	}
	return out
}
