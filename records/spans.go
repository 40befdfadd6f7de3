package records

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/fastcapa-go/fastcapa/query"
)

// FlowSpan is what a flow record says of traffic over time: its first
// and last packet's times (ns) and its packets and bytes each way.
// Reading spans reads these six columns of a flows file, not the rest.
type FlowSpan struct {
	First       int64 `parquet:"first_ns"`
	Last        int64 `parquet:"last_ns"`
	OrigPackets int64 `parquet:"orig_packets"`
	OrigBytes   int64 `parquet:"orig_bytes"`
	RespPackets int64 `parquet:"resp_packets"`
	RespBytes   int64 `parquet:"resp_bytes"`
}

// SpansRead says what ReadFlowSpans read.
type SpansRead struct {
	Files     int   // flows files opened
	RowGroups int   // row groups read; the others were outside the range
	Rows      int64 // flow records read, in the range or not
	Spans     int64 // flow records in the range: fn's calls
	// Failed are the files that could not be read whole: spans of them
	// may be missing.
	Failed []query.FileError
}

// ReadFlowSpans calls fn with each flow record whose [First, Last]
// overlaps [from, to] (ns, both included) in the flows dataset under
// dir: DIR/flows as `pcapstore records -out DIR` writes it, or that
// flows directory itself. It reads published files only (a hidden one
// is being written), skips the partitions that start after to (a flow
// is in the partition of its first packet) and the row groups whose
// statistics put every flow outside the range, and reads the columns of
// FlowSpan alone. A file it cannot read is named in Failed and the rest
// are read; the error is dir's (it does not exist, is not a dataset) or
// ctx's.
func ReadFlowSpans(ctx context.Context, dir string, from, to int64, fn func(FlowSpan)) (SpansRead, error) {
	var rd SpansRead
	root := dir
	if fi, err := os.Stat(filepath.Join(dir, "flows")); err == nil && fi.IsDir() {
		root = filepath.Join(dir, "flows")
	} else if filepath.Base(dir) != "flows" {
		return rd, fmt.Errorf("%s: no flows dataset in it (pcapstore records -out writes DIR/flows)", dir)
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			rd.Failed = append(rd.Failed, query.FileError{Path: p, Err: err})
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name := d.Name()
		if p != root && strings.HasPrefix(name, ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if start, ok := partitionStart(p, root); ok && start > to {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasSuffix(name, ".parquet") {
			return nil
		}
		rd.Files++
		if err := readSpans(p, from, to, &rd, fn); err != nil {
			rd.Failed = append(rd.Failed, query.FileError{Path: p, Err: err})
		}
		return nil
	})
	return rd, err
}

// spanColumns are the columns of a flows file FlowSpan holds, in its
// order.
var spanColumns = [...]string{"first_ns", "last_ns", "orig_packets", "orig_bytes", "resp_packets", "resp_bytes"}

// readSpans reads one flows file's spans in [from, to].
func readSpans(path string, from, to int64, rd *SpansRead, fn func(FlowSpan)) (err error) {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	// The decoder is a library's, over bytes on disk that may be damaged:
	// a panic in it is this file's error, not the server's end.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("corrupt Parquet: %v", r)
		}
	}()
	pf, err := parquet.OpenFile(f, fi.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return err
	}
	var idx [len(spanColumns)]int
	for i, name := range spanColumns {
		c, ok := pf.Schema().Lookup(name)
		if !ok {
			return fmt.Errorf("not a flows file: no column %s", name)
		}
		idx[i] = c.ColumnIndex
	}
	var cols [len(idx)][]int64
	for _, rg := range pf.RowGroups() {
		chunks := rg.ColumnChunks()
		if lo, _, ok := bounds(chunks[idx[0]]); ok && lo.Int64() > to {
			continue
		}
		if _, hi, ok := bounds(chunks[idx[1]]); ok && hi.Int64() < from {
			continue
		}
		rd.RowGroups++
		for i, ci := range idx {
			if cols[i], err = int64Column(chunks[ci], cols[i][:0]); err != nil {
				return err
			}
			if int64(len(cols[i])) != rg.NumRows() {
				return fmt.Errorf("column %s holds %d values in a row group of %d rows", spanColumns[i], len(cols[i]), rg.NumRows())
			}
		}
		rd.Rows += rg.NumRows()
		for j := range cols[0] {
			s := FlowSpan{cols[0][j], cols[1][j], cols[2][j], cols[3][j], cols[4][j], cols[5][j]}
			if s.Last >= from && s.First <= to {
				rd.Spans++
				fn(s)
			}
		}
	}
	return nil
}

// int64Column appends the values of a column chunk of int64s to dst.
func int64Column(c parquet.ColumnChunk, dst []int64) ([]int64, error) {
	pages := c.Pages()
	defer pages.Close()
	for {
		p, err := pages.ReadPage()
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
		r, ok := p.Values().(parquet.Int64Reader)
		if !ok {
			parquet.Release(p)
			return dst, fmt.Errorf("column %d does not hold int64s", c.Column())
		}
		start := len(dst)
		dst = slices.Grow(dst, int(p.NumValues()))[:start+int(p.NumValues())]
		n, err := r.ReadInt64s(dst[start:])
		parquet.Release(p)
		if err != nil && err != io.EOF {
			return dst, err
		}
		if dst = dst[:start+n]; n != int(p.NumValues()) {
			return dst, fmt.Errorf("column %d: a page of %d values gave %d", c.Column(), p.NumValues(), n)
		}
	}
}

// bounds are a column chunk's statistics, if its file has them.
func bounds(c parquet.ColumnChunk) (lo, hi parquet.Value, ok bool) {
	if b, is := c.(interface {
		Bounds() (min, max parquet.Value, ok bool)
	}); is {
		return b.Bounds()
	}
	return lo, hi, false
}
