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
	"sync/atomic"
	"time"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/fastcapa-go/fastcapa/store"
)

// Spec describes a sink.
type Spec struct {
	Topic      string
	Group      string            // consumer group.id
	Properties map[string]string // librdkafka consumer properties, bootstrap.servers among them
	Decoder    Decoder
	Store      store.Spec
	// DeadLetter is the file undecodable records are appended to, one
	// JSON object a line (partition, offset, reason, key and value in
	// base64). Default: Store.Dir/deadletter.jsonl.
	DeadLetter string
	// Retention is applied to Store.Dir at the first tick after files
	// are finalized, and once a minute besides.
	Retention store.Retention
	Logger    *slog.Logger
}

// Counters are a sink's counts so far.
type Counters struct {
	Consumed     uint64 // records read from Kafka
	Written      uint64 // packets written to capture files
	DeadLettered uint64 // records written to the dead-letter file
	Files        uint64 // capture files finalized
	Commits      uint64 // offset commits
	Recovered    uint64 // packets in temp files recovered at start (consumed again: duplicates)
	Deleted      uint64 // files deleted by retention
}

// PartitionLag is how far the sink is behind in one partition.
type PartitionLag struct {
	Partition int32
	Lag       int64 // records after the last one consumed (high watermark - next offset)
}

// Sink consumes one topic into capture files.
type Sink struct {
	spec  Spec
	log   *slog.Logger
	c     *ck.Consumer
	parts map[int32]*partition
	dead  *os.File

	consumed, written, deadLettered, files, commits, recovered, deleted atomic.Uint64
	lag                                                                 atomic.Value // []PartitionLag, updated every second

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
	w *store.Writer
	// next is the offset after the last record consumed; durable is the
	// offset up to which every record is in a finalized file or the
	// dead-letter file; committed is what Kafka has.
	next, durable, committed int64
	dirty                    bool // the dead-letter file has records of this partition not yet synced
	open                     bool // a capture file is open: records after durable are in it
}

// New recovers leftover temporary files under the store's directory and
// joins the consumer group.
func New(spec Spec) (*Sink, error) {
	if spec.Logger == nil {
		spec.Logger = slog.Default()
	}
	if spec.DeadLetter == "" {
		spec.DeadLetter = filepath.Join(spec.Store.Dir, "deadletter.jsonl")
	}
	s := &Sink{spec: spec, log: spec.Logger, parts: map[int32]*partition{}}
	if err := os.MkdirAll(spec.Store.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("store directory: %w", err)
	}
	rec, discarded, err := store.Recover(spec.Store.Dir)
	if err != nil {
		return nil, fmt.Errorf("recover %s: %w", spec.Store.Dir, err)
	}
	for _, f := range rec {
		s.recovered.Add(uint64(f.Packets))
		s.log.Warn("recovered a file left open by a crash; its packets will be consumed again", "path", f.Path, "packets", f.Packets)
	}
	for _, d := range discarded {
		s.log.Warn("discarded a temporary file with no whole packet", "path", d)
	}
	s.dead, err = os.OpenFile(spec.DeadLetter, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("dead-letter file: %w", err)
	}
	cm := ck.ConfigMap{
		"group.id":                 spec.Group,
		"enable.auto.commit":       false,
		"enable.auto.offset.store": false,
		"auto.offset.reset":        "earliest",
	}
	for k, v := range spec.Properties {
		cm[k] = v
	}
	s.c, err = ck.NewConsumer(&cm)
	if err != nil {
		s.dead.Close()
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	if err := s.c.SubscribeTopics([]string{spec.Topic}, s.rebalance); err != nil {
		s.c.Close()
		s.dead.Close()
		return nil, fmt.Errorf("subscribe %s: %w", spec.Topic, err)
	}
	return s, nil
}

// Counters reads the counts; safe from any goroutine.
func (s *Sink) Counters() Counters {
	return Counters{Consumed: s.consumed.Load(), Written: s.written.Load(), DeadLettered: s.deadLettered.Load(),
		Files: s.files.Load(), Commits: s.commits.Load(), Recovered: s.recovered.Load(), Deleted: s.deleted.Load()}
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
		for _, tp := range e.Partitions {
			s.log.Info("partition assigned", "topic", *tp.Topic, "partition", tp.Partition)
		}
	}
	return nil
}

// Run consumes until ctx is done, then finalizes every open file and
// commits. An error that stops it (disk, Kafka) is returned after the
// same.
func (s *Sink) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var runErr error
	for runErr == nil {
		select {
		case <-ctx.Done():
			return s.shutdown(nil)
		case now := <-tick.C:
			runErr = s.tick(now)
			continue
		default:
		}
		switch e := s.c.Poll(100).(type) {
		case *ck.Message:
			runErr = s.handle(e)
		case ck.Error:
			if e.IsFatal() {
				runErr = fmt.Errorf("kafka: %w", e)
			} else {
				s.log.Warn("kafka", "error", e)
			}
		}
	}
	return s.shutdown(runErr)
}

func (s *Sink) part(p int32) (*partition, error) {
	if st, ok := s.parts[p]; ok {
		return st, nil
	}
	w, err := store.NewWriter(s.spec.Store, store.Vars{Topic: s.spec.Topic, Partition: p})
	if err != nil {
		return nil, err
	}
	st := &partition{w: w, next: -1, durable: -1, committed: -1}
	s.parts[p] = st
	return st, nil
}

// handle writes one record to its partition's file or the dead-letter
// file, and commits what rotation made durable.
func (s *Sink) handle(m *ck.Message) error {
	s.consumed.Add(1)
	p := m.TopicPartition.Partition
	st, err := s.part(p)
	if err != nil {
		return err
	}
	off := int64(m.TopicPartition.Offset)
	pk, derr := s.spec.Decoder.Decode(m.Key, m.Value)
	if derr != nil {
		if err := s.deadLetter(m, derr); err != nil {
			return err
		}
		st.dirty = true
		st.next = off + 1
		return nil
	}
	finalized, err := st.w.Write(pk.Timestamp, pk.Data, pk.OrigLen)
	if err != nil {
		return fmt.Errorf("partition %d offset %d: %w", p, off, err)
	}
	s.written.Add(1)
	st.open = true
	if len(finalized) > 0 {
		// Everything before this record is now in a finalized file.
		s.files.Add(uint64(len(finalized)))
		st.durable = off
		if err := s.commit(p, st); err != nil {
			return err
		}
	}
	st.next = off + 1
	return nil
}

type deadRecord struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Reason    string `json:"reason"`
	Key       string `json:"key"`   // base64
	Value     string `json:"value"` // base64
}

func (s *Sink) deadLetter(m *ck.Message, reason error) error {
	line, _ := json.Marshal(deadRecord{Topic: s.spec.Topic, Partition: m.TopicPartition.Partition,
		Offset: int64(m.TopicPartition.Offset), Reason: reason.Error(),
		Key: base64.StdEncoding.EncodeToString(m.Key), Value: base64.StdEncoding.EncodeToString(m.Value)})
	if _, err := s.dead.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("dead-letter file: %w", err)
	}
	s.deadLettered.Add(1)
	return nil
}

// commit syncs the dead-letter file if it holds this partition's records,
// then commits the partition's durable offset.
func (s *Sink) commit(p int32, st *partition) error {
	if st.durable <= st.committed {
		return nil
	}
	if st.dirty {
		if err := s.dead.Sync(); err != nil {
			return fmt.Errorf("dead-letter file: %w", err)
		}
		st.dirty = false
	}
	_, err := s.c.CommitOffsets([]ck.TopicPartition{{Topic: &s.spec.Topic, Partition: p, Offset: ck.Offset(st.durable)}})
	if err != nil {
		return fmt.Errorf("commit partition %d offset %d: %w", p, st.durable, err)
	}
	st.committed = st.durable
	s.commits.Add(1)
	return nil
}

// tick closes files whose time is up and commits them, and measures the
// lag.
func (s *Sink) tick(now time.Time) error {
	lag := make([]PartitionLag, 0, len(s.parts))
	for p, st := range s.parts {
		if low, high, err := s.c.GetWatermarkOffsets(s.spec.Topic, p); err == nil {
			next := st.next
			if next < 0 {
				next = low
			}
			lag = append(lag, PartitionLag{Partition: p, Lag: max(high-next, 0)})
		}
	}
	sort.Slice(lag, func(i, j int) bool { return lag[i].Partition < lag[j].Partition })
	s.lag.Store(lag)
	defer s.retain(now)
	for p, st := range s.parts {
		fin, err := st.w.Tick(now)
		if err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
		if len(fin) > 0 {
			s.files.Add(uint64(len(fin)))
			st.open = false
		}
		// With no file open, every record consumed is in a finalized
		// file or the dead-letter file (synced by commit).
		if !st.open && st.next > st.durable {
			st.durable = st.next
		}
		if err := s.commit(p, st); err != nil {
			return err
		}
	}
	return nil
}

// retain applies retention after files were finalized, and once a minute
// besides (for age, and space others use): a walk of the whole directory
// every second would be wasted.
func (s *Sink) retain(now time.Time) {
	files := s.files.Load()
	if files == s.retainedFiles && now.Sub(s.retainedAt) < time.Minute {
		return
	}
	s.retainedFiles, s.retainedAt = files, now
	deleted, err := store.Retain(s.spec.Store.Dir, s.spec.Retention)
	for _, d := range deleted {
		s.log.Info("retention: deleted", "path", d)
	}
	s.deleted.Add(uint64(len(deleted)))
	if err != nil {
		s.log.Warn("retention", "error", err)
	}
}

// closePartition finalizes a partition's file and commits it.
func (s *Sink) closePartition(p int32) error {
	st, ok := s.parts[p]
	if !ok {
		return nil
	}
	delete(s.parts, p)
	fin, err := st.w.Finalize()
	if err != nil {
		return err
	}
	if fin != nil {
		s.files.Add(1)
	}
	if st.next >= 0 {
		st.durable = st.next
	}
	return s.commit(p, st)
}

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
	if err := s.c.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close consumer: %w", err))
	}
	if err := s.dead.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
