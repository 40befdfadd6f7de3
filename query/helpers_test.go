package query

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/fastcapa-go/fastcapa/pcap"
)

// What the tests share: captures written and read back, the query run
// into a slice, and the independent tools (tcpdump, mergecap).

// fileOpts is how writeCapture writes a file.
type fileOpts struct {
	ng    bool             // pcapng, else classic pcap
	micro bool             // microsecond timestamps, else nanosecond
	comp  pcap.Compression // none, gzip, zstd, lz4
}

// writeCapture writes Ethernet records to path with package pcap's
// writers, and returns them as they will read back (microsecond files
// truncate timestamps).
func writeCapture(t testing.TB, path string, recs []pcap.Record, o fileOpts) []pcap.Record {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cw, err := pcap.NewCompressor(f, o.comp, 0)
	if err != nil {
		t.Fatal(err)
	}
	format := pcap.FormatPcap
	if o.ng {
		format = pcap.FormatPcapNG
	}
	w, err := pcap.NewFormatWriter(cw, format, !o.micro, pcap.MaxSnapLen)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]pcap.Record, 0, len(recs))
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
		if o.micro {
			r.Timestamp -= r.Timestamp % 1000
		}
		r.OrigLen = max(r.OrigLen, uint32(len(r.Data)))
		out = append(out, pcap.Record{Timestamp: r.Timestamp, OrigLen: r.OrigLen, Data: r.Data})
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// readAll reads every record of any capture.
func readAll(t testing.TB, path string) []pcap.Record {
	t.Helper()
	c, err := pcap.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var recs []pcap.Record
	for {
		r, err := c.NextCopy()
		if err == io.EOF {
			return recs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		recs = append(recs, pcap.Record{Timestamp: r.Timestamp, OrigLen: r.OrigLen, Data: r.Data})
	}
}

// collect runs a query and returns copies of the records it emitted.
func collect(ctx context.Context, spec Spec) ([]pcap.Record, Stats, error) {
	var recs []pcap.Record
	st, err := Run(ctx, spec, func(r pcap.Record) error {
		recs = append(recs, pcap.Record{Timestamp: r.Timestamp, OrigLen: r.OrigLen, Data: bytes.Clone(r.Data)})
		return nil
	})
	return recs, st, err
}

// tcpdump runs `tcpdump --time-stamp-precision=nano -r path -w - expr`
// and returns the records it wrote.
func tcpdump(ctx context.Context, bin, path, expr string) ([]pcap.Record, error) {
	return tcpdumpArgs(ctx, bin, []string{"-r", path}, expr)
}

// tcpdumpArgs runs tcpdump with nanosecond timestamps over input (-r
// FILE, or -V LIST) and returns the records it kept.
func tcpdumpArgs(ctx context.Context, bin string, input []string, expr string) ([]pcap.Record, error) {
	args := append([]string{"--time-stamp-precision=nano"}, input...)
	args = append(args, "-w", "-")
	if expr != "" {
		args = append(args, expr)
	}
	return runTcpdump(ctx, bin, args)
}

// runTcpdump runs tcpdump, which writes a capture to its stdout, and
// returns the records.
func runTcpdump(ctx context.Context, bin string, args []string) ([]pcap.Record, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("tcpdump %q: %w: %s", args, err, firstLine(stderr.String()))
	}
	if slices.Contains(args, "-V") && len(out) >= 24 {
		// tcpdump -V writes every file's records under the first
		// file's header (in the host's byte order): its snapshot length
		// is not theirs, and a longer one would be read cut.
		binary.NativeEndian.PutUint32(out[16:], 0)
	}
	return parseCapture(out)
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

func parseCapture(b []byte) ([]pcap.Record, error) {
	r, err := pcap.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	var recs []pcap.Record
	for {
		rec, err := r.NextCopy()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, pcap.Record{Timestamp: rec.Timestamp, OrigLen: rec.OrigLen, Data: rec.Data})
	}
}

func firstLine(s string) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "reading from") {
			return l
		}
	}
	return strings.TrimSpace(s)
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

// diffRecords describes the first difference between want and got, or
// returns "".
func diffRecords(want, got []pcap.Record) string {
	for i := 0; i < len(want) || i < len(got); i++ {
		switch {
		case i >= len(got):
			return fmt.Sprintf("want %d packets, got %d; first missing #%d ts %d len %d", len(want), len(got), i, want[i].Timestamp, want[i].OrigLen)
		case i >= len(want):
			return fmt.Sprintf("want %d packets, got %d; first extra #%d ts %d len %d", len(want), len(got), i, got[i].Timestamp, got[i].OrigLen)
		case want[i].Timestamp != got[i].Timestamp || want[i].OrigLen != got[i].OrigLen || !bytes.Equal(want[i].Data, got[i].Data):
			return fmt.Sprintf("packet #%d of %d differs: want ts %d len %d caplen %d, got ts %d len %d caplen %d",
				i, len(want), want[i].Timestamp, want[i].OrigLen, len(want[i].Data), got[i].Timestamp, got[i].OrigLen, len(got[i].Data))
		}
	}
	return ""
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
