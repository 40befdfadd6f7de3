package query

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/fastcapa-go/fastcapa/index"
	"github.com/fastcapa-go/fastcapa/pcap"
	"github.com/fastcapa-go/fastcapa/store"
)

// file is one capture a query reads.
type file struct {
	Found
	first int64 // first record's timestamp
	order int   // position in the merge order: ties go to the lower

	// Probe results.
	pruned bool
	skip   string // a Skip… reason: not a capture after all
	empty  bool   // no record
	err    error  // opening or reading the first record failed

	// Written by the file's reader, read by Run after it closed ch.
	ch            chan *batch
	packets       int64
	otherLinkType int64
	complete      bool // read to its end or error

	ended bool // its reader has ended (scanner.mu)
}

// Found is a file Walk found: one to read, if Sniff says it is a
// capture, or an entry that could not be listed or followed (Err).
type Found struct {
	Path  string
	Size  int64
	Named bool  // named in the paths, not found in a directory
	Err   error // a directory that cannot be listed, a dangling link

	// Open, if set, reads a capture that is not a local file (Spec's
	// Sources: another server's answer, an object): Path only names it.
	// It is not sniffed: a source is a capture. ctx ends when the query
	// no longer needs it (its reads must end then too).
	Open func(ctx context.Context) (io.ReadCloser, error)
	// Stream marks a source that can be read only once: it is not
	// probed for its first record, nor pruned, and the merge opens it
	// when the query starts. Its records must be in time order (another
	// query's answer is).
	Stream bool
}

// Walk lists the files under paths in a stable order (the paths in turn,
// each directory in lexical order), and the files it skips with the
// reason, by store.Walk's classification: hidden files and directories
// (the sink's temporary files), *.idx (sidecar indexes, hidden or not),
// *.jsonl (dead letters), what is not a regular file (a link to a directory is not followed: no
// loops), the paths in exclude, and a file reached twice. A file named in
// paths is listed even if hidden. A path that does not exist, or cannot
// be listed, is an error; an entry under it that cannot be (a dangling
// link, a directory without permission) is listed with its error.
//
// Walk and Sniff are the one rule for which files queries and pcapstore
// index read, and which of them failing makes an answer incomplete.
func Walk(paths, exclude []string) ([]Found, []Skip, error) {
	excluded := map[string]bool{}
	for _, p := range exclude {
		if a, err := filepath.Abs(p); err == nil {
			excluded[a] = true
		}
	}
	seen := map[string]bool{}
	var files []Found
	var skipped []Skip
	add := func(path string, fi fs.FileInfo, named bool) {
		abs, err := filepath.Abs(path)
		if err != nil {
			abs = path
		}
		switch {
		case excluded[abs]:
			skipped = append(skipped, Skip{path, SkipExcluded})
		case seen[abs]:
			skipped = append(skipped, Skip{path, SkipDuplicate})
		case !fi.Mode().IsRegular():
			skipped = append(skipped, Skip{path, SkipIrregular})
		default:
			seen[abs] = true
			files = append(files, Found{Path: path, Size: fi.Size(), Named: named})
		}
	}
	for _, root := range paths {
		fi, err := os.Stat(root)
		if err != nil {
			return nil, skipped, err
		}
		if !fi.IsDir() {
			add(root, fi, true)
			continue
		}
		err = store.Walk(root, func(e store.Entry) error {
			if e.Err != nil {
				// A directory that cannot be listed: its files are
				// not searched, which the caller reports.
				files = append(files, Found{Path: e.Path, Err: e.Err})
				return nil
			}
			switch e.Kind {
			case store.Sidecar: // index sidecars, hidden or not
				skipped = append(skipped, Skip{e.Path, SkipIndex})
			case store.DeadLetter:
				skipped = append(skipped, Skip{e.Path, SkipSidecar})
			case store.HiddenDir, store.Hidden, store.Temp, store.Rewrite, store.AtomicTemp:
				skipped = append(skipped, Skip{e.Path, SkipHidden})
			default: // Capture, Link, Other
				// Follow a link to a file, not one to a directory
				// (Walk does not descend into it: no loops).
				fi, err := os.Stat(e.Path)
				if err != nil {
					files = append(files, Found{Path: e.Path, Err: err}) // a dangling link
					return nil
				}
				add(e.Path, fi, false)
			}
			return nil
		})
		if err != nil {
			return nil, skipped, fmt.Errorf("walk %s: %w", root, err)
		}
	}
	return files, skipped, nil
}

// walk is Walk, recording the skips in st.
func walk(paths, exclude []string, st *Stats) ([]*file, error) {
	found, skipped, err := Walk(paths, exclude)
	st.Skipped = append(st.Skipped, skipped...)
	if err != nil {
		return nil, err
	}
	files := make([]*file, len(found))
	for i, f := range found {
		files[i] = &file{Found: f, err: f.Err}
	}
	return files, nil
}

// ErrNotCapture is a file that is clearly not a capture (Sniff).
var ErrNotCapture = errors.New("not a capture")

// Sniff reads the first bytes of a file Walk found and returns
// ErrNotCapture if it is clearly not a capture: not named in the paths,
// not named like one (pcap.HasCaptureName), without a sidecar index
// (index.SidecarPath), and not starting like one (pcap.HasMagic). Such a
// file is skipped, and said so. Any other file is a capture: one that
// cannot be read whole — a corrupt header, a compression other than its
// name says, a format package pcap does not read, a record cut short —
// is a failure, and the answer incomplete. Sniff returns nil for a
// capture, or the error opening it (f.Err if set).
func Sniff(f Found) error {
	if f.Err != nil {
		return f.Err
	}
	fd, err := os.Open(f.Path)
	if err != nil {
		return err
	}
	defer fd.Close()
	return sniff(fd, f)
}

// sniff reads fd's first bytes and applies Sniff's rule.
func sniff(fd *os.File, f Found) error {
	var magic [4]byte
	k, err := io.ReadFull(fd, magic[:])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return err
	}
	if f.Named || pcap.HasMagic(magic[:k]) || pcap.HasCaptureName(f.Path) {
		return nil
	}
	if _, err := os.Lstat(index.SidecarPath(f.Path)); err == nil {
		return nil
	}
	return ErrNotCapture
}

// countingFile counts the bytes read from a file into a shared counter,
// once per read (the capture reader's buffer fills), not per record.
type countingFile struct {
	f io.Reader
	n *atomic.Int64
}

func (c *countingFile) Read(p []byte) (int, error) {
	n, err := c.f.Read(p)
	if c.n != nil {
		c.n.Add(int64(n))
	}
	return n, err
}

// openCapture opens a capture, counting the bytes read into n (may be
// nil), and returns it with what to close after it. It returns
// ErrNotCapture for a file that is clearly not one (Sniff).
func openCapture(ctx context.Context, found Found, n *atomic.Int64) (*pcap.Capture, io.Closer, error) {
	if found.Open != nil {
		rc, err := found.Open(ctx)
		if err != nil {
			return nil, nil, err
		}
		c, err := pcap.Open(&countingFile{f: rc, n: n})
		if err != nil {
			rc.Close()
			return nil, nil, err
		}
		return c, rc, nil
	}
	f, err := os.Open(found.Path)
	if err != nil {
		return nil, nil, err
	}
	if err := sniff(f, found); err != nil {
		f.Close()
		return nil, nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, err
	}
	c, err := pcap.Open(&countingFile{f: f, n: n})
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return c, f, nil
}

// probe asks the Pruner, then opens the capture and reads its first
// record's time.
func (f *file) probe(prune Pruner) {
	if f.err != nil {
		return
	}
	if f.Stream {
		f.first = math.MinInt64 // opened first, read once
		return
	}
	if prune != nil {
		if may, known := prune(f.Path); known && !may {
			f.pruned = true
			return
		}
	}
	first, err := FirstTime(f.Found)
	switch {
	case err == ErrNotCapture:
		f.skip = SkipNotCapture
	case err == io.EOF:
		f.empty = true
	case err != nil:
		f.err = err
	default:
		f.first = first
	}
}

// FirstTime opens a file Walk found as a capture and returns its first
// record's time: ErrNotCapture for a file Sniff says is not one, io.EOF
// for a capture that holds no record, or the error opening or reading
// it. Queries order and prune files by it, pcapstore records orders
// them.
func FirstTime(found Found) (int64, error) {
	c, fd, err := openCapture(context.Background(), found, nil)
	if err != nil {
		return 0, err
	}
	defer fd.Close()
	defer c.Close()
	rec, err := c.Next()
	if err != nil {
		return 0, err
	}
	return rec.Timestamp, nil
}

// probeAll probes files with up to workers goroutines.
func probeAll(files []*file, workers int, prune Pruner) {
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range min(workers, len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(files) {
					return
				}
				files[i].probe(prune)
			}
		}()
	}
	wg.Wait()
}

// OpenCapture opens a file Walk found as a capture: ErrNotCapture for a
// file Sniff says is not one, else the reader and the file to close
// after it. pcapstore records reads captures through it.
func OpenCapture(found Found) (*pcap.Capture, io.Closer, error) {
	return openCapture(context.Background(), found, nil)
}
