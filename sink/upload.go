package sink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fastcapa-go/fastcapa/index"
	"github.com/fastcapa-go/fastcapa/store"
)

// A target with Upload set sends each finalized file away (to an object
// store) and keeps its directory as a spool:
//
//   - a finalized file joins its output's pending list with the offsets
//     it holds; the target's uploader goroutine sends files in the order
//     they were finalized;
//   - an output counts as durable only up to the first record of its
//     oldest file not yet uploaded, so offsets are committed only for
//     records in confirmed objects;
//   - once uploaded, the local file is deleted; an upload that fails is
//     tried again, the file kept, consuming goes on (a spool that fills
//     its disk stops the sink as any full disk does).
//
// Files left in the spool by an earlier run (finalized, or recovered from
// a crash) are uploaded first; their records were not committed, so they
// are consumed again too: duplicates, counted as recovered.

// uploadRetry is the wait before a failed upload is tried again.
const uploadRetry = 5 * time.Second

// upload is one file to send, and the output it frees once sent (nil for
// a file left by an earlier run).
type upload struct {
	t    *target
	o    *output
	path string
	err  error // after the attempt
}

// pending is a finalized file of an output not yet uploaded: it holds the
// output's records from offset from (its first) on.
type pending struct {
	path string
	from int64
}

// startUploads starts each uploading target's goroutine and queues the
// files a previous run left in its spool (found by newSink).
func (s *Sink) startUploads(ctx context.Context) {
	for _, t := range s.targets {
		if t.spec.Upload == nil {
			continue
		}
		t.queue = make(chan *upload, 64)
		s.uploaders.Add(1)
		go s.uploader(ctx, t)
		for _, p := range t.left {
			s.log.Warn("uploading a file left in the spool by an earlier run", "target", t.spec.Name, "path", p)
			hand(t.queue, &t.upBacklog, &upload{t: t, path: p})
			s.inflight++
		}
		t.left = nil
	}
}

// spooled lists the finished captures under dir (store.Walk), the
// dead-letter file aside. An entry that cannot be read is an error: its
// files would never be uploaded.
func spooled(dir, deadLetter string) ([]string, error) {
	var files []string
	var errs []error
	err := store.Walk(dir, func(e store.Entry) error {
		switch {
		case e.Err != nil:
			errs = append(errs, e.Err)
		case e.Kind == store.Capture && e.Path != deadLetter:
			files = append(files, e.Path)
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return files, fmt.Errorf("spool %s: %w", dir, err)
	}
	return files, nil
}

// uploader sends t's files one after the other, each until it succeeds
// or ctx ends, and reports each to Run.
func (s *Sink) uploader(ctx context.Context, t *target) {
	defer s.uploaders.Done()
	for u := range t.queue {
		for {
			err := s.uploadOne(ctx, t, u.path)
			if err == nil || ctx.Err() != nil {
				u.err = err
				break
			}
			t.uploadErrors.Add(1)
			s.log.Error("upload failed; trying again", "target", t.spec.Name, "path", u.path, "error", err, "in", uploadRetry)
			select {
			case <-ctx.Done():
			case <-time.After(uploadRetry):
			}
		}
		s.uploaded <- u
	}
}

// uploadOne sends a file, then its sidecar index if it has one, under
// the sidecar name of the key the file got: a reader of the bucket finds
// it as a query finds a local one. Both are sent again after a failure
// (a file already there is found, not copied twice).
func (s *Sink) uploadOne(ctx context.Context, t *target, path string) error {
	key, err := filepath.Rel(t.spec.Store.Dir, path)
	if err != nil {
		return err
	}
	stored, err := t.spec.Upload(ctx, path, filepath.ToSlash(key))
	if err != nil {
		return err
	}
	sidecar := index.SidecarPath(path)
	if _, err := os.Stat(sidecar); err != nil {
		return nil // none: readers scan the object whole
	}
	_, err = t.spec.Upload(ctx, sidecar, filepath.ToSlash(index.SidecarPath(stored)))
	return err
}

// finalized records files an output finalized: the output's records from
// from on are in them (from is its durable offset while they were open).
func (s *Sink) finalized(o *output, fins []store.Finalized, from int64) {
	o.t.files.Add(uint64(len(fins)))
	if st, ok := s.parts[o.partition]; ok {
		st.unjournaled = true
	}
	if o.t.cmds != nil {
		for _, f := range fins {
			s.addCommand(o.t, f.Path, o.partition, from)
		}
	}
	if o.t.queue == nil {
		return
	}
	for _, f := range fins {
		o.pending = append(o.pending, pending{path: f.Path, from: from})
		s.inflight++
		hand(o.t.queue, &o.t.upBacklog, &upload{t: o.t, o: o, path: f.Path})
	}
}

// done takes an upload's result: the local file goes, and its output's
// durable offset moves on.
func (s *Sink) done(u *upload) error {
	s.inflight--
	handOn(u.t.queue, &u.t.upBacklog)
	if u.err != nil { // only when stopping
		return nil
	}
	u.t.uploadedFiles.Add(1)
	for _, p := range []string{u.path, index.SidecarPath(u.path)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("uploaded, but the spool copy stays", "target", u.t.spec.Name, "path", p, "error", err)
		}
	}
	if u.o == nil || len(u.o.pending) == 0 || u.o.pending[0].path != u.path {
		return nil
	}
	u.o.pending = u.o.pending[1:]
	if st, ok := s.parts[u.o.partition]; ok && st.outs[u.o.index] == u.o {
		st.unjournaled = true
		return s.tryCommit(u.o.partition, st)
	}
	return nil
}

// drainUploads waits up to timeout for the uploads and commands under way; it reports
// whether all were done. The wait is bounded, so Spec.Alive goes on.
func (s *Sink) drainUploads(timeout time.Duration) bool {
	deadline := time.After(timeout)
	alive := time.NewTicker(time.Second)
	defer alive.Stop()
	for s.inflight > 0 {
		select {
		case u := <-s.uploaded:
			if err := s.done(u); err != nil {
				s.log.Error("after upload", "error", err)
			}
		case c := <-s.ran:
			if err := s.commandDone(c); err != nil {
				s.log.Error("after on_finalize", "error", err)
			}
		case <-alive.C:
			s.alive()
		case <-deadline:
			return false
		}
	}
	return true
}

// stopUploads ends the uploader goroutines and the command runners
// (after drainUploads).
func (s *Sink) stopUploads() {
	for _, t := range s.targets {
		// What waits in a backlog stays for the next start (the spool,
		// the journal's commands); nothing is handed on to a closed
		// channel.
		t.upBacklog, t.cmdBacklog = nil, nil
		if t.queue != nil {
			close(t.queue)
		}
		if t.cmds != nil {
			close(t.cmds)
		}
	}
	s.cancelUploads()
	go func() {
		for range s.uploaded { // results of uploads cut short
		}
	}()
	s.uploaders.Wait()
	close(s.uploaded)
	s.stopCommands()
}

// errUploadsPending explains the files left to upload at shutdown.
var errUploadsPending = errors.New("uploads or commands still pending")

// pendingError says what is left: files not uploaded yet, and files
// whose command, with commit_after: command, has not exited 0.
func pendingError(uploads, commands int) error {
	var left []string
	if uploads > 0 {
		left = append(left, fmt.Sprintf("%d files not uploaded: they stay in the spool and are uploaded at the next start", uploads))
	}
	if commands > 0 {
		left = append(left, fmt.Sprintf("%d files whose on_finalize command has not exited 0: their records stay uncommitted, and the commands run at the next start", commands))
	}
	return fmt.Errorf("%w: %s", errUploadsPending, strings.Join(left, "; "))
}
