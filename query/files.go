package query

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/fastcapa-go/fastcapa/pcap"
)

// file is one capture a query reads.
type file struct {
	path  string
	size  int64
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
}

// walk lists the files under paths in a stable order (the paths in turn,
// each directory in lexical order), recording skips. A path that does not
// exist, or cannot be listed, is an error; an entry under it that cannot
// be (a dangling link, a directory without permission) is a file with
// its error.
func walk(paths, exclude []string, st *Stats) ([]*file, error) {
	excluded := map[string]bool{}
	for _, p := range exclude {
		if a, err := filepath.Abs(p); err == nil {
			excluded[a] = true
		}
	}
	seen := map[string]bool{}
	var files []*file
	add := func(path string, fi fs.FileInfo) {
		abs, err := filepath.Abs(path)
		if err != nil {
			abs = path
		}
		switch {
		case excluded[abs]:
			st.Skipped = append(st.Skipped, Skip{path, SkipExcluded})
		case seen[abs]:
			st.Skipped = append(st.Skipped, Skip{path, SkipDuplicate})
		case !fi.Mode().IsRegular():
			st.Skipped = append(st.Skipped, Skip{path, SkipIrregular})
		default:
			seen[abs] = true
			files = append(files, &file{path: path, size: fi.Size()})
		}
	}
	for _, root := range paths {
		fi, err := os.Stat(root)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			add(root, fi)
			continue
		}
		err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if path == root {
					return err
				}
				// A directory that cannot be listed: its files are
				// not searched, which Stats.Failed says.
				files = append(files, &file{path: path, err: err})
				return nil
			}
			if path == root {
				return nil
			}
			name := d.Name()
			hidden := strings.HasPrefix(name, ".")
			switch {
			case d.IsDir() && hidden:
				st.Skipped = append(st.Skipped, Skip{path, SkipHidden})
				return filepath.SkipDir
			case d.IsDir():
				return nil
			case filepath.Ext(name) == ".idx": // index sidecars, hidden or not
				st.Skipped = append(st.Skipped, Skip{path, SkipIndex})
				return nil
			case hidden:
				st.Skipped = append(st.Skipped, Skip{path, SkipHidden})
				return nil
			case filepath.Ext(name) == ".jsonl":
				st.Skipped = append(st.Skipped, Skip{path, SkipSidecar})
				return nil
			}
			// Follow a link to a file, not one to a directory (WalkDir
			// does not descend into it: no loops).
			fi, err := os.Stat(path)
			if err != nil {
				files = append(files, &file{path: path, err: err}) // a dangling link
				return nil
			}
			add(path, fi)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("walk %s: %w", root, err)
		}
	}
	return files, nil
}

// isCapture reports whether b, a file's first bytes, starts like a
// capture package pcap reads: classic pcap (either byte order, µs or ns),
// pcapng, or a gzip, zstd or lz4 stream.
func isCapture(b []byte) bool {
	magics := [][]byte{
		{0xd4, 0xc3, 0xb2, 0xa1}, {0xa1, 0xb2, 0xc3, 0xd4}, // pcap µs
		{0x4d, 0x3c, 0xb2, 0xa1}, {0xa1, 0xb2, 0x3c, 0x4d}, // pcap ns
		{0x0a, 0x0d, 0x0d, 0x0a}, // pcapng
		{0x1f, 0x8b},             // gzip
		{0x28, 0xb5, 0x2f, 0xfd}, // zstd
		{0x04, 0x22, 0x4d, 0x18}, // lz4 frame
	}
	for _, m := range magics {
		if bytes.HasPrefix(b, m) {
			return true
		}
	}
	// zstd skippable frames: 0x184D2A50 to 0x184D2A5F, little-endian.
	return len(b) >= 4 && b[0]&0xf0 == 0x50 && b[1] == 0x2a && b[2] == 0x4d && b[3] == 0x18
}

// countingFile counts the bytes read from a file into a shared counter,
// once per read (the capture reader's buffer fills), not per record.
type countingFile struct {
	f *os.File
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
// nil). It returns errNotCapture for a file that does not start like one.
func openCapture(path string, n *atomic.Int64) (*pcap.Capture, *os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	var magic [4]byte
	k, err := io.ReadFull(f, magic[:])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		f.Close()
		return nil, nil, err
	}
	if !isCapture(magic[:k]) {
		f.Close()
		return nil, nil, errNotCapture
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

var errNotCapture = errors.New("not a capture")

// probe asks the Pruner, then opens the capture and reads its first
// record's time.
func (f *file) probe(prune Pruner) {
	if f.err != nil {
		return
	}
	if prune != nil {
		if may, known := prune(f.path); known && !may {
			f.pruned = true
			return
		}
	}
	c, fd, err := openCapture(f.path, nil)
	if err == errNotCapture {
		f.skip = SkipNotCapture
		return
	}
	if err != nil {
		f.err = err
		return
	}
	defer fd.Close()
	defer c.Close()
	rec, err := c.Next()
	switch {
	case err == io.EOF:
		f.empty = true
	case err != nil:
		f.err = err
	default:
		f.first = rec.Timestamp
	}
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
