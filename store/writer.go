package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/atomicfile"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// Finalized describes a file under its final name.
type Finalized struct {
	Path    string // Dir joined with the file's final name
	Packets int64  // records
	Bytes   int64  // file size on disk, headers included
	// CaptureBytes is the capture's size before compression or the
	// PipeCmd, headers included, as MaxBytes counts it; Bytes for plain
	// files.
	CaptureBytes int64
	// First and Last are the earliest and latest record timestamps, ns
	// since the epoch, as stored (the first and last record's when the
	// stream's times do not go back).
	First, Last int64
}

// Writer writes one stream's records into rotated capture files (pcap or
// pcapng, plain, compressed or through a PipeCmd). It is for one
// goroutine at a time.
//
// A file is created on the first record after the previous one was
// finalized, under a hidden temporary name (see the package
// documentation), and appears
// under its final name only in Finalize, complete and synced. Write and
// Tick finalize files as the Spec's rules say; Finalize and Abort end the
// open file on demand. A Writer holds no open file descriptor between
// files, so it needs no Close: end a stream with Finalize (keep the open
// file) or Abort (drop it).
//
// An I/O error on the open file (or a failed PipeCmd) sticks: Write, Tick
// and Finalize return it until Abort removes the file. The temporary file
// is left on disk otherwise, for Recover.
type Writer struct {
	spec Spec
	tmpl *template
	vars Vars
	seq  int64
	now  func() time.Time // the wall clock; tests replace it

	suffix   string        // appended to the template's name
	pipeWait time.Duration // for a PipeCmd to exit; tests shorten it

	// With Compression, records go through comp and fbuf, kept from one
	// file to the next (a zstd encoder costs megabytes to make).
	comp pcap.Compressor
	fbuf *bufio.Writer

	// the open file; tmp == "" when none. Records go pw → [comp → fbuf]
	// or [pipe] → f.
	f       *os.File
	pw      pcap.RecordWriter
	pipe    *pipe  // the PipeCmd, or nil
	dir     string // directory of the temporary and final names
	base    string // final base name, {end} unresolved
	tmp     string
	opened  time.Time // wall clock at creation
	slot    int64     // packet-time slot of the first record
	packets int64
	bytes   int64 // capture bytes, before compression
	first   int64 // earliest timestamp
	last    int64 // latest timestamp
	wrote   bool  // a record since the last Tick
	err     error // sticky I/O error on the open file

	obs Observer // or nil
	// synced, if set, is called once a file is whole and synced under
	// its temporary name, before its final name (BeforePublish).
	synced func()
}

// An Observer sees what a Writer stores, in the Writer's goroutine: each
// record as it is written to the open file, then that file published or
// dropped. Package index's Indexer is one: it builds a file's sidecar
// index from exactly what the file holds.
type Observer interface {
	// Stored is called after each record is written to the open file,
	// with the record as stored: its time and data as Writer.Stored
	// returns them, and its length on the wire. data is only valid
	// during the call.
	Stored(tsNanos int64, data []byte, origLen uint32)
	// Published is called when the open file is under its final name,
	// whole and synced (Finalize, from Write and Tick too), before it is
	// returned: f holds every record Stored reported since the last
	// Published or Dropped.
	Published(f Finalized)
	// Dropped is called when Abort removes the open file: the records
	// Stored reported since the last Published or Dropped are not stored.
	Dropped()
}

// Observe makes o see what w stores from now on; nil stops it.
func (w *Writer) Observe(o Observer) { w.obs = o }

// BeforePublish makes Finalize (from Write and Tick too) call f once the
// open file is whole and synced under its temporary name, before it is
// given its final name: a crash from then on leaves a temporary file
// Recover publishes with every record (unless it went through a PipeCmd,
// whose output Recover discards). The sink writes its journal there,
// ahead of the name. nil stops it.
func (w *Writer) BeforePublish(f func()) { w.synced = f }

// NewWriter validates spec and vars, creates spec.Dir if missing, and
// returns a Writer with no file open.
func NewWriter(spec Spec, vars Vars) (*Writer, error) {
	tmpl, err := spec.validate()
	if err != nil {
		return nil, err
	}
	if err := vars.check(tmpl); err != nil {
		return nil, err
	}
	if spec.SnapLen == 0 {
		spec.SnapLen = pcap.MaxSnapLen
	}
	if spec.Location == nil {
		spec.Location = time.UTC
	}
	// Names at their longest (largest numbers, a 36-character UUID) must
	// be valid, so that no file fails later for its name.
	maxTS := MaxTimestamp
	longest := tmpl.expand(&nameVars{
		topic: vars.Topic, partition: vars.Partition, uuid: newUUID(),
		seq: math.MaxInt64, first: maxTS, local: time.Unix(0, maxTS).In(spec.Location),
		end: strconv.FormatInt(maxTS/1e9, 10),
	})
	longest[len(longest)-1] += spec.suffix()
	if err := checkElems(longest, len(spec.PipeCmd) > 0); err != nil {
		return nil, fmt.Errorf("Template %q with %+v: %v: %w", spec.Template, vars, err, ErrSpec)
	}
	if err := atomicfile.MkdirAll(spec.Dir); err != nil {
		return nil, fmt.Errorf("create Dir: %w", err)
	}
	return &Writer{spec: spec, tmpl: tmpl, vars: vars, now: time.Now, suffix: spec.suffix(), pipeWait: pipeWait}, nil
}

// Stored is the time and the bytes Write stores for a record: the time
// cut to microseconds unless Nanos, the data cut to SnapLen.
func (w *Writer) Stored(tsNanos int64, data []byte) (int64, []byte) {
	if !w.spec.Nanos {
		tsNanos -= tsNanos % 1000
	}
	if len(data) > int(w.spec.SnapLen) {
		data = data[:w.spec.SnapLen]
	}
	return tsNanos, data
}

// Write appends one record. data is copied: the caller may reuse it when
// Write returns. Data longer than SnapLen is cut to it; origLen, the
// length on the wire, is kept (raised to len(data) if below).
//
// If the record would break a rule of the open file — MaxPackets
// records already, MaxBytes exceeded (in capture bytes), MaxSpan
// exceeded, another Slot —
// Write first finalizes that file and returns it in rotated. It then
// writes the record to the open file, creating one if none is open. So
// after a Write without error, every record before this one is in a
// finalized file or in the open file, and this one is in the open file,
// never in rotated.
//
// rotated is returned also when err is not nil. When err is not nil the
// record was not written: ErrTimestamp, a file that could not be
// created (or its PipeCmd started), or an I/O error or ErrPipe (sticky,
// see Writer).
func (w *Writer) Write(tsNanos int64, data []byte, origLen uint32) (rotated []Finalized, err error) {
	if w.err != nil {
		return nil, w.err
	}
	if err := CheckTimestamp(tsNanos); err != nil {
		return nil, err
	}
	if n := uint64(len(data)); n > uint64(origLen) {
		origLen = uint32(min(n, math.MaxUint32))
	}
	tsNanos, data = w.Stored(tsNanos, data)
	size := int64(w.spec.Format.RecordLen(len(data)))
	if w.tmp != "" && w.breaks(tsNanos, size) {
		fin, err := w.Finalize()
		if fin != nil {
			rotated = []Finalized{*fin}
		}
		if err != nil {
			return rotated, err
		}
	}
	if w.tmp == "" {
		if err := w.open(tsNanos); err != nil {
			return rotated, err
		}
	}
	if err := w.pw.Write(pcap.Record{Timestamp: tsNanos, OrigLen: origLen, Data: data}); err != nil {
		w.err = fmt.Errorf("write %s: %w", w.tmp, err)
		return rotated, w.err
	}
	w.packets++
	w.bytes += size
	w.first = min(w.first, tsNanos)
	w.last = max(w.last, tsNanos)
	w.wrote = true
	if w.obs != nil {
		w.obs.Stored(tsNanos, data, origLen)
	}
	return rotated, nil
}

// full reports whether the open file can take no more records.
func (w *Writer) full() bool {
	s := &w.spec
	return s.MaxPackets > 0 && w.packets >= s.MaxPackets || s.MaxBytes > 0 && w.bytes >= s.MaxBytes
}

// breaks reports whether a record of size bytes at ts would break a rule
// of the open file.
func (w *Writer) breaks(ts, size int64) bool {
	s := &w.spec
	switch {
	case w.full():
		return true
	case s.MaxBytes > 0 && w.bytes+size > s.MaxBytes:
		return true
	case s.MaxSpan > 0 && max(w.last, ts)-min(w.first, ts) > int64(s.MaxSpan):
		return true
	case s.Slot > 0 && ts/int64(s.Slot) != w.slot:
		return true
	}
	return false
}

// open creates the temporary file for a first record at ts.
func (w *Writer) open(ts int64) error {
	nv := nameVars{
		topic: w.vars.Topic, partition: w.vars.Partition, uuid: newUUID(), seq: w.seq,
		first: ts, local: time.Unix(0, ts).In(w.spec.Location), end: endMark,
	}
	elems := w.tmpl.expand(&nv)
	elems[len(elems)-1] += w.suffix
	piped := len(w.spec.PipeCmd) > 0
	if err := checkElems(elems, piped); err != nil {
		return fmt.Errorf("file name: %w", err)
	}
	dir := filepath.Join(append([]string{w.spec.Dir}, elems[:len(elems)-1]...)...)
	base := elems[len(elems)-1]
	tmp := filepath.Join(dir, tempBase(base, randomHex(tagBytes), piped))
	f, err := atomicfile.Create(tmp)
	if errors.Is(err, fs.ErrNotExist) {
		if err = atomicfile.MkdirAll(dir); err == nil {
			f, err = atomicfile.Create(tmp)
		}
	}
	if err != nil {
		return fmt.Errorf("create file: %w", err)
	}
	w.f = f
	if err := w.layers(); err != nil {
		w.close()
		os.Remove(tmp)
		return fmt.Errorf("create file: %w", err)
	}
	w.seq++
	w.dir, w.base, w.tmp = dir, base, tmp
	w.opened = w.now()
	w.packets, w.bytes, w.first, w.last = 0, int64(w.spec.Format.HeaderLen(w.spec.Nanos)), ts, ts
	if w.spec.Slot > 0 {
		w.slot = ts / int64(w.spec.Slot)
	}
	return nil
}

// layers sets up what goes on top of the new file w.f: the PipeCmd or the
// compressor, and the format's writer, which writes its header.
func (w *Writer) layers() error {
	var out io.Writer = w.f
	var err error
	switch {
	case len(w.spec.PipeCmd) > 0:
		if w.pipe, err = startPipe(w.spec.PipeCmd, w.f, w.pipeWait); err != nil {
			return err
		}
		out = w.pipe
	case w.spec.Compression != pcap.CompressNone:
		// Compressors write in small pieces (deflate: a few hundred
		// bytes): buffer them.
		if w.fbuf == nil {
			w.fbuf = bufio.NewWriterSize(w.f, 1<<16)
			if w.comp, err = pcap.NewCompressor(w.fbuf, w.spec.Compression, w.spec.CompressionLevel); err != nil {
				w.fbuf = nil
				return err
			}
		} else {
			w.fbuf.Reset(w.f)
			w.comp.Reset(w.fbuf)
		}
		out = w.comp
	}
	w.pw, err = pcap.NewFormatWriter(out, w.spec.Format, w.spec.Nanos, w.spec.SnapLen)
	return err // buffered: cannot fail
}

// Tick finalizes the open file if, by the wall clock now, no more
// records are due in it, so that a stream gone quiet still closes its
// files. Call it periodically (every second, say). It finalizes the file
//
//   - if it is full (MaxPackets records, or MaxBytes reached); or
//   - if no record was written since the previous Tick — so Tick never
//     splits a file that Write's packet-time rules would keep whole: a
//     consumer catching up on old records, packets arriving late — and
//     either Slot > 0 and now has reached the end of the file's slot (the
//     slot of its first packet's timestamp or the slot of the wall clock
//     when the file was created, whichever ends first, so a file of old
//     packets or of packets stamped in the future also closes), or
//     MaxSpan > 0 and MaxSpan has passed on the wall clock since the file
//     was created.
//
// A quiet file thus closes at most two Tick intervals after its time is
// up. With neither Slot nor MaxSpan, only a full file is closed by Tick.
func (w *Writer) Tick(now time.Time) ([]Finalized, error) {
	if w.err != nil {
		return nil, w.err
	}
	if w.tmp == "" {
		return nil, nil
	}
	wrote := w.wrote
	w.wrote = false
	due := w.full()
	if !wrote {
		if s := int64(w.spec.Slot); s > 0 {
			end := min(satAdd(w.slot*s, s), satAdd(floorDiv(w.opened.UnixNano(), s)*s, s))
			due = due || now.UnixNano() >= end
		}
		if w.spec.MaxSpan > 0 && now.Sub(w.opened) >= w.spec.MaxSpan {
			due = true
		}
	}
	if !due {
		return nil, nil
	}
	fin, err := w.Finalize()
	if fin == nil {
		return nil, err
	}
	return []Finalized{*fin}, err
}

func satAdd(a, b int64) int64 {
	if c := a + b; c >= a {
		return c
	}
	return math.MaxInt64
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// Finalize ends the open file and returns it; nil if none is open. It
// flushes the records, ends the compressed stream (or closes the
// PipeCmd's stdin and waits for it to exit 0), fsyncs and closes the
// file, links it under its final name ({end} resolved, the suffix
// appended) — atomically, and never over an existing file —, removes the
// temporary name and fsyncs the directory.
//
// Collisions: if the final name exists, the file takes the first free of
// "<name>.1.pcap", "<name>.2.pcap", … (for a name ending in ".pcap" or
// ".pcapng", before the compression's or PipeSuffix if any:
// "<name>.1.pcap.gz"; else "<name>.1", …), up to .1000, then fails with
// ErrExists. Finalized.Path is the name it got.
//
// The link needs a filesystem with hard links (ext4, XFS, Btrfs, ZFS,
// tmpfs, NFS all have them). Between the link and the removal both names
// exist; Recover finishes that step after a crash.
func (w *Writer) Finalize() (*Finalized, error) {
	if w.err != nil {
		return nil, w.err
	}
	if w.tmp == "" {
		return nil, nil
	}
	var size int64 // on disk
	if w.f != nil {
		err := w.finish()
		if err == nil {
			err = w.f.Sync()
		}
		if err == nil {
			var fi os.FileInfo
			fi, err = w.f.Stat()
			if err == nil {
				size = fi.Size()
			}
		}
		if cerr := w.close(); err == nil {
			err = cerr
		}
		if err != nil {
			w.err = fmt.Errorf("finalize %s: %w", w.tmp, err)
			return nil, w.err
		}
	}
	if w.synced != nil {
		w.synced()
	}
	base := strings.ReplaceAll(w.base, endMark, strconv.FormatInt(w.last/1e9, 10))
	path, err := publish(w.tmp, w.dir, base, w.suffix)
	if err != nil {
		w.err = fmt.Errorf("finalize %s: %w", w.tmp, err)
		return nil, w.err
	}
	fin := &Finalized{Path: path, Packets: w.packets, Bytes: size, CaptureBytes: w.bytes, First: w.first, Last: w.last}
	tmp := w.tmp
	w.tmp = ""
	// The file is complete under its final name: what follows only
	// tidies up, and a crash before it is what Recover handles.
	err = atomicfile.Unlink(tmp)
	if w.obs != nil {
		w.obs.Published(*fin)
	}
	if err != nil {
		return fin, fmt.Errorf("finalize %s: %w", path, err)
	}
	return fin, nil
}

// finish flushes every layer above the file: the records, the
// compressor's end of stream and its buffer, or the PipeCmd's stdin and
// its exit.
func (w *Writer) finish() error {
	err := w.pw.Flush()
	if w.spec.Compression != pcap.CompressNone {
		if cerr := w.comp.Close(); err == nil {
			err = cerr
		}
		if ferr := w.fbuf.Flush(); err == nil {
			err = ferr
		}
	}
	if w.pipe != nil {
		// The command's failure explains a write error to it.
		if perr := w.pipe.finish(); perr != nil {
			err = perr
		}
	}
	return err
}

// close closes the open file and forgets its layers (the compressor is
// reset for the next file); a PipeCmd still running is killed and waited
// for.
func (w *Writer) close() error {
	if w.pipe != nil {
		w.pipe.kill()
	}
	err := w.f.Close()
	w.f, w.pw, w.pipe = nil, nil, nil
	return err
}

// Abort closes the open file and removes it, dropping its records (and
// killing its PipeCmd). It clears a sticky error. A Writer can write
// again after Abort.
func (w *Writer) Abort() error {
	w.err = nil
	if w.tmp == "" {
		return nil
	}
	if w.f != nil {
		w.close()
	}
	tmp := w.tmp
	w.tmp = ""
	if w.obs != nil {
		w.obs.Dropped()
	}
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("abort: %w", err)
	}
	return nil
}
