package pcaptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// records are frames of several lengths (one over a 100-byte snapshot
// length, one whose original length is below its captured one) at
// nanosecond times.
func records() []pcap.Record {
	var recs []pcap.Record
	for i, n := range []int{60, 99, 100, 101, 1514} {
		recs = append(recs, pcap.Record{Timestamp: 1_700_000_000_123_456_789 + int64(i)*1001,
			OrigLen: uint32(n + i), Data: bytes.Repeat([]byte{byte(i + 1)}, n)})
	}
	recs[1].OrigLen = 10
	return recs
}

// diff is Diff, and link types too.
func diff(want, got []pcap.Record) string {
	if d := Diff(want, got); d != "" {
		return d
	}
	for i := range want {
		if want[i].LinkType != got[i].LinkType {
			return fmt.Sprintf("record %d: link type %d, want %d", i, got[i].LinkType, want[i].LinkType)
		}
	}
	return ""
}

// TestWriteCaptureReadsBack: what WriteCapture returns is what ReadAll
// reads back from the file, in every format, compression and precision,
// with the snapshot length cutting data; WriteLinkType keeps the link
// type and an original length below the captured one.
func TestWriteCaptureReadsBack(t *testing.T) {
	dir := t.TempDir()
	src := records()
	for _, f := range []File{
		{},
		{Format: pcap.FormatPcapNG},
		{Compression: pcap.CompressGzip, Micro: true},
		{Format: pcap.FormatPcapNG, Compression: pcap.CompressZstd, Micro: true, SnapLen: 100},
		{Compression: pcap.CompressLZ4, SnapLen: 100},
	} {
		name := fmt.Sprintf("%+v", f)
		path := filepath.Join(dir, "c"+f.Format.String()+f.Compression.Suffix())
		got := WriteCapture(t, path, f, src)
		if d := diff(got, ReadAll(t, path)); d != "" {
			t.Errorf("%s: %s", name, d)
		}
		for i, r := range got {
			limit := len(src[i].Data)
			if f.SnapLen != 0 {
				limit = min(limit, int(f.SnapLen))
			}
			if f.Micro && r.Timestamp%1000 != 0 || !f.Micro && r.Timestamp != src[i].Timestamp ||
				len(r.Data) != limit || r.OrigLen != max(src[i].OrigLen, uint32(len(src[i].Data))) || r.LinkType != pcap.LinkTypeEthernet {
				t.Errorf("%s: record %d returned as ts %d len %d caplen %d link %d", name, i, r.Timestamp, r.OrigLen, len(r.Data), r.LinkType)
			}
		}
	}
	raw := filepath.Join(dir, "raw.pcap")
	WriteLinkType(t, raw, 101, src)
	want := records()
	for i := range want {
		want[i].LinkType = 101
	}
	if d := diff(want, ReadAll(t, raw)); d != "" {
		t.Errorf("link type 101: %s", d)
	}
}

// TestTcpdump: the oracle keeps what the file holds, filters as tcpdump
// does, reads several files in one run at microseconds, and says why
// tcpdump refused a filter.
func TestTcpdump(t *testing.T) {
	bin := testenv.RequireTool(t, "tcpdump")
	ctx := context.Background()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.pcap"), filepath.Join(dir, "b.pcap")
	recsA := WriteCapture(t, a, File{}, records())
	recsB := WriteCapture(t, b, File{}, records()[2:])
	got, err := Tcpdump(ctx, bin, []string{a}, "")
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(recsA, got); d != "" {
		t.Errorf("a: %s", d)
	}
	got, err = Tcpdump(ctx, bin, []string{a}, "greater 101")
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(recsA[2:], got); d != "" {
		t.Errorf("a, greater 101: %s", d)
	}
	got, err = Tcpdump(ctx, bin, []string{a, b}, "")
	if err != nil {
		t.Fatal(err)
	}
	var want []pcap.Record
	for _, r := range append(recsA, recsB...) {
		r.Timestamp -= r.Timestamp % 1000
		want = append(want, r)
	}
	if d := diff(want, got); d != "" {
		t.Errorf("a and b: %s", d)
	}
	_, err = Tcpdump(ctx, bin, []string{a}, "port 99999")
	var te *TcpdumpError
	if !errors.As(err, &te) || !strings.Contains(te.Message(), "illegal port number 99999") {
		t.Errorf("a bad filter: %v, want a TcpdumpError with tcpdump's message", err)
	}
}
