package query_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/fastcapa-go/fastcapa/pcap"
	"github.com/fastcapa-go/fastcapa/query"
)

// Metron's fixed query — one host's traffic both ways, over an hour of a
// store directory — written as one nanosecond pcap.
func ExampleRun() {
	fixed := query.Fixed{SrcAddr: netip.MustParseAddr("192.168.138.158"), IncludeReverse: true}
	start := time.Date(2024, 1, 31, 12, 0, 0, 0, time.UTC)
	out, err := os.Create("host.pcap")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer out.Close()
	w, err := pcap.NewWriter(out, true, pcap.MaxSnapLen)
	if err != nil {
		fmt.Println(err)
		return
	}
	st, err := query.Run(context.Background(), query.Spec{
		Paths:     []string{"/data/pcap"},
		Filter:    fixed.Expr(),
		MatchVLAN: true,
		Start:     start,
		End:       start.Add(time.Hour),
	}, w.Write) // Write copies the record before the next one comes
	if err := w.Flush(); err != nil {
		fmt.Println(err)
	}
	fmt.Printf("%d packets from %d captures (%d pruned), %d failed: %v\n", st.Matched, st.Captures, st.Pruned, len(st.Failed), err)
}
