package sink

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fastcapa-go/fastcapa/index"
	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/store"
)

// The commit rule, tested in process: a kfake broker, a Sink consuming
// it into a temporary directory, and the group's committed offset read
// back from the broker after each kind of event. The rule: an offset is
// committed only once every record before it is in a finalized file
// (for an upload target, an uploaded one) or in the dead-letter file.

const commitTopic = "commit"

// commitT0 is the first record's time; record i is at commitT0 + i µs.
var commitT0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC).UnixNano()

// commitBroker starts a kfake broker with commitTopic, one partition.
func commitBroker(t *testing.T) (*kfake.Cluster, string) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.Ports(0), kfake.SeedTopics(1, commitTopic))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()[0]
}

// commitFrame is record i's frame: size bytes, i in bytes 20-23.
func commitFrame(i, size int) []byte {
	f := bytes.Repeat([]byte{byte(i)}, size)
	binary.BigEndian.PutUint32(f[20:], uint32(i))
	return f
}

// produceFrames produces records from..to-1 (FROM_KEY, nanosecond keys)
// of size bytes; bad ones have a key the decoder refuses.
func produceFrames(t *testing.T, addr string, from, to, size int, bad bool) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(commitTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		key := binary.BigEndian.AppendUint64(nil, uint64(commitT0+int64(i)*1000))
		if bad {
			key = key[:3]
		}
		recs = append(recs, &kgo.Record{Key: key, Value: commitFrame(i, size)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// groupOffsets reads a group's committed offsets from the broker.
type groupOffsets struct {
	t *testing.T
	c *ck.Consumer // never subscribes: asks, does not join
}

func newGroupOffsets(t *testing.T, addr, group string) *groupOffsets {
	t.Helper()
	c, err := ck.NewConsumer(&ck.ConfigMap{"bootstrap.servers": addr, "group.id": group, "log_level": 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &groupOffsets{t: t, c: c}
}

// committed is partition 0's committed offset, as the broker answers an
// OffsetFetch (-1: none).
func (g *groupOffsets) committed() int64 {
	g.t.Helper()
	topic := commitTopic
	tps, err := g.c.Committed([]ck.TopicPartition{{Topic: &topic, Partition: 0}}, 10000)
	if err != nil {
		g.t.Fatalf("offset fetch: %v", err)
	}
	if len(tps) != 1 || tps[0].Error != nil {
		g.t.Fatalf("offset fetch: %v", tps)
	}
	if tps[0].Offset < 0 {
		return -1
	}
	return int64(tps[0].Offset)
}

// waitCommitted waits until the committed offset is want, failing if it
// goes past it.
func (g *groupOffsets) waitCommitted(want int64) {
	g.t.Helper()
	waitFor(g.t, fmt.Sprintf("committed offset %d", want), func() bool {
		got := g.committed()
		if got > want {
			g.t.Fatalf("committed offset %d, past %d", got, want)
		}
		return got == want
	})
}

// holds checks the committed offset stays at most most over the next
// ticks (each tick commits what is durable), and returns the last.
func (g *groupOffsets) holds(most int64, what string) int64 {
	g.t.Helper()
	var got int64
	for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if got = g.committed(); got > most {
			g.t.Fatalf("%s: committed offset %d, past %d", what, got, most)
		}
	}
	return got
}

// runningSink is a Sink running in the background.
type runningSink struct {
	*Sink
	cancel  context.CancelFunc
	done    chan error
	stopped bool
	err     error
}

// stop ends Run (once) and returns its error.
func (r *runningSink) stop(t *testing.T) error {
	t.Helper()
	if r.stopped {
		return r.err
	}
	r.cancel()
	select {
	case r.err = <-r.done:
		r.stopped = true
	case <-time.After(2 * time.Minute):
		t.Fatal("the sink did not stop")
	}
	return r.err
}

// running fails the test if Run has returned.
func (r *runningSink) running(t *testing.T) {
	t.Helper()
	select {
	case err := <-r.done:
		r.stopped, r.err = true, err
		t.Fatalf("the sink stopped: %v", err)
	default:
	}
}

// commitSpec is a sink of group over addr writing targets.
func commitSpec(t *testing.T, addr, group string, targets ...Target) Spec {
	return Spec{
		Topic: commitTopic,
		Group: group,
		Properties: map[string]string{
			"bootstrap.servers":     addr,
			"heartbeat.interval.ms": "250",
			"session.timeout.ms":    "6000",
		},
		Decoder:    Decoder{Format: FromKey, KeyUnit: 1},
		Targets:    targets,
		DeadLetter: filepath.Join(t.TempDir(), "deadletter.jsonl"),
		Logger:     slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

// startSink makes the sink of spec and runs it until stop or the end of
// the test.
func startSink(t *testing.T, spec Spec) *runningSink {
	t.Helper()
	s, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningSink{Sink: s, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(func() {
		if err := r.stop(t); err != nil {
			t.Errorf("sink: %v", err)
		}
	})
	return r
}

// testWriter sends the sink's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// localTarget is a target in dir rotating every maxPackets records.
func localTarget(dir string, maxPackets int64) Target {
	return Target{Store: store.Spec{Dir: dir, Template: "{ts}_{seq}.pcap", MaxPackets: maxPackets, Nanos: true}}
}

// waitFor polls cond until it holds, failing after a while.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// finished reads the finished capture files under dir (not hidden, not
// JSON) in name order and returns each record's index (commitFrame).
func finished(t *testing.T, dir string) (files int, idx []int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") || strings.HasSuffix(p, ".jsonl") || strings.HasSuffix(p, ".json") {
			return nil
		}
		files++
		for _, r := range pcaptest.ReadAll(t, p) {
			idx = append(idx, int(binary.BigEndian.Uint32(r.Data[20:])))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, idx
}

// sequence is 0..n-1.
func sequence(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// TestCommitOpenFileAndRotation: records written to a file still open
// are not committed, whatever the ticks; a rotation commits up to the
// first record of the file it opens, exactly what the finalized files
// hold; stopping finalizes and commits the rest.
func TestCommitOpenFileAndRotation(t *testing.T) {
	_, addr := commitBroker(t)
	g := newGroupOffsets(t, addr, "open")
	dir := t.TempDir()
	produceFrames(t, addr, 0, 3, 100, false)
	s := startSink(t, commitSpec(t, addr, "open", localTarget(dir, 5)))
	waitFor(t, "3 records written", func() bool { return s.Counters().Written == 3 })
	if got := g.holds(0, "3 records in an open file"); got > 0 {
		t.Errorf("committed %d with every record in an open file", got)
	}
	if n, _ := finished(t, dir); n != 0 {
		t.Fatalf("%d files finalized, want none yet", n)
	}

	produceFrames(t, addr, 3, 12, 100, false)
	waitFor(t, "12 records written", func() bool { return s.Counters().Written == 12 })
	g.waitCommitted(10)
	if n, idx := finished(t, dir); n != 2 || !slices.Equal(idx, sequence(10)) {
		t.Fatalf("committed 10 with %d finished files holding %v", n, idx)
	}
	g.holds(10, "records 10 and 11 in an open file")

	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	if got := g.committed(); got != 12 {
		t.Errorf("after stopping: committed %d, want 12", got)
	}
	if n, idx := finished(t, dir); n != 3 || !slices.Equal(idx, sequence(12)) {
		t.Errorf("after stopping: %d finished files holding %v", n, idx)
	}
}

// TestCommitRevocation: when another member joins the group, the
// partition is revoked: the sink finalizes its open file and commits
// everything it holds, so that whoever owns the partition next starts
// after it and no record is written twice.
func TestCommitRevocation(t *testing.T) {
	_, addr := commitBroker(t)
	g := newGroupOffsets(t, addr, "revoke")
	dir, other := t.TempDir(), t.TempDir()
	produceFrames(t, addr, 0, 12, 100, false)
	s := startSink(t, commitSpec(t, addr, "revoke", localTarget(dir, 5)))
	waitFor(t, "12 records written", func() bool { return s.Counters().Written == 12 })
	g.waitCommitted(10)

	s2 := startSink(t, commitSpec(t, addr, "revoke", localTarget(other, 5)))
	g.waitCommitted(12)
	if n, idx := finished(t, dir); n != 3 || !slices.Equal(idx, sequence(12)) {
		t.Fatalf("committed 12 with %d finished files holding %v", n, idx)
	}
	// Whoever holds the partition now goes on from 12.
	produceFrames(t, addr, 12, 14, 100, false)
	waitFor(t, "records 12 and 13 written", func() bool { return s.Counters().Written+s2.Counters().Written >= 14 })
	time.Sleep(1500 * time.Millisecond) // a record consumed again would be written by now
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	if err := s2.stop(t); err != nil {
		t.Fatal(err)
	}
	_, a := finished(t, dir)
	_, b := finished(t, other)
	all := append(append([]int{}, a...), b...)
	slices.Sort(all)
	if !slices.Equal(all, sequence(14)) {
		t.Errorf("the two sinks' files hold %v and %v: want each of 14 records once", a, b)
	}
	if got := g.committed(); got != 14 {
		t.Errorf("committed %d at the end, want 14", got)
	}
}

// fakeBucket is an upload target's Upload: each upload of a capture
// waits for its release, then copies the file into dir; its sidecar
// index follows without waiting.
type fakeBucket struct {
	dir     string
	release chan struct{}
	opened  sync.Once
	mu      sync.Mutex
	keys    []string
}

// open lets every upload from now on go at once.
func (b *fakeBucket) open() { b.opened.Do(func() { close(b.release) }) }

func (b *fakeBucket) upload(ctx context.Context, localPath, key string) (string, error) {
	sidecar := strings.HasSuffix(key, ".idx")
	if !sidecar {
		select {
		case <-b.release:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	data, err := os.ReadFile(localPath)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(b.dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		return "", err
	}
	if !sidecar {
		b.mu.Lock()
		b.keys = append(b.keys, key)
		b.mu.Unlock()
	}
	return key, nil
}

func (b *fakeBucket) uploaded() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.keys)
}

// TestCommitUploadPending: an upload target's finalized files count as
// durable only once uploaded, in order: nothing is committed while the
// first upload is pending, then each confirmed upload commits up to the
// next file's first record.
func TestCommitUploadPending(t *testing.T) {
	_, addr := commitBroker(t)
	g := newGroupOffsets(t, addr, "upload")
	spool := t.TempDir()
	bucket := &fakeBucket{dir: t.TempDir(), release: make(chan struct{})}
	tg := localTarget(spool, 5)
	tg.Upload = bucket.upload
	produceFrames(t, addr, 0, 12, 100, false)
	s := startSink(t, commitSpec(t, addr, "upload", tg))
	t.Cleanup(bucket.open) // before the sink stops (cleanups run last first)
	waitFor(t, "2 files finalized", func() bool { return s.Counters().Files == 2 })
	if got := g.holds(0, "two files waiting for their upload"); got > 0 {
		t.Errorf("committed %d with no file uploaded", got)
	}

	bucket.release <- struct{}{}
	g.waitCommitted(5)
	g.holds(5, "the second file waiting for its upload")

	bucket.release <- struct{}{}
	g.waitCommitted(10)
	if n, idx := finished(t, bucket.dir); n != 2 || !slices.Equal(idx, sequence(10)) {
		t.Errorf("committed 10 with %d files in the bucket holding %v", n, idx)
	}
	bucket.open() // the last file goes at stop
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	if got := g.committed(); got != 12 || bucket.uploaded() != 3 {
		t.Errorf("after stopping: committed %d with %d files uploaded, want 12 and 3", got, bucket.uploaded())
	}
}

// TestCommitDeadLetters: records no capture file can hold are committed
// once they are in the dead-letter file, but not past a record of a file
// still open.
func TestCommitDeadLetters(t *testing.T) {
	_, addr := commitBroker(t)
	g := newGroupOffsets(t, addr, "dead")
	dir := t.TempDir()
	produceFrames(t, addr, 0, 3, 100, true)
	spec := commitSpec(t, addr, "dead", localTarget(dir, 5))
	s := startSink(t, spec)
	waitFor(t, "3 records dead-lettered", func() bool { return s.Counters().DeadLettered == 3 })
	g.waitCommitted(3)
	if lines, err := os.ReadFile(spec.DeadLetter); err != nil || bytes.Count(lines, []byte("\n")) != 3 {
		t.Fatalf("dead-letter file: %v, %q", err, lines)
	}

	produceFrames(t, addr, 3, 5, 100, false)
	produceFrames(t, addr, 5, 7, 100, true)
	waitFor(t, "7 records handled", func() bool { c := s.Counters(); return c.DeadLettered == 5 && c.Written == 2 })
	g.holds(3, "dead letters after records in an open file")
}

// TestCommitRefusedRetried: a commit the broker refuses is tried again
// at the next ticks, the records staying on disk meanwhile, until one is
// accepted; the sink goes on consuming.
func TestCommitRefusedRetried(t *testing.T) {
	c, addr := commitBroker(t)
	g := newGroupOffsets(t, addr, "refused")
	var mu sync.Mutex
	refused := 0
	c.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		mu.Lock()
		defer mu.Unlock()
		if refused == 3 {
			c.DropControl()
			return nil, nil, false
		}
		refused++
		return refuseCommit(req.(*kmsg.OffsetCommitRequest)), nil, true
	})
	dir := t.TempDir()
	produceFrames(t, addr, 0, 12, 100, false)
	s := startSink(t, commitSpec(t, addr, "refused", localTarget(dir, 5)))
	waitFor(t, "12 records written", func() bool { return s.Counters().Written == 12 })
	g.waitCommitted(10)
	mu.Lock()
	n := refused
	mu.Unlock()
	if n != 3 {
		t.Errorf("%d commits refused, want 3", n)
	}
	s.running(t)
	produceFrames(t, addr, 12, 16, 100, false)
	waitFor(t, "16 records written", func() bool { return s.Counters().Written == 16 })
	g.waitCommitted(15)
}

// refuseCommit answers an OffsetCommit with an error for every
// partition, one the client does not retry by itself.
func refuseCommit(req *kmsg.OffsetCommitRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// TestCommitDiskFull: a full disk stops the sink; while it is stopped
// nothing is committed past what the finalized files hold, Spec.Alive
// is still called (a deliberate pause, not a stuck loop), and once
// files are moved away it resumes by itself. At the end every record is
// on disk exactly once, in order, and committed.
func TestCommitDiskFull(t *testing.T) {
	_, addr := commitBroker(t)
	g := newGroupOffsets(t, addr, "full")
	dir := mountTmpfs(t, "96k")
	archive := t.TempDir()
	const n, size = 300, 1000
	produceFrames(t, addr, 0, n, size, false)
	spec := commitSpec(t, addr, "full", localTarget(dir, 10))
	spec.ResumeFree = 48 << 10
	var alive atomic.Int64
	spec.Alive = func() { alive.Add(1) }
	s := startSink(t, spec)
	stops := 0
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after %d stops: %+v", stops, s.Counters())
		}
		s.running(t)
		c := s.Counters()
		if c.Stopped {
			stops++
			_, onDisk := finished(t, dir)
			_, archived := finished(t, archive)
			if got := g.holds(int64(len(archived)+len(onDisk)), "stopped for a full disk"); !s.Counters().Stopped {
				t.Fatalf("resumed with the disk still full (committed %d)", got)
			}
			// Stopped is alive: the watchdog stays fed.
			a := alive.Load()
			waitFor(t, "Alive while stopped for a full disk", func() bool { return alive.Load() >= a+2 })
			if !s.Counters().Stopped {
				t.Fatal("resumed with the disk still full")
			}
			moveFinished(t, dir, archive)
			// Resumed, or resumed and stopped again already.
			waitFor(t, "the sink to resume", func() bool { c2 := s.Counters(); return !c2.Stopped || c2.DiskFull > c.DiskFull })
			continue
		}
		if lag := s.Lag(); c.Consumed >= n && len(lag) == 1 && lag[0].Lag == 0 {
			break
		}
	}
	moveFinished(t, dir, archive) // room for the open file's last bytes
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	if stops == 0 || s.Counters().DiskFull == 0 {
		t.Fatalf("the disk never filled: %+v", s.Counters())
	}
	_, archived := finished(t, archive)
	_, onDisk := finished(t, dir)
	if all := append(archived, onDisk...); !slices.Equal(all, sequence(n)) {
		t.Errorf("after %d stops the files hold %d records, want 0..%d once each, in order", stops, len(all), n-1)
	}
	if got := g.committed(); got != n {
		t.Errorf("committed %d at the end, want %d", got, n)
	}
}

// mountTmpfs mounts a tmpfs of size on a temporary directory (root only).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	testenv.RequireRoot(t)
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "sinkfull", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// moveFinished moves the finished capture files out of dir with their
// index sidecars, as an operator would; one already there is an error.
func moveFinished(t *testing.T, dir, to string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || !strings.HasSuffix(e.Name(), ".pcap") {
			continue
		}
		src := filepath.Join(dir, e.Name())
		for _, p := range []string{src, index.SidecarPath(src)} {
			b, err := os.ReadFile(p)
			if errors.Is(err, fs.ErrNotExist) && p != src {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(filepath.Join(to, filepath.Base(p)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(b); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestCommitUploadBacklog: more finalized files than the uploader's
// queue holds wait in order while the bucket hangs, and the consumer
// goes on; once it answers, every file goes up, in order, and
// everything is committed.
func TestCommitUploadBacklog(t *testing.T) {
	_, addr := commitBroker(t)
	g := newGroupOffsets(t, addr, "upbacklog")
	bucket := &fakeBucket{dir: t.TempDir(), release: make(chan struct{})}
	tg := localTarget(t.TempDir(), 1)
	tg.Upload = bucket.upload
	n := 64 + 20
	produceFrames(t, addr, 0, n+1, 100, false)
	s := startSink(t, commitSpec(t, addr, "upbacklog", tg))
	t.Cleanup(bucket.open)
	waitFor(t, "every file finalized", func() bool { return s.Counters().Files == uint64(n) })
	if got := g.holds(0, "every upload waiting"); got > 0 {
		t.Errorf("committed %d with nothing uploaded", got)
	}
	bucket.open()
	g.waitCommitted(int64(n))
	bucket.mu.Lock()
	keys := slices.Clone(bucket.keys)
	bucket.mu.Unlock()
	if !slices.IsSorted(keys) || len(keys) < n {
		t.Errorf("%d files uploaded, want %d in order: %v", len(keys), n, keys[:min(len(keys), 5)])
	}
}
