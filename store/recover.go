package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/fastcapa-go/fastcapa/internal/atomicfile"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// Discarded is a temporary file Recover deleted, and why.
type Discarded struct {
	Path   string
	Reason string
}

// Recover finishes what a crash left under dir: it publishes the whole
// records of each Writer's temporary file (Temp, in directories Walk
// enters) under the file's final name, as Finalize would have — never
// over an existing file — and lists them in recovered; it deletes the
// temporary files that hold no whole record or were written through a
// PipeCmd (whose output cannot be read back), listed in discarded, and
// Recover's own unfinished rewrites. Every other file, final ones
// included, is left as it is. A file that fails (an I/O error,
// ErrExists) is left in place and its error joined into err, as is an
// entry that cannot be read; Recover goes on with the others. The
// records of a discarded file were never in a finalized file, so the
// caller never committed them: they are consumed again.
//
// Run it before any Writer writes under dir, never while one does: it
// would take that Writer's open file for a leftover. How each file is
// recovered is in the package documentation (Recovery).
// RecoverWithReasons says why each file was discarded.
func Recover(dir string) (recovered []Finalized, discarded []string, err error) {
	recovered, why, err := RecoverWithReasons(dir)
	for _, d := range why {
		discarded = append(discarded, d.Path)
	}
	return recovered, discarded, err
}

// RecoverWithReasons is Recover, with the reason each file was discarded.
func RecoverWithReasons(dir string) (recovered []Finalized, discarded []Discarded, err error) {
	var errs []error
	walkErr := Walk(dir, func(e Entry) error {
		switch {
		case e.Err != nil:
			errs = append(errs, e.Err)
		case !e.Type.IsRegular():
		case e.Kind == Rewrite:
			// An interrupted rewrite; its source is still there (or was
			// just renamed over by this run: then p is gone).
			if err := os.Remove(e.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("recover %s: %w", e.Path, err))
			}
		case e.Kind == Temp:
			fin, reason, err := recoverFile(e.Path, e.Of, e.Piped)
			if fin != nil {
				recovered = append(recovered, *fin)
			}
			if reason != "" {
				discarded = append(discarded, Discarded{Path: e.Path, Reason: reason})
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("recover %s: %w", e.Path, err))
			}
		}
		return nil
	})
	if walkErr != nil {
		errs = append(errs, fmt.Errorf("recover %s: %w", dir, walkErr))
	}
	return recovered, discarded, errors.Join(errs...)
}

// Reasons for discarding a temporary file.
const (
	reasonPiped    = "written through PipeCmd, whose output cannot be read back; its records were never committed and are consumed again"
	reasonNoHeader = "no valid capture header"
	reasonNoRecord = "no whole record"
)

// recoverFile publishes the whole records of the temporary file p (fin),
// or deletes it and says why (reason). Either may come with an error
// from the steps after.
func recoverFile(p, base string, piped bool) (fin *Finalized, reason string, err error) {
	dir := filepath.Dir(p)
	discard := func(why string) (*Finalized, string, error) {
		if err := os.Remove(p); err != nil {
			return nil, "", err
		}
		return nil, why, atomicfile.SyncDir(dir)
	}
	if piped {
		return discard(reasonPiped)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	c, err := pcap.Open(f)
	if errors.Is(err, pcap.ErrFormat) {
		f.Close()
		return discard(reasonNoHeader)
	}
	if err != nil {
		return nil, "", err
	}
	defer c.Close()
	plain := c.Format() == pcap.FormatPcap && c.Compression() == pcap.CompressNone
	var st stats
	switch {
	case plain:
		st, err = count(c)
		if err == nil && st.Packets > 0 {
			// Where the last whole record ends in the file: a record
			// longer than the snapshot length is read cut, but kept.
			size := c.Offset()
			err = truncate(f, size)
			st.Bytes, st.CaptureBytes = size, size
		}
	case linked(f):
		// Published already, hence complete: only the removal is left.
		if st, err = count(c); err == nil {
			var fi os.FileInfo
			if fi, err = f.Stat(); err == nil {
				st.Bytes = fi.Size()
			}
		}
	default:
		st, err = rewrite(c, p)
	}
	if err != nil {
		return nil, "", err
	}
	if st.Packets == 0 {
		f.Close()
		return discard(reasonNoRecord)
	}
	if err := f.Close(); err != nil {
		return nil, "", err
	}
	fin = &st.Finalized
	ext := c.Compression().Suffix()
	if !strings.HasSuffix(base, ext) {
		ext = ""
	}
	final := strings.ReplaceAll(base, endMark, strconv.FormatInt(fin.Last/1e9, 10))
	if fin.Path, err = publish(p, dir, final, ext); err != nil {
		return nil, "", err
	}
	return fin, "", atomicfile.Unlink(p)
}

// stats describe the whole records of a file as they are read.
type stats struct{ Finalized }

func (s *stats) add(format pcap.Format, nanos bool, rec pcap.Record) {
	if s.Packets == 0 {
		s.First, s.Last = rec.Timestamp, rec.Timestamp
		s.CaptureBytes = int64(format.HeaderLen(nanos))
	}
	s.Packets++
	s.CaptureBytes += int64(format.RecordLen(len(rec.Data)))
	s.First = min(s.First, rec.Timestamp)
	s.Last = max(s.Last, rec.Timestamp)
}

// errStop, returned by wholeRecords' fn, ends the whole records there.
var errStop = errors.New("stop")

// wholeRecords calls fn with each whole record of c: up to the end, or to
// a record cut short or corrupt. An I/O error is returned.
func wholeRecords(c *pcap.Capture, fn func(pcap.Record) error) error {
	for {
		rec, err := c.Next()
		if err == io.EOF || errors.Is(err, pcap.ErrFormat) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(rec); err == errStop {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// count reads c's whole records (Bytes left for the caller).
func count(c *pcap.Capture) (stats, error) {
	var st stats
	err := wholeRecords(c, func(rec pcap.Record) error {
		st.add(c.Format(), c.Interfaces()[rec.Interface].TSResol != 6, rec)
		return nil
	})
	return st, err
}

// truncate cuts f to size and fsyncs it.
func truncate(f *os.File, size int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() > size {
		if err := f.Truncate(size); err != nil {
			return err
		}
	}
	return f.Sync()
}

// linked reports whether f has another name: a final one.
func linked(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink > 1
}

// rewrite writes c's whole records into a new file of the same format
// and compression beside p, fsyncs it and renames it over p (then
// fsyncs the directory). With no whole record it writes nothing. The
// precision is the first record's interface's; a record the new file
// could not hold as it is read (a time before the epoch, or finer than
// the precision: never in a Writer's file) ends the whole records.
func rewrite(c *pcap.Capture, p string) (stats, error) {
	var st stats
	var nanos bool
	tmp := strings.TrimSuffix(p, tempSuffix) + recoverSuffix
	var (
		out  *os.File
		buf  *bufio.Writer
		comp pcap.Compressor
		pw   pcap.RecordWriter
	)
	fail := func(err error) (stats, error) {
		if out != nil {
			out.Close()
			os.Remove(tmp)
		}
		return stats{}, err
	}
	err := wholeRecords(c, func(rec pcap.Record) error {
		if pw == nil {
			in := c.Interfaces()[rec.Interface]
			nanos = in.TSResol != 6
			var err error
			if out, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644); err != nil {
				return err
			}
			buf = bufio.NewWriterSize(out, 1<<16)
			if comp, err = pcap.NewCompressor(buf, c.Compression(), 0); err != nil {
				return err
			}
			if pw, err = pcap.NewFormatWriter(comp, c.Format(), nanos, in.SnapLen); err != nil {
				return err
			}
		}
		if rec.Timestamp < 0 || !nanos && rec.Timestamp%1000 != 0 {
			return errStop
		}
		st.add(c.Format(), nanos, rec)
		return pw.Write(rec)
	})
	if err != nil {
		return fail(err)
	}
	if pw == nil {
		return st, nil
	}
	err = pw.Flush()
	if err == nil {
		err = comp.Close()
	}
	if err == nil {
		err = buf.Flush()
	}
	if err == nil {
		err = out.Sync()
	}
	if err == nil {
		var fi os.FileInfo
		if fi, err = out.Stat(); err == nil {
			st.Bytes = fi.Size()
		}
	}
	if err != nil {
		return fail(err)
	}
	if err := out.Close(); err != nil {
		out = nil
		os.Remove(tmp)
		return stats{}, err
	}
	out = nil
	if err := atomicfile.Replace(tmp, p); err != nil {
		os.Remove(tmp) // gone already if renamed
		return stats{}, err
	}
	return st, nil
}
