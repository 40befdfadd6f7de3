package pattern_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/fastcapa-go/fastcapa/packet"
	"github.com/fastcapa-go/fastcapa/pattern"
)

// Keep the packets whose bytes hold an HTTP status line of a server
// error, as `pcap_query fixed --packet_filter` would have.
func Example() {
	p, err := pattern.Compile("'HTTP/1.' [30 31] 20 '5' \\d\\d")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Match([]byte("...HTTP/1.1 503 Service Unavailable\r\n")))
	fmt.Println(p.Match([]byte("...HTTP/1.1 200 OK\r\n")))
	// Output:
	// true
	// false
}

// Hex bytes, text, any byte, sets, bitmasks and repeats mix freely;
// whitespace and # comments are ignored.
func ExampleCompile() {
	p, err := pattern.Compile(`
		08 00             # EtherType IPv4
		45 .{8} 06        # IPv4 without options, protocol TCP
		.{10}             # checksum, addresses
		00 50             # source port 80
		.{11} ~07         # a flags byte with FIN, SYN or RST
	`)
	if err != nil {
		log.Fatal(err)
	}
	frame := packet.UDPFrame(64, 80, 5000) // UDP: no match
	fmt.Println(p.Match(frame))
	frame[23] = packet.ProtoTCP
	frame[47] = 0x11 // FIN and ACK
	fmt.Println(p.Match(frame))
	// Output:
	// false
	// true
}

// A refused pattern says where and why.
func ExampleCompile_error() {
	_, err := pattern.Compile("de ad g")
	fmt.Println(err)
	fmt.Println(errors.Is(err, pattern.ErrSyntax))
	var e *pattern.Error
	if errors.As(err, &e) {
		fmt.Printf("%s\n%*s^\n", e.Expr, e.Pos, "")
	}
	// Output:
	// pattern "de ad g": at 6: 'g' is not a hex digit (text goes in quotes: 'GET')
	// true
	// de ad g
	//       ^
}

// Match the bytes Metron searched: its one-packet pcap file, headers
// and all. Its pcap magic number is in every packet's.
func ExampleAppendMetronRecord() {
	p, err := pattern.Compile("d4 c3 b2 a1")
	if err != nil {
		log.Fatal(err)
	}
	frame := make([]byte, 60)
	var buf []byte
	buf = pattern.AppendMetronRecord(buf[:0], 1_458_240_269_598_793_000, frame)
	fmt.Println(len(buf), p.Match(frame), p.Match(buf))
	// Output:
	// 100 false true
}
