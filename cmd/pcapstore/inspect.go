package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/fastcapa-go/fastcapa/packet"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// runInspect is Metron's pcap_inspector: one line per packet.
func runInspect(args []string) int {
	fs := flag.NewFlagSet("pcapstore inspect", flag.ContinueOnError)
	n := fs.Int("n", 0, "print at most N packets (0: all)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "pcapstore inspect: name one capture file")
		return 2
	}
	path := fs.Arg(0)
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pcapstore inspect: %v\n", err)
		return 2
	}
	defer f.Close()
	r, err := pcap.NewReader(f)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pcapstore inspect: %s: %v\n", path, err)
		return 2
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for i := 0; *n == 0 || i < *n; i++ {
		rec, err := r.Next()
		if err == io.EOF {
			return 0
		}
		if err != nil {
			out.Flush()
			fmt.Fprintf(os.Stderr, "pcapstore inspect: %s: %v\n", path, err)
			return 1
		}
		fmt.Fprintf(out, "%d %d %s\n", rec.Timestamp, rec.OrigLen, packet.Decode(rec.Data))
	}
	return 0
}
