package records

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/atomicfile"
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
	// Watch, if above 0, keeps the run going: the paths are walked
	// again this often for captures not read yet, until ctx ends.
	Watch time.Duration
	// Checkpoint is how often, at most, the records written are
	// published with the state (StateName) that says what they hold.
	// Default 1 min; a checkpoint is also taken when a walk finds
	// nothing new, and at the end.
	Checkpoint time.Duration
	// FlowTopic, if set, is sent every flow record, delivered before
	// each checkpoint's state is saved.
	FlowTopic *FlowTopic
	// Upload, if set, copies each published file away under its path
	// relative to Writer.Dir ('/'-separated: packets/date=…/hour=…/NAME),
	// returning nil only once it is stored (objstore's Uploader.Upload).
	// A file not yet uploaded is in the state, tried again at each
	// checkpoint and by the next run.
	Upload func(ctx context.Context, localPath, key string) error
	// Progress, if set, is called after each checkpoint.
	Progress func(FilesResult)
}

// FilesResult is what a run over captures read and wrote.
type FilesResult struct {
	Counts
	Files   int               // captures read whole
	Done    int               // captures earlier runs read, not read again (at the first walk)
	Skipped []query.Skip      // not captures, by Walk's and Sniff's rule
	Failed  []query.FileError // read in part or not at all
	Written int               // Parquet files published
	// Checkpoints counts the states saved; Flows still open are in the
	// last one.
	Checkpoints int
	// Uploaded counts the files uploaded; Unuploaded those the state
	// still holds to upload (tried again by the next run).
	Uploaded, Unuploaded int
}

// StateName is the file in the output directory that says which
// captures its records hold, and the flows still open.
const StateName = ".records-state.json"

// state is StateName's content: what the published records hold.
type state struct {
	Version int `json:"version"`
	// Seq counts the checkpoints.
	Seq int64 `json:"seq"`
	// Done are the captures read (whole, or as far as they could be:
	// Failed), by absolute path.
	Done map[string]doneFile `json:"done"`
	// Publish are the files of the last checkpoint: sealed before the
	// state was written, published after. A start publishes any still
	// hidden (a crash between the two).
	Publish []Sealed `json:"publish,omitempty"`
	// Table holds the open flows.
	Table *TableState `json:"table,omitempty"`
	// Topic and Offsets, from the topic (RunKafka): the next offset of
	// each partition the records hold.
	Topic   string          `json:"topic,omitempty"`
	Offsets map[int32]int64 `json:"offsets,omitempty"`
	// DeadSize is the dead-letter file's size at the checkpoint: the
	// lines after it are of records consumed again.
	DeadSize int64 `json:"dead_size,omitempty"`
	// Uploads are the published files (paths relative to the output)
	// not yet uploaded, with Upload set.
	Uploads []string `json:"uploads,omitempty"`
}

type doneFile struct {
	Size   int64  `json:"size"`
	Failed string `json:"failed,omitempty"`
}

const stateVersion = 1

// run is one RunFiles or RunKafka.
type run struct {
	spec FilesSpec
	log  *slog.Logger
	w    *Writer
	st   state
	path string // of the state
	// since are the captures read since the last checkpoint, each with
	// why it could not be read whole ("" if it was).
	since  map[string]string
	passes int // walks done
	res    FilesResult
	last   time.Time // the last checkpoint

	// From the topic (RunKafka): the next offset of each partition, the
	// dead-letter file (synced before a checkpoint), and what to do
	// after one (commit).
	offsets         map[int32]int64
	dead            *os.File
	afterCheckpoint func()
}

// RunFiles reads the captures under spec.Paths that no earlier run into
// the same output read, oldest first packet first (so a flow spanning
// rotated files is one flow), and writes their records.
//
// What is published is exactly what its state says: a checkpoint seals
// every file (complete and fsynced under its hidden name), then writes
// the state — the captures read, the files to publish, the open flows —
// then publishes the files. A run that starts finds the state, publishes
// the files a crash left sealed, removes the hidden files of work after
// it, and goes on from the captures the state has not read, the open
// flows restored: after a SIGKILL at any moment, no record is lost and
// none is written twice.
//
// A capture that cannot be read whole is named in Failed, its packets
// read so far kept, and not read again. At the end of the input (without
// Watch) the flows still open are written with End "end"; when ctx ends
// they are written as parts with End "open" and saved, to go on at the
// next run.
func RunFiles(ctx context.Context, spec FilesSpec) (FilesResult, error) {
	r, err := newRun(spec)
	if err != nil {
		return FilesResult{}, err
	}
	for {
		n, err := r.pass(ctx)
		if err != nil {
			r.w.Abort()
			r.res.Counts = r.w.Counts
			return r.res, err
		}
		if ctx.Err() != nil || spec.Watch <= 0 {
			break
		}
		if n == 0 && len(r.since) > 0 {
			if err := r.checkpoint(); err != nil {
				return r.res, err
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(spec.Watch):
		}
		if ctx.Err() != nil {
			break
		}
	}
	if ctx.Err() != nil {
		r.w.table.Cut()
	} else {
		r.w.table.Flush()
	}
	err = r.checkpoint()
	r.res.Counts = r.w.Counts
	return r.res, err
}

// newRun loads the state of spec's output and makes the writer, its
// flows restored.
func newRun(spec FilesSpec) (*run, error) {
	r := &run{spec: spec, log: spec.Log, path: filepath.Join(spec.Writer.Dir, StateName)}
	r.forget()
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.spec.Checkpoint <= 0 {
		r.spec.Checkpoint = time.Minute
	}
	if err := atomicfile.MkdirAll(spec.Writer.Dir); err != nil {
		return nil, err
	}
	if err := r.load(); err != nil {
		return nil, err
	}
	if spec.FlowTopic != nil {
		r.spec.Writer.FlowOut = spec.FlowTopic.Add
	}
	r.w = NewWriter(r.spec.Writer)
	r.w.table.Restore(r.st.Table)
	r.last = time.Now()
	return r, nil
}

// load reads the state, completes the last checkpoint's publishing and
// removes hidden files no state holds.
func (r *run) load() error {
	b, err := os.ReadFile(r.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.st = state{Version: stateVersion, Done: map[string]doneFile{}}
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(b, &r.st); err != nil || r.st.Version != stateVersion {
			return fmt.Errorf("%s: not a state this version reads (%v): move it away to start over", r.path, err)
		}
		if r.st.Done == nil {
			r.st.Done = map[string]doneFile{}
		}
	}
	keep := map[string]bool{}
	for _, s := range r.st.Publish {
		if err := s.Publish(); err != nil {
			return fmt.Errorf("the last checkpoint's files: %w", err)
		}
		keep[s.Tmp] = true
	}
	// Hidden files of work after the last checkpoint: written again.
	return filepath.WalkDir(r.spec.Writer.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if name := d.Name(); strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".parquet.tmp") && !keep[p] {
			r.log.Info("removed records written after the last checkpoint: written again", "file", p)
			return atomicfile.Unlink(p)
		}
		return nil
	})
}

// capture is one capture to read, with its first packet's time.
type capture struct {
	query.Found
	first int64
	order int
}

// pass walks the paths and reads the captures not read yet; it returns
// how many it read.
func (r *run) pass(ctx context.Context) (int, error) {
	found, skipped, err := query.Walk(r.spec.Paths, r.spec.Exclude)
	r.res.Skipped = skipped
	if err != nil {
		return 0, err
	}
	var caps []capture
	first := r.passes == 0
	r.passes++
	for i, f := range found {
		_, read := r.since[f.Path]
		if _, done := r.st.Done[doneKey(f.Path)]; done || read {
			if first {
				r.res.Done++ // read by an earlier run
			}
			continue
		}
		first, err := query.FirstTime(f)
		switch {
		case errors.Is(err, query.ErrNotCapture):
			r.res.Skipped = append(r.res.Skipped, query.Skip{Path: f.Path, Reason: query.SkipNotCapture})
		case err == io.EOF:
			r.read(f) // empty: nothing to read
		case err != nil:
			r.failed(f, err)
		default:
			caps = append(caps, capture{Found: f, first: first, order: i})
		}
	}
	// Captures deleted since (retention) leave the state.
	for p := range r.st.Done {
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			delete(r.st.Done, p)
		}
	}
	slices.SortFunc(caps, func(a, b capture) int {
		return cmp.Or(cmp.Compare(a.first, b.first), cmp.Compare(a.order, b.order))
	})
	n := 0
	for _, c := range caps {
		if ctx.Err() != nil {
			break
		}
		err := readCapture(ctx, r.w, c.Found)
		var ferr fileError
		switch {
		case errors.As(err, &ferr) && errors.Is(ferr.err, context.Canceled):
			// Stopped in the middle: read again from its start next
			// time, its rows so far dropped with the uncheckpointed
			// files.
			return n, r.interrupted()
		case errors.As(err, &ferr):
			r.failed(c.Found, ferr.err)
		case err != nil:
			return n, err
		default:
			r.read(c.Found)
		}
		n++
		if time.Since(r.last) >= r.spec.Checkpoint {
			if err := r.checkpoint(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// interrupted drops what was written since the last checkpoint, so that
// the captures read since are read again whole by the next run.
func (r *run) interrupted() error {
	r.w.Abort()
	if r.spec.FlowTopic != nil {
		r.spec.FlowTopic.Discard()
	}
	r.forget()
	r.w = NewWriter(r.spec.Writer)
	r.w.table.Restore(r.st.Table)
	return nil
}

// forget empties the captures read since the last checkpoint.
func (r *run) forget() {
	r.since = map[string]string{}
}

// read notes a capture read whole, to be in the next checkpoint.
func (r *run) read(f query.Found) {
	r.since[f.Path] = ""
	r.res.Files++
}

// failed notes a capture that could not be read whole.
func (r *run) failed(f query.Found, err error) {
	r.log.Warn("capture read in part or not at all", "file", f.Path, "err", err)
	r.res.Failed = append(r.res.Failed, query.FileError{Path: f.Path, Err: err})
	r.since[f.Path] = err.Error()
}

// checkpoint seals the files written since the last one, saves the
// state that holds them, and publishes them.
func (r *run) checkpoint() error {
	if r.dead != nil {
		fi, err := r.dead.Stat()
		if err == nil {
			err = r.dead.Sync()
		}
		if err != nil {
			return fmt.Errorf("dead-letter file: %w", err)
		}
		r.st.DeadSize = fi.Size()
	}
	sealed, err := r.w.Seal()
	if err != nil {
		return err
	}
	if r.spec.FlowTopic != nil {
		if err := r.spec.FlowTopic.Deliver(); err != nil {
			return err
		}
	}
	if r.offsets != nil {
		r.st.Offsets = maps.Clone(r.offsets)
	}
	for p, failed := range r.since {
		var size int64
		if fi, err := os.Stat(p); err == nil {
			size = fi.Size()
		}
		r.st.Done[doneKey(p)] = doneFile{Size: size, Failed: failed}
	}
	r.st.Seq++
	r.st.Publish = sealed
	if r.spec.Upload != nil {
		for _, f := range sealed {
			rel, err := filepath.Rel(r.spec.Writer.Dir, f.Final)
			if err != nil {
				return err
			}
			r.st.Uploads = append(r.st.Uploads, filepath.ToSlash(rel))
		}
	}
	r.st.Table = r.w.table.Save()
	b, err := json.Marshal(&r.st)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(r.path, b); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	for _, s := range sealed {
		if err := s.Publish(); err != nil {
			return err
		}
		r.res.Written++
		r.log.Debug("published", "file", s.Final, "rows", s.Rows)
	}
	r.forget()
	r.last = time.Now()
	r.res.Checkpoints++
	r.upload()
	if r.afterCheckpoint != nil {
		r.afterCheckpoint()
	}
	r.res.Counts = r.w.Counts
	r.log.Debug("checkpoint", "seq", r.st.Seq, "published", len(sealed), "open_flows", r.w.table.Len())
	if r.spec.Progress != nil {
		r.spec.Progress(r.res)
	}
	return nil
}

// doneKey is a capture's key in the state: its absolute path, so that
// runs naming it differently agree.
func doneKey(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// upload uploads the published files the state holds to upload, in
// order; one that fails stays, for the next checkpoint or run.
func (r *run) upload() {
	if r.spec.Upload == nil {
		return
	}
	var left []string
	for _, key := range r.st.Uploads {
		if len(left) > 0 { // the store failed: the rest waits too
			left = append(left, key)
			continue
		}
		local := filepath.Join(r.spec.Writer.Dir, filepath.FromSlash(key))
		if err := r.spec.Upload(context.Background(), local, key); err != nil {
			r.log.Warn("upload failed; tried again at the next checkpoint", "file", local, "error", err)
			left = append(left, key)
			continue
		}
		r.res.Uploaded++
	}
	r.st.Uploads = left
	r.res.Unuploaded = len(left)
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
