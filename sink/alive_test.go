package sink

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Spec.Alive vouches for Run's consume loop (a systemd watchdog ping in
// pcapstore sink): called about once a second from that loop, also while
// it waits for uploads, and not at all while it is stuck. Its calls
// during a disk-full stop are checked in TestCommitDiskFull.

// blockingHandler logs through next, but blocks the goroutine logging
// msg until release is closed, after closing blocked.
type blockingHandler struct {
	slog.Handler
	msg      string
	blocked  chan struct{}
	release  chan struct{}
	blockedN atomic.Int32
}

func (h *blockingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *blockingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg && h.blockedN.Add(1) == 1 {
		close(h.blocked)
		<-h.release
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

// TestAliveStopsWhileStuck: the loop, stuck (its "partition assigned" log
// line blocks in the rebalance callback, inside Poll), calls Alive no
// more; once it goes on, Alive comes back. An Alive called from a ticker
// goroutine of its own would go on through the stall and fail this.
func TestAliveStopsWhileStuck(t *testing.T) {
	_, addr := commitBroker(t)
	produceFrames(t, addr, 0, 5, 100, false)
	spec := commitSpec(t, addr, "stuck", localTarget(t.TempDir(), 100))
	h := &blockingHandler{Handler: spec.Logger.Handler(), msg: "partition assigned",
		blocked: make(chan struct{}), release: make(chan struct{})}
	spec.Logger = slog.New(h)
	var alive atomic.Int64
	spec.Alive = func() { alive.Add(1) }
	s := startSink(t, spec)
	t.Cleanup(func() {
		select {
		case <-h.release:
		default:
			close(h.release)
		}
	})
	select {
	case <-h.blocked:
	case <-time.After(30 * time.Second):
		t.Fatal("no partition assigned")
	}
	before := alive.Load()
	time.Sleep(3 * time.Second)
	if n := alive.Load(); n != before {
		t.Errorf("Alive called %d times while the loop was stuck for 3 s, want 0", n-before)
	}
	close(h.release)
	waitFor(t, "Alive again once the loop goes on", func() bool { return alive.Load() >= before+2 })
	waitFor(t, "the records", func() bool { return s.Counters().Consumed == 5 })
}

// TestAliveWhileDrainingUploads: stopping with an upload pending, Run
// waits for it (up to uploadDrain) and goes on calling Alive meanwhile.
func TestAliveWhileDrainingUploads(t *testing.T) {
	_, addr := commitBroker(t)
	bucket := &fakeBucket{dir: t.TempDir(), release: make(chan struct{})}
	tg := localTarget(t.TempDir(), 5)
	tg.Upload = bucket.upload
	produceFrames(t, addr, 0, 5, 100, false)
	spec := commitSpec(t, addr, "drain", tg)
	var alive atomic.Int64
	spec.Alive = func() { alive.Add(1) }
	s := startSink(t, spec)
	t.Cleanup(bucket.open)
	waitFor(t, "a file finalized", func() bool { return s.Counters().Files == 1 })
	s.cancel() // Run drains: the upload is pending
	before := alive.Load()
	// One call may come from the loop's last tick; the rest from the wait.
	waitFor(t, "Alive while draining", func() bool { return alive.Load() >= before+3 })
	select {
	case err := <-s.done:
		t.Fatalf("Run returned with the upload pending: %v", err)
	default:
	}
	bucket.open()
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	if bucket.uploaded() != 1 {
		t.Errorf("%d files uploaded, want 1", bucket.uploaded())
	}
}

// TestAliveWhileCommitWaits: a commit the broker holds (here 4 s; with
// the only broker gone, 45 s were measured) holds the loop, but Alive
// goes on: waiting for the broker is not a hang. Before, the loop sat
// in CommitOffsets and the watchdog went quiet.
func TestAliveWhileCommitWaits(t *testing.T) {
	c, addr := commitBroker(t)
	held := make(chan struct{})
	var once sync.Once
	c.ControlKey(int16(kmsg.OffsetCommit), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		once.Do(func() {
			close(held)
			c.SleepControl(func() { time.Sleep(4 * time.Second) })
		})
		return nil, nil, false
	})
	produceFrames(t, addr, 0, 5, 100, false)
	spec := commitSpec(t, addr, "slowcommit", localTarget(t.TempDir(), 5))
	var alive atomic.Int64
	spec.Alive = func() { alive.Add(1) }
	s := startSink(t, spec)
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("no commit")
	}
	before := alive.Load()
	time.Sleep(3 * time.Second)
	if n := alive.Load() - before; n < 2 {
		t.Errorf("Alive called %d times in 3 s while a commit waited for the broker, want at least 2", n)
	}
	waitFor(t, "the commit", func() bool { return s.Counters().Commits >= 1 })
}
