package query

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os/exec"

	"github.com/fastcapa-go/fastcapa/pcap"
)

// What the tests share: the query run into a slice, mergecap, and records
// derived from others (captures written and read back, and tcpdump, are
// internal/pcaptest's).

// collect runs a query and returns copies of the records it emitted.
// Unless the spec reports progress, it also runs it through an Output,
// record by record (Run) and in runs (RunTo), and fails unless both
// write the same bytes with the same counts: every test of a query's
// answer tests RunTo too.
func collect(ctx context.Context, spec Spec) ([]pcap.Record, Stats, error) {
	var recs []pcap.Record
	st, err := Run(ctx, spec, func(r pcap.Record) error {
		recs = append(recs, pcap.Record{Timestamp: r.Timestamp, OrigLen: r.OrigLen, Data: bytes.Clone(r.Data)})
		return nil
	})
	if spec.Progress == nil && ctx.Err() == nil {
		if err := sameAsRunTo(ctx, spec); err != nil {
			return recs, st, err
		}
	}
	return recs, st, err
}

// sameAsRunTo runs spec into an Output by Run and by RunTo and compares
// what they wrote and counted.
func sameAsRunTo(ctx context.Context, spec Spec) error {
	var a, b bytes.Buffer
	outA, outB := NewOutput(&a), NewOutput(&b)
	stA, errA := Run(ctx, spec, outA.Write)
	outA.Close()
	stB, errB := RunTo(ctx, spec, outB)
	outB.Close()
	count := func(st Stats) string {
		return fmt.Sprintf("%d matched, %d bytes, limited %t, %d out of order, %d failed, %d cut short",
			st.Matched, st.MatchedBytes, st.Limited, st.OutOfOrder, len(st.Failed), len(st.Truncated))
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) || count(stA) != count(stB) || (errA == nil) != (errB == nil) {
		return fmt.Errorf("RunTo wrote %d bytes (%s; %v), Run through an Output %d (%s; %v); the same bytes: %t",
			b.Len(), count(stB), errB, a.Len(), count(stA), errA, bytes.Equal(a.Bytes(), b.Bytes()))
	}
	return nil
}

// mergecap merges files chronologically into one nanosecond pcap file.
// mergecap gives a tie to the file named last (wiretap's is_earlier
// holds on equal times), so pass the files in reverse of the order a
// tie should go by.
func mergecap(ctx context.Context, bin, out string, files []string) error {
	cmd := exec.CommandContext(ctx, bin, append([]string{"-F", "nsecpcap", "-w", out}, files...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mergecap: %w: %s", err, b)
	}
	return nil
}

// inRange keeps the records of [start, end], both inclusive (0: open).
func inRange(recs []pcap.Record, start, end int64) []pcap.Record {
	var out []pcap.Record
	for _, r := range recs {
		if (start == 0 || r.Timestamp >= start) && (end == 0 || r.Timestamp <= end) {
			out = append(out, r)
		}
	}
	return out
}

// tagged puts VLAN tags (type, id pairs) in front of a frame's EtherType.
func tagged(r pcap.Record, stack ...uint16) pcap.Record {
	if len(r.Data) < 14 {
		return r
	}
	tags := make([]byte, 2*len(stack))
	for j, v := range stack {
		binary.BigEndian.PutUint16(tags[2*j:], v)
	}
	data := append(append(append([]byte{}, r.Data[:12]...), tags...), r.Data[12:]...)
	return pcap.Record{Timestamp: r.Timestamp, OrigLen: r.OrigLen + uint32(len(tags)), Data: data}
}

// shifted moves records by d nanoseconds.
func shifted(recs []pcap.Record, d int64) []pcap.Record {
	out := make([]pcap.Record, len(recs))
	for i, r := range recs {
		out[i] = pcap.Record{Timestamp: r.Timestamp + d, OrigLen: r.OrigLen, Data: r.Data}
	}
	return out
}
