package sink

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestJournalAheadOfName: a crash in the instant after a file's journal
// write and before its name (the directory as it was then, copied from
// inside journalAhead) loses nothing and doubles nothing: the next run,
// from the same committed offset (none: every commit of the first run is
// refused), finds the file as a temporary one, which Recover publishes
// whole, and its journal says the file's records are stored, so they
// are skipped as they come again. Every record is then on disk once.
func TestJournalAheadOfName(t *testing.T) {
	c, addr := commitBroker(t)
	var refusing atomic.Bool
	refusing.Store(true)
	c.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if !refusing.Load() {
			return nil, nil, false
		}
		return refuseCommit(req.(*kmsg.OffsetCommitRequest)), nil, true
	})
	dir, snap := t.TempDir(), t.TempDir()
	var snapped atomic.Bool
	journaledAhead = func() {
		if snapped.Swap(true) {
			return
		}
		if n, _ := finished(t, dir); n != 0 {
			t.Errorf("%d files under their name when the journal was written ahead of the first", n)
		}
		copyTree(t, dir, snap)
	}
	t.Cleanup(func() { journaledAhead = nil })
	produceFrames(t, addr, 0, 12, 100, false)

	first, err := New(commitSpec(t, addr, "ahead", localTarget(dir, 5)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- first.Run(ctx) }()
	waitFor(t, "2 files finalized", func() bool { return first.Counters().Files == 2 })
	cancel()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "commit partition 0") {
		t.Fatalf("the first run ended with %v, want its refused commit", err)
	}
	if !snapped.Load() {
		t.Fatal("no journal written ahead of a file's name")
	}
	journaledAhead = nil

	refusing.Store(false)
	second := startSink(t, commitSpec(t, addr, "ahead", localTarget(snap, 5)))
	waitFor(t, "records 5..11 written", func() bool { return second.Counters().Written >= 7 })
	if err := second.stop(t); err != nil {
		t.Fatal(err)
	}
	_, idx := finished(t, snap)
	slices.Sort(idx)
	k := second.Counters()
	if !slices.Equal(idx, sequence(12)) || k.Recovered != 5 || k.Skipped != 5 {
		t.Errorf("after the crash: records %v on disk, %d recovered, %d skipped; want 0..11 once, 5 and 5", idx, k.Recovered, k.Skipped)
	}
}

// copyTree copies the regular files under src to dst, hidden ones too.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
