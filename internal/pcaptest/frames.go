package pcaptest

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// Frames crafted for what the shared captures lack (QinQ, MPLS, IP in
// IP, GTP-U, Geneve carrying IP, GRE variants), built field by field,
// for the tests of the innermost-packet rule (dpdk/decap.h's fc_parse and
// index.Inner) against tshark; and the builders other tests craft
// frames with. Addresses: MACA, MACB, IP4A/B (10.0.0.1, .2), IP6A/B.

var (
	MACA = []byte{0x02, 0, 0, 0, 0, 0xa}
	MACB = []byte{0x02, 0, 0, 0, 0, 0xb}
	IP4A = []byte{10, 0, 0, 1}
	IP4B = []byte{10, 0, 0, 2}
	IP6A = append(bytes.Repeat([]byte{0x20, 0x01, 0x0d, 0xb8}, 3), 0, 0, 0, 1)
	IP6B = append(bytes.Repeat([]byte{0x20, 0x01, 0x0d, 0xb8}, 3), 0, 0, 0, 2)
)

// Cat joins byte strings.
func Cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// BE16 is v, big-endian.
func BE16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// Eth is an Ethernet header from MACA to MACB with EtherType etype.
func Eth(etype uint16) []byte { return Cat(MACB, MACA, BE16(etype)) }

// Tag is a VLAN tag (VLAN 100) followed by EtherType etype.
func Tag(etype uint16) []byte { return Cat(BE16(100), BE16(etype)) }

// MPLS is one label entry, the bottom of the stack if bottom.
func MPLS(bottom bool) []byte {
	b := []byte{0, 0x10, 0, 64}
	if bottom {
		b[2] |= 1
	}
	return b
}

// IPv6 is an IPv6 header (hop limit 64) with next header nh before payload.
func IPv6(nh byte, src, dst []byte, payload []byte) []byte {
	h := []byte{0x60, 0, 0, 0, 0, 0, nh, 64}
	binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
	return Cat(h, src, dst, payload)
}

// UDP is a UDP header (no checksum) before payload.
func UDP(sp, dp uint16, payload []byte) []byte {
	return Cat(BE16(sp), BE16(dp), BE16(uint16(8+len(payload))), BE16(0), payload)
}

// TCP is a 20-byte TCP header with ACK set.
func TCP(sp, dp uint16) []byte {
	return Cat(BE16(sp), BE16(dp), make([]byte, 8), []byte{0x50, 0x10}, BE16(1024), BE16(0), BE16(0))
}

// GRE is a GRE header with flags and protocol, then extra zero bytes (checksum, key, sequence).
func GRE(flags, proto uint16, extra int) []byte {
	return Cat(BE16(flags), BE16(proto), make([]byte, extra))
}

// GTPU is a GTP-U G-PDU header with flags (TEID 7), optional fields opt, before payload.
func GTPU(flags byte, opt []byte, payload []byte) []byte {
	h := []byte{flags, 255}
	return Cat(h, BE16(uint16(len(opt)+len(payload))), []byte{0, 0, 0, 7}, opt, payload)
}

// VXLAN is a VXLAN header, VNI 42.
func VXLAN() []byte { return []byte{0x08, 0, 0, 0, 0, 0, 42, 0} }

// Geneve is a Geneve header with protocol proto and opts bytes of options (VNI 42).
func Geneve(proto uint16, opts int) []byte {
	return Cat([]byte{byte(opts / 4), 0}, BE16(proto), []byte{0, 0, 42, 0}, make([]byte, opts))
}

// DecapFrames are the frames of crafted.pcap: both directions of each
// inner conversation, so the hash test sees them.
func DecapFrames() [][]byte {
	var out [][]byte
	both := func(f func(a, b []byte, a6, b6 []byte, sp, dp uint16) []byte) {
		out = append(out, f(IP4A, IP4B, IP6A, IP6B, 40000, 80), f(IP4B, IP4A, IP6B, IP6A, 80, 40000))
	}
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // QinQ 88a8/8100
		return Cat(Eth(0x88a8), Tag(0x8100), Tag(0x0800), IPv4(6, a, b, TCP(sp, dp), 0))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // 9100/8100, IPv6
		return Cat(Eth(0x9100), Tag(0x8100), Tag(0x86DD), IPv6(17, a6, b6, UDP(sp, dp, []byte("hello"))))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // MPLS x2
		return Cat(Eth(0x8847), MPLS(false), MPLS(true), IPv4(17, a, b, UDP(sp, dp, []byte("x")), 0))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // MPLS, IPv6
		return Cat(Eth(0x8847), MPLS(true), IPv6(6, a6, b6, TCP(sp, dp)))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // IPv4 in IPv4
		return Cat(Eth(0x0800), IPv4(4, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2}, IPv4(6, a, b, TCP(sp, dp), 0), 0))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // IPv6 in IPv4
		return Cat(Eth(0x0800), IPv4(41, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2}, IPv6(17, a6, b6, UDP(sp, dp, nil)), 0))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // GRE K S, IPv4
		return Cat(Eth(0x0800), IPv4(47, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2},
			Cat(GRE(0x3000, 0x0800, 8), IPv4(6, a, b, TCP(sp, dp), 0)), 0))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // GRE C, MPLS, IPv4
		return Cat(Eth(0x0800), IPv4(47, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2},
			Cat(GRE(0x8000, 0x8847, 4), MPLS(true), IPv4(17, a, b, UDP(sp, dp, []byte("y")), 0)), 0))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // GRE TEB, Ethernet, VLAN, IPv4
		return Cat(Eth(0x0800), IPv4(47, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2},
			Cat(GRE(0x2000, 0x6558, 4), Eth(0x8100), Tag(0x0800), IPv4(6, a, b, TCP(sp, dp), 0)), 0))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // GTP-U, IPv4
		return Cat(Eth(0x0800), IPv4(17, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2},
			UDP(2152, 2152, GTPU(0x30, nil, IPv4(6, a, b, TCP(sp, dp), 0))), 0))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // GTP-U S, IPv6
		return Cat(Eth(0x0800), IPv4(17, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2},
			UDP(2152, 2152, GTPU(0x32, []byte{0, 9, 0, 0}, IPv6(17, a6, b6, UDP(sp, dp, nil)))), 0))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // GTP-U E, PDU session container, IPv4
		return Cat(Eth(0x86DD), IPv6(17, IP6B, IP6A,
			UDP(2152, 2152, GTPU(0x34, []byte{0, 0, 0, 0x85, 1, 0x10, 5, 0}, IPv4(17, a, b, UDP(sp, dp, nil), 0)))))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // Geneve options, Ethernet
		return Cat(Eth(0x0800), IPv4(17, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2},
			UDP(50000, 6081, Cat(Geneve(0x6558, 8), Eth(0x0800), IPv4(6, a, b, TCP(sp, dp), 0))), 0))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // Geneve, IPv6
		return Cat(Eth(0x0800), IPv4(17, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2},
			UDP(50000, 6081, Cat(Geneve(0x86DD, 0), IPv6(6, a6, b6, TCP(sp, dp)))), 0))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // IPv6 hop-by-hop, destination, VXLAN
		ext := Cat([]byte{60, 0}, make([]byte, 6), []byte{17, 0}, make([]byte, 6))
		return Cat(Eth(0x86DD), IPv6(0, IP6B, IP6A, Cat(ext, UDP(sp, 4789, Cat(VXLAN(), Eth(0x0800),
			IPv4(6, a, b, TCP(sp, dp), 0))))))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // IPv4 first fragment: ports
		return Cat(Eth(0x0800), IPv4(17, a, b, UDP(sp, dp, make([]byte, 16)), 0x2000))
	})
	both(func(a, b, a6, b6 []byte, sp, dp uint16) []byte { // IPv4 in a first fragment: not decoded
		return Cat(Eth(0x0800), IPv4(4, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2}, IPv4(6, a, b, TCP(sp, dp), 0), 0x2000))
	})
	out = append(out,
		// A later fragment: no L4.
		Cat(Eth(0x0800), IPv4(17, IP4A, IP4B, make([]byte, 16), 0x0003)),
		// VXLAN cut inside the inner Ethernet header.
		Cat(Eth(0x0800), IPv4(17, IP4A, IP4B, UDP(1000, 4789, Cat(VXLAN(), MACB)), 0)),
		// VLAN, ARP: nothing removed that reaches IP.
		Cat(Eth(0x8100), Tag(0x0806), make([]byte, 28)),
		// GRE version 1 (PPTP): not decoded.
		Cat(Eth(0x0800), IPv4(47, IP4A, IP4B, Cat(GRE(0x2001, 0x880b, 4), make([]byte, 8)), 0)),
		// MPLS whose payload is not IP.
		Cat(Eth(0x8847), MPLS(true), make([]byte, 4), Eth(0x0800)),
		// Shorter than an Ethernet header.
		MACA,
	)
	return out
}

// DecapFiles are every shared capture and crafted.pcap, written in dir.
func DecapFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.Pcaps(t), "tcpdump-tests", "*.pcap"))
	if err != nil || len(files) < 200 {
		t.Fatalf("%d captures in %s: %v", len(files), testenv.Pcaps(t), err)
	}
	crafted := filepath.Join(dir, "crafted.pcap")
	var recs []pcap.Record
	for i, f := range DecapFrames() {
		recs = append(recs, pcap.Record{Timestamp: int64(i+1) * int64(time.Millisecond), OrigLen: uint32(len(f)), Data: f})
	}
	WriteCapture(t, crafted, File{}, recs)
	return append([]string{filepath.Join(testenv.Pcaps(t), "metron-example.pcap"), crafted}, files...)
}

// DecapDisagreements are the frames where tshark's decode and fc_parse
// differ on purpose, with why: the rule's, fc_parse's and index.Inner's alike.
var DecapDisagreements = map[string]string{
	// A tunnel in a fragment is not decoded: the inner packet is cut, its
	// other fragments could not be decapsulated, and a filter on the inner
	// packet would keep one fragment of several. tshark decodes it.
	"crafted.pcap#33": "IPv4 in IPv4 in a first fragment",
	"crafted.pcap#34": "IPv4 in IPv4 in a first fragment",
	// A version-6 header under ethertype 0x0800: tshark says "bogus IPv4
	// version" and decodes it as IPv6 in IPv4; fc_parse stops at a wrong
	// version.
	"kday1.pcap#1": "IPv6 header under ethertype IPv4",
	// Frames captured before GSO/BIG TCP segmentation: UDP length 0, or
	// IPv6 payload length 0. tshark stops at the length; fc_parse checks no
	// length field beyond the headers present, so it decapsulates them as
	// the kernel sends them.
	"bigtcp-ipv4-vxlan-ipv6.pcap#1": "BIG TCP frame, UDP length 0",
	"bigtcp-ipv6-vxlan-ipv6.pcap#1": "BIG TCP frame, IPv6 payload length 0",
}
