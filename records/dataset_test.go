package records

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

type row struct {
	Ts int64 `parquet:"ts,timestamp(nanosecond:utc)"`
	N  int64 `parquet:"n"`
}

// files lists the regular files under dir, relative, hidden ones too.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			r, _ := filepath.Rel(dir, p)
			out = append(out, r)
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// TestDataset: rows go to their hour's partition in hidden files,
// published whole under their names on Close, with row groups bounded
// and the schema in the metadata; the MaxOpen-th partition publishes
// the one written longest ago; a name taken is never replaced; Abort
// leaves nothing.
func TestDataset(t *testing.T) {
	dir := t.TempDir()
	var published []string
	d := NewDataset[row](DatasetSpec{Dir: dir, Kind: "packets", Stem: "s", RowGroupRows: 100, MaxOpen: 2,
		Published: func(p string, _ int64) { published = append(published, p) }})
	h0 := time.Date(2026, 12, 6, 23, 10, 0, 0, time.UTC).UnixNano()
	for i := range 1000 {
		if err := d.Write(h0+int64(i), row{Ts: h0 + int64(i), N: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Write(h0+int64(time.Hour), row{Ts: h0 + int64(time.Hour)}); err != nil { // the next day, 00h
		t.Fatal(err)
	}
	got := files(t, dir)
	want := []string{"date=2026-12-06/hour=23/.packets-s-0001.parquet.tmp", "date=2026-12-07/hour=00/.packets-s-0002.parquet.tmp"}
	if !slices.Equal(got, want) || len(published) != 0 {
		t.Fatalf("while writing: %v, published %v", got, published)
	}
	// A third partition seals the least recently written; Close
	// publishes it with the others.
	if err := d.Write(h0+2*int64(time.Hour), row{}); err != nil {
		t.Fatal(err)
	}
	if len(published) != 0 || len(d.parts) != 2 || len(d.sealed) != 1 {
		t.Fatalf("published %v, %d open, %v sealed", published, len(d.parts), d.sealed)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if len(published) != 3 || !strings.HasSuffix(published[0], "date=2026-12-06/hour=23/packets-s-0001.parquet") {
		t.Fatalf("published %v", published)
	}
	got = files(t, dir)
	if len(got) != 3 || slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "/.") }) {
		t.Fatalf("after Close: %v", got)
	}
	f, err := os.Open(published[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	pf, err := parquet.OpenFile(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	if pf.NumRows() != 1000 || len(pf.RowGroups()) != 10 {
		t.Fatalf("%d rows in %d row groups, want 1000 in 10", pf.NumRows(), len(pf.RowGroups()))
	}
	if v, _ := pf.Lookup(MetaSchema); v != "packets/"+SchemaVersion {
		t.Fatalf("schema metadata %q", v)
	}
	for _, c := range pf.Metadata().RowGroups[0].Columns {
		if c.MetaData.Codec.String() != "ZSTD" {
			t.Fatalf("column %v: codec %v", c.MetaData.PathInSchema, c.MetaData.Codec)
		}
	}

	// The same names again: refused, nothing replaced.
	d = NewDataset[row](DatasetSpec{Dir: dir, Kind: "packets", Stem: "s"})
	if err := d.Write(h0, row{}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("a taken name: %v", err)
	}
	d = NewDataset[row](DatasetSpec{Dir: dir, Kind: "packets", Stem: "t"})
	if err := d.Write(h0, row{}); err != nil {
		t.Fatal(err)
	}
	d.Abort()
	if after := files(t, dir); !slices.Equal(after, got) {
		t.Fatalf("after Abort: %v, want %v", after, got)
	}
}
