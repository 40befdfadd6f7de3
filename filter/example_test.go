package filter_test

import (
	"errors"
	"fmt"
	"log"
	"slices"

	"github.com/fastcapa-go/fastcapa/filter"
	"github.com/fastcapa-go/fastcapa/packet"
)

// Keep one host's DNS on every VLAN, as a sink target with FilterVLAN
// does, beside the same expression as tcpdump means it.
func Example() {
	inner, err := filter.New(filter.Spec{Expr: "host 10.0.0.1 and udp port 53", LinkType: filter.LinkTypeEthernet, MatchVLAN: true})
	if err != nil {
		log.Fatal(err)
	}
	plain, err := filter.New(filter.Spec{Expr: "host 10.0.0.1 and udp port 53", LinkType: filter.LinkTypeEthernet})
	if err != nil {
		log.Fatal(err)
	}

	frame := packet.UDPFrame(64, 40000, 53)                                        // 10.0.0.1 → 10.0.0.2
	tagged := slices.Concat(frame[:12], []byte{0x81, 0x00, 0x00, 100}, frame[12:]) // on VLAN 100

	fmt.Println("untagged:", inner.Match(frame, uint32(len(frame))), plain.Match(frame, uint32(len(frame))))
	fmt.Println("VLAN 100:", inner.Match(tagged, uint32(len(tagged))), plain.Match(tagged, uint32(len(tagged))))
	fmt.Println("first 20 bytes captured:", inner.Match(tagged[:20], uint32(len(tagged))))
	// Output:
	// untagged: true true
	// VLAN 100: true false
	// first 20 bytes captured: false
}

// An expression libpcap refuses is an error with libpcap's message.
func ExampleNew_error() {
	_, err := filter.New(filter.Spec{Expr: "tcp port"})
	fmt.Println(err)
	fmt.Println(errors.Is(err, filter.ErrCompile))
	// Output:
	// filter "tcp port": can't parse filter expression: syntax error
	// true
}

// The tcpdump expression a MatchVLAN filter is: tcpdump -r FILE with it
// keeps the same packets.
func ExampleVLANExpr() {
	fmt.Println(filter.VLANExpr("tcp port 80"))
	// Output:
	// (not (ether[12:2] = 0x8100 or ether[12:2] = 0x88a8 or ether[12:2] = 0x9100) and (tcp port 80)) or (vlan and not (ether[16:2] = 0x8100 or ether[16:2] = 0x88a8 or ether[16:2] = 0x9100) and (tcp port 80)) or ((ether[12:2] = 0x8100 or ether[12:2] = 0x88a8 or ether[12:2] = 0x9100) and vlan and (tcp port 80))
}
