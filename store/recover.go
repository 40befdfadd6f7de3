package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fastcapa-go/fastcapa/pcap"
)

// Recover finishes what a crash left in dir: the Writers' temporary files,
// named
//
//	.<base>.<16 hex digits>.inprogress
//
// beside their final name, where <base> is the final base name with
// "{end}" standing for the latest packet's epoch seconds. Run it before
// any Writer writes under dir, never while one does: it would take that
// Writer's open file for a leftover.
//
// It walks dir and its subdirectories (not hidden ones). For each
// temporary file:
//
//   - a valid pcap header followed by at least one whole record: the file
//     is truncated after its last whole record (a record cut short, or
//     what follows a corrupt record header, is dropped), fsynced, and
//     published under its final name as Finalize does — never over an
//     existing file, with a numeric suffix on collision, or, when the
//     final name is already this file's own link (a crash between link and
//     removal), under that name. It is listed in recovered;
//   - no valid header, or no whole record: it holds no packet; it is
//     deleted and listed in discarded.
//
// Every other file, final ones included, is left as it is. A file that
// fails (an I/O error, ErrExists) is left in place, and its error joined
// into err; Recover goes on with the others.
func Recover(dir string) (recovered []Finalized, discarded []string, err error) {
	var errs []error
	walkErr := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			errs = append(errs, err)
			return nil
		}
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		base, ok := parseTempName(d.Name())
		if !ok || !d.Type().IsRegular() {
			return nil
		}
		fin, gone, err := recoverFile(p, base)
		if fin != nil {
			recovered = append(recovered, *fin)
		}
		if gone {
			discarded = append(discarded, p)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("recover %s: %w", p, err))
		}
		return nil
	})
	if walkErr != nil {
		errs = append(errs, fmt.Errorf("recover %s: %w", dir, walkErr))
	}
	return recovered, discarded, errors.Join(errs...)
}

// recoverFile publishes the whole records of the temporary file p (fin),
// or deletes it (gone) if it holds none. Either may come with an error
// from the steps after.
func recoverFile(p, base string) (fin *Finalized, gone bool, err error) {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	fin = &Finalized{Bytes: 24}
	if r, err := pcap.NewReader(f); err == nil {
		for {
			rec, err := r.Next()
			if err != nil {
				// io.EOF, or a record cut short or corrupt: keep what
				// came before. (pcap.Reader reports a read error as
				// ErrFormat too.)
				if err != io.EOF && !errors.Is(err, pcap.ErrFormat) {
					return nil, false, err
				}
				break
			}
			if fin.Packets == 0 {
				fin.First, fin.Last = rec.Timestamp, rec.Timestamp
			}
			fin.Packets++
			fin.Bytes += int64(16 + len(rec.Data))
			fin.First = min(fin.First, rec.Timestamp)
			fin.Last = max(fin.Last, rec.Timestamp)
		}
	}
	dir := filepath.Dir(p)
	if fin.Packets == 0 {
		f.Close()
		if err := os.Remove(p); err != nil {
			return nil, false, err
		}
		return nil, true, syncDir(dir)
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	if fi.Size() > fin.Bytes {
		if err := f.Truncate(fin.Bytes); err != nil {
			return nil, false, err
		}
	}
	if err := f.Sync(); err != nil {
		return nil, false, err
	}
	if err := f.Close(); err != nil {
		return nil, false, err
	}
	final := strings.ReplaceAll(base, endMark, strconv.FormatInt(fin.Last/1e9, 10))
	if fin.Path, err = publish(p, dir, final); err != nil {
		return nil, false, err
	}
	err = os.Remove(p)
	if serr := syncDir(dir); err == nil {
		err = serr
	}
	return fin, false, err
}
