package index_test

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/fastcapa-go/fastcapa/index"
	"github.com/fastcapa-go/fastcapa/packet"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// A sink indexes each file as it writes it and saves the index beside
// the file once it is final; a query loads the indexes and scans only
// the files that may match (and any file without a valid index).
func Example() {
	dir, err := os.MkdirTemp("", "index-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	// Writing: one Builder per open file, Add per packet written.
	capture := filepath.Join(dir, "p0-1.pcap")
	f, _ := os.Create(capture)
	w, _ := pcap.NewWriter(f, true, pcap.MaxSnapLen)
	var b index.Builder
	for i, port := range []uint16{53, 80, 443} {
		frame := packet.UDPFrame(64, 40000+uint16(i), port) // 10.0.0.1 > 10.0.0.2
		ts := int64(1_700_000_000e9) + int64(i)*1e9
		w.Write(pcap.Record{Timestamp: ts, Data: frame})
		b.Add(ts, frame)
	}
	w.Flush()
	f.Close()
	// The file is final: save its index, then start the next file.
	if err := b.Index().Save(capture); err != nil {
		fmt.Println(err)
		return
	}
	b.Reset()

	// Querying.
	for _, q := range []index.Constraints{
		{Hosts: []netip.Addr{netip.MustParseAddr("10.0.0.2")}, Ports: []uint16{443}},
		{Hosts: []netip.Addr{netip.MustParseAddr("10.9.9.9")}},
		{Protocols: []uint8{packet.ProtoTCP}},
	} {
		ix, err := index.Load(capture)
		switch {
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, index.ErrFormat), errors.Is(err, index.ErrStale):
			fmt.Println("no usable index: scan", filepath.Base(capture))
		case err != nil:
			fmt.Println(err)
		case ix.MayMatch(q):
			fmt.Println("scan", filepath.Base(capture), "for", q.Hosts, q.Ports, q.Protocols)
		default:
			fmt.Println("skip", filepath.Base(capture), "for", q.Hosts, q.Ports, q.Protocols)
		}
	}
	// Output:
	// scan p0-1.pcap for [10.0.0.2] [443] []
	// skip p0-1.pcap for [10.9.9.9] [] []
	// skip p0-1.pcap for [] [] [6]
}

// BuildFile indexes a capture written without an index, such as one
// store.Recover published after a crash.
func ExampleBuildFile() {
	capture := "recovered.pcap.zst"
	ix, err := index.BuildFile(capture)
	if err != nil {
		fmt.Println(err) // no index: the query scans the file
		return
	}
	if err := ix.Save(capture); err != nil {
		fmt.Println(err)
	}
}
