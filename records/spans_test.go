package records_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/records"
)

// TestReadFlowSpans: the flows of the shared captures, in row groups of
// two, read back for ranges from none to all of them: the records
// ReadFlowSpans gives, their packets and bytes, are what DuckDB counts
// over the same files with the same overlap rule, and row groups
// outside a narrow range are not read. A damaged file is named and the
// others read; a hidden file (being written) is not read.
func TestReadFlowSpans(t *testing.T) {
	out := t.TempDir()
	res, err := records.RunFiles(context.Background(), records.FilesSpec{Paths: []string{testenv.Pcaps(t)},
		Writer: records.WriterSpec{Dir: out, Flows: true, Stem: "t", RowGroupRows: 2,
			Timeouts: records.Timeouts{Idle: time.Minute, Active: 10 * time.Minute}}})
	if err != nil || res.Flows < 100 {
		t.Fatalf("RunFiles: %d flows, %v", res.Flows, err)
	}
	db := duck(t)
	glob := out + "/flows/**/*.parquet"
	var lo, hi int64
	if err := db.QueryRow(`SELECT min(first_ns), max(last_ns) FROM read_parquet($1)`, glob).Scan(&lo, &hi); err != nil {
		t.Fatal(err)
	}
	type sums struct{ spans, packets, bytes int64 }
	read := func(dir string, from, to int64) (sums, records.SpansRead) {
		t.Helper()
		var s sums
		rd, err := records.ReadFlowSpans(context.Background(), dir, from, to, func(f records.FlowSpan) {
			s.spans++
			s.packets += f.OrigPackets + f.RespPackets
			s.bytes += f.OrigBytes + f.RespBytes
		})
		if err != nil {
			t.Fatal(err)
		}
		return s, rd
	}
	mid := lo + (hi-lo)/2
	for _, r := range [][2]int64{{lo, hi}, {lo - 1e9, lo - 1}, {hi + 1, hi + 1e9}, {mid, mid}, {lo, mid}, {mid, hi}, {mid - 5e9, mid + 5e9}, {hi, hi}} {
		var want sums
		if err := db.QueryRow(`SELECT count(*), coalesce(sum(orig_packets+resp_packets), 0), coalesce(sum(orig_bytes+resp_bytes), 0)
			FROM read_parquet($1) WHERE last_ns >= $2 AND first_ns <= $3`, glob, r[0], r[1]).Scan(&want.spans, &want.packets, &want.bytes); err != nil {
			t.Fatal(err)
		}
		got, rd := read(out, r[0], r[1])
		if got != want || len(rd.Failed) > 0 {
			t.Errorf("[%d, %d]: %+v, DuckDB %+v; %+v", r[0], r[1], got, want, rd)
		}
		if r == [2]int64{lo, hi} && (got.spans != res.Flows || rd.Rows != res.Flows || int64(rd.RowGroups) <= int64(rd.Files)) {
			t.Errorf("everything: %d spans of %d rows, %d flows written; %d row groups in %d files", got.spans, rd.Rows, res.Flows, rd.RowGroups, rd.Files)
		}
		if r == [2]int64{mid, mid} {
			if _, rdAll := read(out, lo, hi); rd.RowGroups >= rdAll.RowGroups {
				t.Errorf("one instant: %d row groups read, as many as for everything (%d)", rd.RowGroups, rdAll.RowGroups)
			}
		}
	}
	// The flows directory itself is a dataset too; a directory without
	// one is an error.
	if got, _ := read(filepath.Join(out, "flows"), lo, hi); got.spans != res.Flows {
		t.Errorf("DIR/flows: %d spans", got.spans)
	}
	if _, err := records.ReadFlowSpans(context.Background(), t.TempDir(), lo, hi, func(records.FlowSpan) {}); err == nil {
		t.Error("a directory without flows: no error")
	}

	// A copy of one file cut in half, a hidden copy, and a file that is
	// no Parquet: the damaged ones are named, the hidden one is not read.
	files, _ := filepath.Glob(filepath.Join(out, "flows", "date=*", "hour=*", "*.parquet"))
	if len(files) == 0 {
		t.Fatal("no flows files")
	}
	whole, _ := read(out, lo, hi)
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(files[0])
	for name, data := range map[string][]byte{"cut.parquet": b[:len(b)/2], ".hidden.parquet": b, "text.parquet": []byte("not parquet")} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, rd := read(out, lo, hi)
	var failed []string
	for _, f := range rd.Failed {
		failed = append(failed, filepath.Base(f.Path))
	}
	if got != whole || strings.Join(failed, " ") != "cut.parquet text.parquet" {
		t.Errorf("with damaged files: %+v (whole: %+v), failed %v", got, whole, rd.Failed)
	}
}
