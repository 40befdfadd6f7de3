package records

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/fastcapa-go/fastcapa/query"
)

// FilesSpec is a run over captures: the files and directories to read
// (a directory is walked as a query walks it: store.Walk's rule, so a
// file the sink is still writing is never read) and the Writer's spec.
type FilesSpec struct {
	Paths   []string
	Exclude []string
	Writer  WriterSpec
	Log     *slog.Logger
	// Progress, if set, is called after each file.
	Progress func(FilesResult)
}

// FilesResult is what a run over captures read and wrote.
type FilesResult struct {
	Counts
	Files   int               // captures read whole
	Skipped []query.Skip      // not captures, by Walk's and Sniff's rule
	Failed  []query.FileError // read in part or not at all: the answer is incomplete
	Written int               // Parquet files published
}

// capture is one capture to read, with its first packet's time.
type capture struct {
	query.Found
	first int64
	order int
}

// RunFiles reads the captures under spec.Paths, oldest first packet
// first (so flows spanning rotated files join), and writes their
// records. A capture that cannot be read whole is named in Failed, its
// packets read so far kept; reading goes on. When ctx ends the flows
// still open are written as "open"; at the end of the input, as "end".
func RunFiles(ctx context.Context, spec FilesSpec) (FilesResult, error) {
	var res FilesResult
	log := spec.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	found, skipped, err := query.Walk(spec.Paths, spec.Exclude)
	res.Skipped = skipped
	if err != nil {
		return res, err
	}
	var caps []capture
	for i, f := range found {
		c, fd, err := query.OpenCapture(f)
		if errors.Is(err, query.ErrNotCapture) {
			res.Skipped = append(res.Skipped, query.Skip{Path: f.Path, Reason: query.SkipNotCapture})
			continue
		}
		if err != nil {
			res.Failed = append(res.Failed, query.FileError{Path: f.Path, Err: err})
			continue
		}
		rec, err := c.Next()
		c.Close()
		fd.Close()
		switch {
		case err == io.EOF:
			res.Files++ // empty: nothing to read
			continue
		case err != nil:
			res.Failed = append(res.Failed, query.FileError{Path: f.Path, Err: err})
			continue
		}
		caps = append(caps, capture{Found: f, first: rec.Timestamp, order: i})
	}
	slices.SortFunc(caps, func(a, b capture) int {
		return cmp.Or(cmp.Compare(a.first, b.first), cmp.Compare(a.order, b.order))
	})
	ws := spec.Writer
	published := ws.Published
	ws.Published = func(path string, rows int64) {
		res.Written++
		log.Debug("published", "file", path, "rows", rows)
		if published != nil {
			published(path, rows)
		}
	}
	w := NewWriter(ws)
	for _, c := range caps {
		if ctx.Err() != nil {
			break
		}
		if err := readCapture(ctx, w, c.Found); err != nil {
			var ferr fileError
			if !errors.As(err, &ferr) {
				res.Counts = w.Counts
				return res, errors.Join(err, w.Close("open"))
			}
			res.Failed = append(res.Failed, query.FileError{Path: c.Path, Err: ferr.err})
			log.Warn("capture read in part", "file", c.Path, "err", ferr.err)
		} else {
			res.Files++
		}
		res.Counts = w.Counts
		if spec.Progress != nil {
			spec.Progress(res)
		}
	}
	end := "end"
	if ctx.Err() != nil {
		end = "open"
	}
	err = w.Close(end)
	res.Counts = w.Counts
	return res, err
}

// fileError is a capture that could not be read whole: the run goes on.
type fileError struct{ err error }

func (e fileError) Error() string { return e.err.Error() }

// readCapture writes the records of one capture. An error reading it is
// a fileError; any other is the writer's.
func readCapture(ctx context.Context, w *Writer, f query.Found) error {
	c, fd, err := query.OpenCapture(f)
	if err != nil {
		return fileError{err}
	}
	defer fd.Close()
	defer c.Close()
	for n := int64(1); ; n++ {
		if n&4095 == 0 && ctx.Err() != nil {
			return fileError{fmt.Errorf("stopped at record %d: %w", n, ctx.Err())}
		}
		rec, err := c.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fileError{fmt.Errorf("record %d: %w", n, err)}
		}
		if err := w.Add(rec.Timestamp, rec.OrigLen, rec.LinkType, rec.Data, f.Path, n); err != nil {
			return err
		}
	}
}
