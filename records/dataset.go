package records

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/fastcapa-go/fastcapa/internal/atomicfile"
)

// Partition returns the Hive-style partition of a time in ns: its UTC
// date and hour, "date=2026-12-06/hour=02".
func Partition(ts int64) string {
	t := time.Unix(0, ts).UTC()
	return fmt.Sprintf("date=%04d-%02d-%02d/hour=%02d", t.Year(), t.Month(), t.Day(), t.Hour())
}

// partitionStart is when the partition at dir (under root) starts:
// date=YYYY-MM-DD, then hour=HH within it, as Partition names them. ok
// is false for any other directory.
func partitionStart(dir, root string) (start int64, ok bool) {
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		return 0, false
	}
	date, hour, hasHour := strings.Cut(filepath.ToSlash(rel), "/")
	day, ok := strings.CutPrefix(date, "date=")
	if !ok {
		return 0, false
	}
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return 0, false
	}
	if hasHour {
		h, ok := strings.CutPrefix(hour, "hour=")
		n, err := strconv.Atoi(h)
		if !ok || err != nil || n < 0 || n > 23 {
			return 0, false
		}
		t = t.Add(time.Duration(n) * time.Hour)
	}
	return t.UnixNano(), true
}

// DatasetSpec says how a Dataset writes.
type DatasetSpec struct {
	// Dir is the root of the partitions.
	Dir string
	// Kind names the rows: "packets" or "flows", the first word of each
	// file's name and of its schema metadata.
	Kind string
	// Stem makes the files' names unique to this writer:
	// KIND-STEM-SEQ.parquet, SEQ counting the files it published.
	Stem string
	// RowGroupRows bounds a row group (and so the rows a file holds in
	// memory before they are flushed to it). Default 131072.
	RowGroupRows int64
	// MaxOpen bounds the partitions with a file open at once; writing to
	// another seals the one written to longest ago. Default 8.
	MaxOpen int
	// Published, if set, is told each file's path once Close published
	// it.
	Published func(path string, rows int64)
}

// Dataset writes rows of one kind into Parquet files under Dir, one open
// file per partition: hidden (.NAME.tmp) while written, sealed (complete
// and fsynced) by Seal or when MaxOpen is reached, and published whole
// under NAME by Sealed.Publish (Close does both). It never replaces a
// file: a name taken is an error. Not safe for concurrent use.
type Dataset[T any] struct {
	spec   DatasetSpec
	parts  map[string]*partFile[T]
	sealed []Sealed // sealed, not yet handed out by Seal
	seq    int
	tick   int64
	// hourPart is the partition of the hour from hourFrom: the last
	// row's, named once an hour, not once a row.
	hourFrom int64
	hourPart string
}

const hourNs = int64(time.Hour)

type partFile[T any] struct {
	part       string
	tmp, final string
	f          *os.File
	w          *parquet.GenericWriter[T]
	buf        []T
	rows       int64
	used       int64 // Dataset.tick at the last write
}

// batchRows is how many rows a partition buffers before handing them to
// its Parquet writer.
const batchRows = 1024

// NewDataset returns a Dataset; nothing is created before the first row.
func NewDataset[T any](spec DatasetSpec) *Dataset[T] {
	if spec.RowGroupRows <= 0 {
		spec.RowGroupRows = 128 << 10
	}
	if spec.MaxOpen <= 0 {
		spec.MaxOpen = 8
	}
	return &Dataset[T]{spec: spec, parts: map[string]*partFile[T]{}}
}

// Write adds row to the partition of time ts. The row's pointers must
// stay valid until Close (or until its file is published).
func (d *Dataset[T]) Write(ts int64, row T) error {
	if ts < d.hourFrom || ts >= d.hourFrom+hourNs || d.hourPart == "" {
		d.hourFrom = ts - ((ts%hourNs)+hourNs)%hourNs
		d.hourPart = Partition(ts)
	}
	part := d.hourPart
	p := d.parts[part]
	if p == nil {
		var err error
		if p, err = d.open(part); err != nil {
			return err
		}
	}
	d.tick++
	p.used = d.tick
	p.buf = append(p.buf, row)
	if len(p.buf) == batchRows {
		return p.flush()
	}
	return nil
}

// open starts a hidden file for partition part, publishing the least
// recently written one first if MaxOpen are open.
func (d *Dataset[T]) open(part string) (*partFile[T], error) {
	if len(d.parts) >= d.spec.MaxOpen {
		var oldest *partFile[T]
		for _, p := range d.parts {
			if oldest == nil || p.used < oldest.used {
				oldest = p
			}
		}
		if err := d.seal(oldest); err != nil {
			return nil, err
		}
	}
	dir := filepath.Join(d.spec.Dir, filepath.FromSlash(part))
	if err := atomicfile.MkdirAll(dir); err != nil {
		return nil, err
	}
	d.seq++
	name := fmt.Sprintf("%s-%s-%04d.parquet", d.spec.Kind, d.spec.Stem, d.seq)
	p := &partFile[T]{part: part, tmp: filepath.Join(dir, "."+name+".tmp"), final: filepath.Join(dir, name)}
	if _, err := os.Stat(p.final); err == nil {
		return nil, fmt.Errorf("%s: %w", p.final, fs.ErrExist)
	}
	f, err := atomicfile.Create(p.tmp)
	if err != nil {
		return nil, err
	}
	p.f = f
	p.w = parquet.NewGenericWriter[T](f,
		parquet.Compression(&zstd.Codec{}),
		parquet.MaxRowsPerRowGroup(d.spec.RowGroupRows),
		parquet.KeyValueMetadata(MetaSchema, d.spec.Kind+"/"+SchemaVersion),
		parquet.CreatedBy("fastcapa-go pcapstore records", SchemaVersion, ""),
	)
	p.buf = make([]T, 0, batchRows)
	d.parts[part] = p
	return p, nil
}

// flush hands the buffered rows to the Parquet writer.
func (p *partFile[T]) flush() error {
	if len(p.buf) == 0 {
		return nil
	}
	if _, err := p.w.Write(p.buf); err != nil {
		return fmt.Errorf("%s: %w", p.tmp, err)
	}
	p.rows += int64(len(p.buf))
	clear(p.buf)
	p.buf = p.buf[:0]
	return nil
}

// Sealed is a complete, fsynced file under its hidden name, waiting to
// be given its final one (Publish).
type Sealed struct {
	Tmp   string `json:"tmp"`
	Final string `json:"final"`
	Rows  int64  `json:"rows"`
}

// Publish gives a sealed file its name, never replacing another, and
// removes the hidden one; done again after a crash (the hidden name
// gone, the final one there), it does nothing.
func (s Sealed) Publish() error {
	if _, err := os.Stat(s.Tmp); errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(s.Final); err == nil {
			return nil
		}
	}
	if err := atomicfile.Link(s.Tmp, s.Final); err != nil {
		return fmt.Errorf("publish %s: %w", s.Final, err)
	}
	if err := atomicfile.Unlink(s.Tmp); err != nil {
		return fmt.Errorf("publish %s: %w", s.Final, err)
	}
	return nil
}

// seal completes p's file under its hidden name.
func (d *Dataset[T]) seal(p *partFile[T]) error {
	delete(d.parts, p.part)
	err := p.flush()
	if err == nil {
		err = p.w.Close()
	}
	if err == nil {
		err = p.f.Sync()
	}
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = atomicfile.Unlink(p.tmp)
		return fmt.Errorf("%s: %w", p.final, err)
	}
	d.sealed = append(d.sealed, Sealed{Tmp: p.tmp, Final: p.final, Rows: p.rows})
	return nil
}

// Seal completes every open file, in partition order, and returns every
// file sealed since the last Seal (those MaxOpen sealed too), for the
// caller to publish: with its checkpoint (RunFiles), or at once (Close).
func (d *Dataset[T]) Seal() ([]Sealed, error) {
	var errs []error
	for _, part := range slices.Sorted(maps.Keys(d.parts)) {
		errs = append(errs, d.seal(d.parts[part]))
	}
	out := d.sealed
	d.sealed = nil
	return out, errors.Join(errs...)
}

// Close seals and publishes every file, and returns the first error.
func (d *Dataset[T]) Close() error {
	sealed, err := d.Seal()
	errs := []error{err}
	for _, s := range sealed {
		if err := s.Publish(); err != nil {
			errs = append(errs, err)
		} else if d.spec.Published != nil {
			d.spec.Published(s.Final, s.Rows)
		}
	}
	return errors.Join(errs...)
}

// Abort drops every open file unpublished.
func (d *Dataset[T]) Abort() {
	for part, p := range d.parts {
		_ = p.f.Close()
		_ = atomicfile.Unlink(p.tmp)
		delete(d.parts, part)
	}
	for _, s := range d.sealed {
		_ = atomicfile.Unlink(s.Tmp)
	}
	d.sealed = nil
}

// NewStem returns a Stem for a writer started at t: its UTC time to the
// second and 6 random hex digits, so that two runs never share a name.
func NewStem(t time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}
