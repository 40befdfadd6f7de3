package sink

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/fastcapa-go/fastcapa/index"
	"github.com/fastcapa-go/fastcapa/kafka"
	"github.com/fastcapa-go/fastcapa/store"
)

// Spec describes a sink.
type Spec struct {
	Topic      string
	Group      string            // consumer group.id
	Properties map[string]string // librdkafka consumer properties, bootstrap.servers among them
	Decoder    Decoder
	// Targets are the streams of files written, each record offered to
	// every one; at least one.
	Targets []Target
	// DeadLetter is the file records Decoder refuses are appended to,
	// one JSON object a line (partition, offset, reason, key and value in
	// base64). Default: the first target's Dir/deadletter.jsonl.
	DeadLetter string
	// ResumeFree: after a disk-full stop, consuming resumes once every
	// target's filesystem has this many bytes free (default 64 MiB).
	ResumeFree int64
	// Start is where consuming a partition starts the first time this
	// sink is given it (Metron's kafka.pcap.start).
	Start Start
	// MaxLag, when set, trades completeness for recency: see MaxLag.
	MaxLag MaxLag
	Logger *slog.Logger
	// Alive, if set, is called from Run's consume loop about once a
	// second: while it consumes, while it is stopped for a full disk,
	// and while it waits (a minute at most) for uploads as partitions
	// are revoked or it stops; never from another goroutine, so a stuck
	// loop stops the calls. A systemd watchdog ping sent here proves
	// that loop alive. It must return quickly.
	Alive func()
}

// DefaultResumeFree is Spec.ResumeFree's default.
const DefaultResumeFree = 64 << 20

// Counters are a sink's counts so far.
type Counters struct {
	Consumed     uint64 // records read from Kafka (again after a disk-full stop)
	DeadLettered uint64 // records written to the dead-letter file
	Commits      uint64 // offset commits
	Recovered    uint64 // packets in temp files recovered at start (consumed again: duplicates)
	DiskFull     uint64 // stops for a full disk
	Stopped      bool   // stopped now for a full disk
	SkippedLag   uint64 // records MaxLag skipped: never stored

	// Sums over Targets.
	Written uint64 // packets written to capture files
	Skipped uint64 // records not written again: their target holds them already
	Files   uint64 // capture files finalized
	Deleted uint64 // files deleted by retention

	Targets []TargetCounters

	// FirstRecord and LastRecord are when the first and the latest
	// record were consumed (zero before any): with Consumed, a rate.
	FirstRecord, LastRecord time.Time
}

// PartitionLag is how far the sink is behind in one partition.
type PartitionLag struct {
	Partition int32
	Lag       int64 // records after the last one consumed (high watermark - next offset)
	// SkippedLag is the records MaxLag skipped in the partition, this
	// run.
	SkippedLag uint64
}

// MaxLag is the lag policy (FMADIO's restart from now when the
// downstream cannot keep up). Zero, the default, keeps going, lossless.
// Past either bound a partition skips to its latest offset: the records
// between are never stored, and counted (PartitionLag.SkippedLag,
// Counters.SkippedLag, a log line with the offsets).
type MaxLag struct {
	Records int64         // more records than this after the last one consumed
	Age     time.Duration // the last record consumed older than this (its Kafka timestamp), with more after it
}

// over says whether a partition lag records behind, the Kafka timestamp
// of its last record consumed behind now, is past a bound.
func (m MaxLag) over(lag int64, behind time.Duration) bool {
	if lag <= 0 {
		return false
	}
	return m.Records > 0 && lag > m.Records || m.Age > 0 && behind > m.Age
}

// Sink consumes one topic into capture files.
type Sink struct {
	spec    Spec
	log     *slog.Logger
	c       *ck.Consumer
	targets []*target
	parts   map[int32]*partition
	dead    *os.File

	// logsDone is closed when the consumer's log lines are all logged
	// (after its Close).
	logsDone <-chan struct{}

	consumed, deadLettered, commits, recovered, diskFull atomic.Uint64
	skippedLag                                           atomic.Uint64 // records MaxLag skipped
	stopped                                              atomic.Bool
	reach                                                kafka.Reach  // see Ready
	closeMu                                              sync.RWMutex // Ready's metadata requests vs the consumer's Close
	closed                                               bool
	firstAt, lastAt                                      atomic.Int64 // unix ns
	lag                                                  atomic.Value // []PartitionLag, updated every second

	// started are the partitions assign started by Spec.Start.
	started map[int32]bool
	// rewind is where each partition resumes after a disk-full stop;
	// non-nil while stopped.
	rewind map[int32]int64

	// uploads (upload.go): results come back on uploaded; inflight
	// counts those not yet taken.
	uploaded      chan *upload
	uploaders     sync.WaitGroup
	inflight      int
	cancelUploads context.CancelFunc
	// on_finalize commands (command.go): handed back on ran, counted
	// in inflight too.
	ran     chan *command
	runners sync.WaitGroup

	// when retention last ran, and the files finalized by then
	retainedFiles uint64
	retainedAt    time.Time
}

// Lag is each assigned partition's lag as of the last second.
func (s *Sink) Lag() []PartitionLag {
	l, _ := s.lag.Load().([]PartitionLag)
	return l
}

// partition is the state of one assigned partition.
type partition struct {
	outs []*output // one per target, in Spec.Targets order
	// next is the offset after the last record consumed; committed is
	// the last commit Kafka accepted from this run; start is this run's
	// first record.
	next, committed, start int64
	// deadSkip: records before it were dead-lettered already (they are
	// consumed again after a disk-full stop).
	deadSkip int64
	dirty    bool // the dead-letter file has records of this partition not yet synced
	// unjournaled: a file was finalized or uploaded since the journals
	// were last noted.
	unjournaled bool
	// refused: the last commit was refused; said once until one is
	// accepted again.
	refused bool
	// For MaxLag: the last record's Kafka timestamp (zero: none), records
	// handled since the lag was looked at, the records skipped, and the
	// last range skipped (records in it that still come are ignored).
	lastTime         time.Time
	sinceLag         int
	skipped          uint64
	skipFrom, skipTo int64
}

// durable is the offset partition p may commit: every record before it
// is in a finalized (for an upload target, uploaded) file of every
// target that keeps it, or in the dead-letter file, and for a target
// with commit_after: command, in a file whose command exited 0.
func (s *Sink) durable(p int32, st *partition) int64 {
	d := st.next
	for _, o := range st.outs {
		d = min(d, o.stored(st.next))
		if from, n := s.awaiting(o.t, p); n > 0 {
			d = min(d, from)
		}
	}
	return d
}

// New recovers leftover temporary files under the targets' directories
// and joins the consumer group.
func New(spec Spec) (*Sink, error) {
	s, err := newSink(spec)
	if err != nil {
		return nil, err
	}
	if err := s.subscribe(); err != nil {
		s.dead.Close()
		return nil, err
	}
	return s, nil
}

// newSink makes a Sink with its targets and dead-letter file, after
// recovering their directories: everything but the consumer.
func newSink(spec Spec) (*Sink, error) {
	if spec.Logger == nil {
		spec.Logger = slog.Default()
	}
	if spec.ResumeFree == 0 {
		spec.ResumeFree = DefaultResumeFree
	}
	targets, err := newTargets(spec.Targets)
	if err != nil {
		return nil, err
	}
	if spec.DeadLetter == "" {
		spec.DeadLetter = filepath.Join(spec.Targets[0].Store.Dir, "deadletter.jsonl")
	}
	s := &Sink{spec: spec, log: spec.Logger, targets: targets, parts: map[int32]*partition{}}
	for _, t := range targets {
		dir := t.spec.Store.Dir
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("target %s: directory: %w", t.spec.Name, err)
		}
		rec, discarded, err := store.RecoverWithReasons(dir)
		if err != nil {
			return nil, fmt.Errorf("target %s: recover %s: %w", t.spec.Name, dir, err)
		}
		for _, f := range rec {
			s.recovered.Add(uint64(f.Packets))
			s.log.Warn("recovered a file left open by a crash; its packets will be consumed again (and written again unless the journal holds them)", "target", t.spec.Name, "path", f.Path, "packets", f.Packets)
		}
		for _, d := range discarded {
			s.log.Warn("discarded a temporary file left by a crash; its packets will be consumed again",
				"target", t.spec.Name, "path", d.Path, "reason", d.Reason)
		}
		s.indexRecovered(t, rec)
		if t.spec.Upload != nil {
			if t.left, err = spooled(dir, spec.DeadLetter); err != nil {
				return nil, fmt.Errorf("target %s: %w", t.spec.Name, err)
			}
		}
		if t.spec.OnFinalize != nil {
			for _, f := range rec {
				t.left = append(t.left, f.Path)
			}
		}
		s.loadJournal(t)
	}
	s.dead, err = os.OpenFile(spec.DeadLetter, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("dead-letter file: %w", err)
	}
	return s, nil
}

// subscribe makes the consumer and joins the group.
func (s *Sink) subscribe() error {
	spec := &s.spec
	var err error
	if s.c, s.logsDone, err = kafka.NewConsumer(spec.Group, spec.Properties, s.log); err != nil {
		return err
	}
	if err := s.c.SubscribeTopics([]string{spec.Topic}, s.rebalance); err != nil {
		s.c.Close()
		return fmt.Errorf("subscribe %s: %w", spec.Topic, err)
	}
	return nil
}

// Ready says whether the sink stores records now: not while stopped for a
// full disk, nor while librdkafka reports every broker down (until an
// assignment or a broker's answer to a metadata request, asked at most
// once a second, says otherwise: kafka.Reach; records are not looked at,
// to keep the per-record path as it is). Safe from any goroutine.
func (s *Sink) Ready() error {
	if s.stopped.Load() {
		return errors.New("stopped: disk full, resuming when every target has space")
	}
	err := s.reach.Check(func() bool {
		s.closeMu.RLock()
		defer s.closeMu.RUnlock()
		if s.closed {
			return false
		}
		md, err := s.c.GetMetadata(&s.spec.Topic, false, 500)
		return kafka.TopicAnswered(md, err, s.spec.Topic)
	})
	if err != nil {
		return fmt.Errorf("%w (%s)", err, s.spec.Properties["bootstrap.servers"])
	}
	return nil
}

// Counters reads the counts; safe from any goroutine.
func (s *Sink) Counters() Counters {
	c := Counters{Consumed: s.consumed.Load(), DeadLettered: s.deadLettered.Load(), Commits: s.commits.Load(), SkippedLag: s.skippedLag.Load(),
		Recovered: s.recovered.Load(), DiskFull: s.diskFull.Load(), Stopped: s.stopped.Load()}
	if f := s.firstAt.Load(); f != 0 {
		c.FirstRecord, c.LastRecord = time.Unix(0, f), time.Unix(0, s.lastAt.Load())
	}
	for _, t := range s.targets {
		tc := TargetCounters{Name: t.spec.Name, Written: t.written.Load(), Skipped: t.skipped.Load(), Filtered: t.filtered.Load(),
			Files: t.files.Load(), Deleted: t.deleted.Load(), Uploaded: t.uploadedFiles.Load(),
			UploadErrors: t.uploadErrors.Load(), IndexErrors: t.indexErrors.Load(),
			Commands: t.cmdDone.Load(), CommandErrors: t.cmdErrors.Load(), CommandsPending: uint64(t.cmdPending.Load())}
		c.Written += tc.Written
		c.Skipped += tc.Skipped
		c.Files += tc.Files
		c.Deleted += tc.Deleted
		c.Targets = append(c.Targets, tc)
	}
	return c
}

// rebalance finalizes and commits partitions being taken away, so the
// next owner starts where this one's files end.
func (s *Sink) rebalance(c *ck.Consumer, ev ck.Event) error {
	switch e := ev.(type) {
	case ck.RevokedPartitions:
		for _, tp := range e.Partitions {
			if err := s.closePartition(tp.Partition); err != nil {
				s.log.Error("finalize revoked partition", "partition", tp.Partition, "error", err)
			}
		}
	case ck.AssignedPartitions:
		s.reach.Up() // the group's coordinator answered
		for _, tp := range e.Partitions {
			s.log.Info("partition assigned", "topic", *tp.Topic, "partition", tp.Partition)
		}
		return s.assign(c, e.Partitions)
	}
	return nil
}

// assign starts the partitions it is given where Spec.Start says: from
// the beginning or the end, committed offsets ignored, the first time
// this process is given each (Metron's EARLIEST and LATEST); otherwise
// from the committed offset, else by auto.offset.reset (the UNCOMMITTED_
// starts, set when the consumer was made). Later assignments of a
// partition resume from its committed offset.
func (s *Sink) assign(c *ck.Consumer, tps []ck.TopicPartition) error {
	from := ck.OffsetBeginning
	switch s.spec.Start {
	case StartEarliest:
	case StartLatest:
		from = ck.OffsetEnd
	default:
		return nil // librdkafka's own assignment: committed, else auto.offset.reset
	}
	if s.started == nil {
		s.started = map[int32]bool{}
	}
	tps = append([]ck.TopicPartition(nil), tps...)
	for i := range tps {
		if !s.started[tps[i].Partition] {
			s.started[tps[i].Partition] = true
			tps[i].Offset = from
			s.log.Info("partition start", "partition", tps[i].Partition, "start", s.spec.Start.String(),
				"offset", from.String())
		}
	}
	if c.GetRebalanceProtocol() == "COOPERATIVE" {
		return c.IncrementalAssign(tps)
	}
	return c.Assign(tps)
}

// Run consumes until ctx is done, then finalizes every open file and
// commits. An error that stops it (disk, Kafka) is returned after the
// same. A full disk does not stop it: see stop.
func (s *Sink) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	upCtx, cancel := context.WithCancel(context.Background())
	s.uploaded, s.cancelUploads = make(chan *upload, 64), cancel
	s.ran = make(chan *command, 64)
	s.startUploads(upCtx)
	s.startCommands(upCtx)
	var runErr error
	for n := 0; runErr == nil; n++ {
		// The channels are looked at every 64 records, or after a
		// Poll with no record (nothing, or an event such as an error):
		// a select on each record cost 4 % of the sink's rate.
		if n%64 == 0 {
			select {
			case <-ctx.Done():
				return s.shutdown(nil)
			case now := <-tick.C:
				s.alive()
				runErr = s.full(s.tick(now))
				continue
			case u := <-s.uploaded:
				runErr = s.done(u)
				continue
			case c := <-s.ran:
				runErr = s.commandDone(c)
				continue
			default:
			}
		}
		switch e := s.c.Poll(100).(type) {
		case *ck.Message:
			if s.rewind != nil {
				s.ignore(e)
				continue
			}
			runErr = s.full(s.handle(e))
		case ck.Error:
			s.reach.Event(e)
			if e.IsFatal() {
				runErr = fmt.Errorf("kafka: %w", e)
			} else {
				s.log.Warn("kafka", "error", e)
			}
			n = -1 // look at the channels next
		default: // nil: no record
			n = -1
		}
	}
	return s.shutdown(runErr)
}

// alive calls Spec.Alive, if set.
func (s *Sink) alive() {
	if s.spec.Alive != nil {
		s.spec.Alive()
	}
}

// part is partition p's state, made at its first record this run (at
// offset first).
func (s *Sink) part(p int32, first int64) (*partition, error) {
	if st, ok := s.parts[p]; ok {
		return st, nil
	}
	st := &partition{next: -1, committed: -1}
	for _, t := range s.targets {
		w, err := store.NewWriter(t.spec.Store, store.Vars{Topic: s.spec.Topic, Partition: p})
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", t.spec.Name, err)
		}
		w.Observe(s.indexer(t)) // an upload target sends the sidecar with its file
		o := &output{t: t, w: w, partition: p, index: len(st.outs)}
		// Ahead of the name only where a crash before it leaves a file
		// Recover publishes whole, and no command is due on the name.
		if t.spec.Upload == nil && t.spec.OnFinalize == nil && t.spec.Store.PipeCmd == nil {
			w.BeforePublish(func() { s.journalAhead(o) })
		}
		st.outs = append(st.outs, o)
	}
	s.resumeAt(p, st, first)
	s.parts[p] = st
	return st, nil
}

// handle writes one record to the files of the targets that keep it, or
// to the dead-letter file, and commits what rotation made durable.
func (s *Sink) handle(m *ck.Message) error {
	s.consumed.Add(1)
	now := time.Now().UnixNano()
	s.lastAt.Store(now)
	if s.firstAt.Load() == 0 {
		s.firstAt.Store(now)
	}
	p := m.TopicPartition.Partition
	off := int64(m.TopicPartition.Offset)
	st, err := s.part(p, off)
	if err != nil {
		return err
	}
	if off >= st.skipFrom && off < st.skipTo {
		return nil // skipped by MaxLag, counted then
	}
	// Every record before this one is handled; this one is once the
	// function returns nil.
	st.next = off
	if m.TimestampType != ck.TimestampNotAvailable {
		st.lastTime = m.Timestamp
	}
	pk, derr := s.spec.Decoder.Decode(m.Key, m.Value, m.Headers)
	if derr != nil {
		if off >= st.deadSkip {
			if err := s.deadLetter(m, derr); err != nil {
				return err
			}
			st.dirty = true
		}
		st.next = off + 1
		return nil
	}
	rotated := false
	for _, o := range st.outs {
		t := o.t
		if off < o.skip {
			if t.keeps(pk.Data, pk.OrigLen) {
				t.skipped.Add(1)
			}
			continue
		}
		if !t.keeps(pk.Data, pk.OrigLen) {
			t.filtered.Add(1)
			continue
		}
		fin, err := o.w.Write(pk.Timestamp, pk.Data, pk.OrigLen)
		if len(fin) > 0 {
			// Everything before this record that t keeps is in a
			// finalized file (even if the next file fails).
			s.finalized(o, fin, o.durable)
			o.open, rotated = false, true
		}
		if err != nil {
			return fmt.Errorf("target %s: partition %d offset %d: %w", t.spec.Name, p, off, err)
		}
		t.written.Add(1)
		if !o.open {
			o.durable, o.open = off, true
		}
	}
	st.next = off + 1
	if rotated {
		if err := s.tryCommit(p, st); err != nil {
			return err
		}
	}
	// The lag is looked at every lagEvery records too, not only once a
	// second: a sink far behind consumes many seconds' worth in one.
	if st.sinceLag++; st.sinceLag >= lagEvery && s.spec.MaxLag != (MaxLag{}) {
		s.partitionLag(p, st, time.Now())
	}
	return nil
}

// lagEvery is how many records of a partition the sink handles between
// looks at its lag.
const lagEvery = 1024

// partitionLag measures partition p's lag and, past Spec.MaxLag, skips
// it to its latest offset. It returns the lag, and whether the
// watermarks could be read.
func (s *Sink) partitionLag(p int32, st *partition, now time.Time) (PartitionLag, bool) {
	st.sinceLag = 0
	low, high, err := s.c.GetWatermarkOffsets(s.spec.Topic, p)
	if err != nil {
		return PartitionLag{}, false
	}
	next := st.next
	if next < 0 {
		next = low
	}
	l := PartitionLag{Partition: p, Lag: max(high-next, 0), SkippedLag: st.skipped}
	behind := time.Duration(0)
	if !st.lastTime.IsZero() {
		behind = now.Sub(st.lastTime)
	}
	if s.rewind != nil || st.next < 0 || !s.spec.MaxLag.over(l.Lag, behind) {
		return l, true
	}
	if err := s.c.Seek(ck.TopicPartition{Topic: &s.spec.Topic, Partition: p, Offset: ck.Offset(high)}, 0); err != nil {
		s.log.Warn("lagging: could not skip to the latest offset", "partition", p, "offset", high, "error", err)
		return l, true
	}
	n := uint64(high - st.next)
	s.log.Warn("lagging: skipped to the latest offset", "partition", p, "from", st.next, "to", high, "skipped", n,
		"lag_records", l.Lag, "behind", behind.Round(time.Millisecond).String(), "max_lag_records", s.spec.MaxLag.Records,
		"max_lag_age", s.spec.MaxLag.Age.String())
	st.skipFrom, st.skipTo, st.next = st.next, high, high
	st.skipped += n
	s.skippedLag.Add(n)
	l.Lag, l.SkippedLag = 0, st.skipped
	return l, true
}

type deadRecord struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Reason    string `json:"reason"`
	Key       string `json:"key"`   // base64
	Value     string `json:"value"` // base64
	// Headers are the record's, if it has any (an orig_len header
	// may be the reason).
	Headers []deadHeader `json:"headers,omitempty"`
}

type deadHeader struct {
	Key   string `json:"key"`
	Value []byte `json:"value"` // base64; null for a null value
}

// deadLetter appends a record to the dead-letter file.
func (s *Sink) deadLetter(m *ck.Message, reason error) error {
	if err := AppendDeadLetter(s.dead, s.spec.Topic, m, reason); err != nil {
		return err
	}
	s.deadLettered.Add(1)
	return nil
}

// AppendDeadLetter appends a record refused for reason to a dead-letter
// file f: one JSON object a line (topic, partition, offset, reason, key
// and value in base64, headers). A line that cannot be written whole is
// cut off again, so the file holds only whole lines. The sink's and
// pcapstore records' dead letters alike.
func AppendDeadLetter(f *os.File, topic string, m *ck.Message, reason error) error {
	line, _ := json.Marshal(deadRecord{Topic: topic, Partition: m.TopicPartition.Partition,
		Offset: int64(m.TopicPartition.Offset), Reason: reason.Error(),
		Key: base64.StdEncoding.EncodeToString(m.Key), Value: base64.StdEncoding.EncodeToString(m.Value),
		Headers: deadHeaders(m.Headers)})
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("dead-letter file: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Truncate(fi.Size())
		return fmt.Errorf("dead-letter file: %w", err)
	}
	return nil
}

func deadHeaders(hs []ck.Header) []deadHeader {
	var out []deadHeader
	for _, h := range hs {
		out = append(out, deadHeader{Key: h.Key, Value: h.Value})
	}
	return out
}

// journalize syncs the dead-letter file if it holds this partition's
// records and notes the partition in the journals, if either moved.
func (s *Sink) journalize(p int32, st *partition) error {
	if !st.dirty && !st.unjournaled {
		return nil
	}
	if st.dirty {
		if err := s.dead.Sync(); err != nil {
			return fmt.Errorf("dead-letter file: %w", err)
		}
		st.dirty = false
	}
	s.note(p, st)
	return nil
}

// commit syncs the dead-letter file if it holds this partition's records,
// writes the journals, then commits the partition's durable offset.
func (s *Sink) commit(p int32, st *partition) error {
	if err := s.journalize(p, st); err != nil {
		return err
	}
	s.saveJournals()
	durable := s.durable(p, st)
	if durable <= st.committed {
		return nil
	}
	if err := s.commitOffset(p, durable); err != nil {
		return fmt.Errorf("commit partition %d offset %d: %w", p, durable, err)
	}
	st.committed = durable
	s.commits.Add(1)
	return nil
}

// commitAlive is how long a commit in flight counts as Run's goroutine
// being alive (Spec.Alive goes on while it waits): librdkafka answers each
// request within socket.timeout.ms (60 s by default), and a commit with the
// only broker gone took 45 s before "Waiting for coordinator" came back
// (measured, devbroker). A commit waiting longer is taken for hung: the
// pings stop and a watchdog may act.
const commitAlive = 2 * time.Minute

// commitOffset commits one partition's offset synchronously. The commit
// runs on a goroutine of its own while this one waits for it, calling
// Spec.Alive once a second for up to commitAlive: a broker that is slow
// or gone holds the loop, but is not a hang.
func (s *Sink) commitOffset(p int32, offset int64) error {
	done := make(chan error, 1)
	go func() {
		_, err := s.c.CommitOffsets([]ck.TopicPartition{{Topic: &s.spec.Topic, Partition: p, Offset: ck.Offset(offset)}})
		done <- err
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for start := time.Now(); ; {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			if time.Since(start) < commitAlive {
				s.alive()
			}
		}
	}
}

// tryCommit is commit for the consuming loop: a commit the broker refuses
// or cannot take now (a rebalance under way, a restarted coordinator that
// no longer knows the member) is said once and tried again at each tick,
// the records staying on disk meanwhile. A fatal client error, or one
// from the dead-letter file, is returned.
func (s *Sink) tryCommit(p int32, st *partition) error {
	err := s.commit(p, st)
	var kerr ck.Error
	switch {
	case err == nil:
		if st.refused {
			s.log.Info("offset commit accepted again", "partition", p, "offset", st.committed)
			st.refused = false
		}
		return nil
	case !errors.As(err, &kerr) || kerr.IsFatal():
		return err
	}
	if !st.refused {
		s.log.Warn("offset commit refused; trying again every second", "partition", p, "error", err)
		st.refused = true
	}
	return nil
}

// tick closes files whose time is up and commits them, measures the lag,
// and applies retention; stopped for a full disk, it checks for space
// instead.
func (s *Sink) tick(now time.Time) error {
	lag := make([]PartitionLag, 0, len(s.parts))
	for p, st := range s.parts {
		if l, ok := s.partitionLag(p, st, now); ok {
			lag = append(lag, l)
		}
	}
	sort.Slice(lag, func(i, j int) bool { return lag[i].Partition < lag[j].Partition })
	s.lag.Store(lag)
	if s.rewind != nil {
		s.retain(now, true)
		return s.resume()
	}
	defer s.retain(now, false)
	for p, st := range s.parts {
		for _, o := range st.outs {
			fin, err := o.w.Tick(now)
			if err != nil {
				return fmt.Errorf("target %s: partition %d: %w", o.t.spec.Name, p, err)
			}
			if len(fin) > 0 {
				s.finalized(o, fin, o.durable)
				o.open = false
			}
		}
		// Every partition noted, each journal written once.
		if err := s.journalize(p, st); err != nil {
			return err
		}
	}
	for p, st := range s.parts {
		if err := s.tryCommit(p, st); err != nil {
			return err
		}
	}
	return nil
}

// retain applies retention after files were finalized, and once a minute
// besides (for age, and space others use): a walk of the whole directory
// every second would be wasted, unless the disk is full (force).
func (s *Sink) retain(now time.Time, force bool) {
	var files uint64
	for _, t := range s.targets {
		files += t.files.Load()
	}
	if !force && files == s.retainedFiles && now.Sub(s.retainedAt) < time.Minute {
		return
	}
	s.retainedFiles, s.retainedAt = files, now
	for _, t := range s.targets {
		r := t.spec.Retention
		if t.cmds != nil {
			r.Keep = t.commandPending
		}
		deleted, err := store.Retain(t.spec.Store.Dir, r)
		for _, d := range deleted {
			os.Remove(index.SidecarPath(d))
			s.log.Info("retention: deleted", "target", t.spec.Name, "path", d)
		}
		t.deleted.Add(uint64(len(deleted)))
		if err != nil {
			s.log.Warn("retention", "target", t.spec.Name, "error", err)
		}
	}
}

// closePartition finalizes a partition's files, waits for their uploads
// (up to uploadDrain), and commits them.
func (s *Sink) closePartition(p int32) error {
	delete(s.rewind, p)
	st, ok := s.parts[p]
	if !ok {
		return nil
	}
	var errs []error
	waiting := false
	for _, o := range st.outs {
		fin, err := o.w.Finalize()
		if err != nil {
			errs = append(errs, fmt.Errorf("target %s: partition %d: %w", o.t.spec.Name, p, err))
			continue
		}
		if fin != nil {
			s.finalized(o, []store.Finalized{*fin}, o.durable)
		}
		o.open = false
		_, running := s.awaiting(o.t, p)
		waiting = waiting || len(o.pending) > 0 || running > 0
	}
	if waiting && !s.drainUploads(uploadDrain) {
		uploads, commands := 0, 0
		for _, o := range st.outs {
			_, n := s.awaiting(o.t, p)
			uploads, commands = uploads+len(o.pending), commands+n
		}
		errs = append(errs, fmt.Errorf("partition %d: %w", p, pendingError(uploads, commands)))
	}
	delete(s.parts, p)
	// Uncommitted, the records stay in the journals: not written again
	// if p comes back.
	if err := s.commit(p, st); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// uploadDrain bounds the wait for a partition's uploads when it is
// revoked or the sink stops.
const uploadDrain = time.Minute

// shutdown finalizes and commits every partition, then leaves the group.
func (s *Sink) shutdown(cause error) error {
	var errs []error
	if cause != nil {
		errs = append(errs, cause)
	}
	for p := range s.parts {
		if err := s.closePartition(p); err != nil {
			errs = append(errs, err)
		}
	}
	s.stopUploads()
	s.closeMu.Lock()
	s.closed = true
	s.closeMu.Unlock()
	if err := s.c.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close consumer: %w", err))
	}
	<-s.logsDone
	if err := s.dead.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
