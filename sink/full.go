package sink

import (
	"errors"
	"fmt"
	"syscall"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// A full disk stops the sink without losing or duplicating a record, and
// without a restart:
//
//   - stop drops every open file (its records are not committed), pauses
//     every assigned partition and notes, in rewind, the offset each
//     resumes from: the first record not yet in a finalized file of
//     every target that keeps it;
//   - while stopped, records already fetched are ignored (they are
//     fetched again) and each tick applies retention and checks every
//     target's free space;
//   - resume, once every target has Spec.ResumeFree bytes free, seeks
//     each partition to its rewind offset and resumes it. Records a
//     target has on disk already are skipped for it (output.skip),
//     records dead-lettered already are not written twice
//     (partition.deadSkip).

// diskFull reports whether err means a filesystem is out of space.
func diskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// full turns a disk-full error into a stop; it returns other errors.
func (s *Sink) full(err error) error {
	if err == nil || !diskFull(err) {
		return err
	}
	return s.stop(err)
}

// stop drops the open files, pauses consuming and committing, and sets
// the rewind offsets.
func (s *Sink) stop(cause error) error {
	s.diskFull.Add(1)
	s.log.Error("disk full: stopped consuming and committing; resuming when every target has space",
		"error", cause, "resume_free_bytes", s.spec.ResumeFree)
	s.stopped.Store(true)
	s.rewind = map[int32]int64{}
	for p, st := range s.parts {
		for _, o := range st.outs {
			if o.open {
				if err := o.w.Abort(); err != nil {
					return fmt.Errorf("target %s: partition %d: drop the open file: %w", o.t.spec.Name, p, err)
				}
				o.open = false
				o.skip = max(o.skip, o.durable)
			} else {
				o.skip = max(o.skip, st.next)
			}
		}
		st.deadSkip = max(st.deadSkip, st.next)
		if st.next < 0 {
			continue
		}
		for _, o := range st.outs {
			st.next = min(st.next, o.skip)
		}
		s.rewind[p] = st.next
	}
	parts, err := s.c.Assignment()
	if err != nil {
		return fmt.Errorf("disk full: list assigned partitions: %w", err)
	}
	if err := s.c.Pause(parts); err != nil {
		return fmt.Errorf("disk full: pause: %w", err)
	}
	return nil
}

// ignore drops a record fetched while stopped, noting where its
// partition must resume if the sink had not consumed from it yet.
func (s *Sink) ignore(m *ck.Message) {
	p, off := m.TopicPartition.Partition, int64(m.TopicPartition.Offset)
	if r, ok := s.rewind[p]; !ok || off < r {
		if st, ok := s.parts[p]; !ok || st.next < 0 {
			s.rewind[p] = off
		}
	}
}

// resume restarts consuming once every target has space.
func (s *Sink) resume() error {
	for _, t := range s.targets {
		free, err := freeBytes(t.spec.Store.Dir)
		if err != nil {
			return fmt.Errorf("target %s: free space: %w", t.spec.Name, err)
		}
		if free < s.spec.ResumeFree {
			return nil
		}
	}
	var tps []ck.TopicPartition
	for p, off := range s.rewind {
		tp := ck.TopicPartition{Topic: &s.spec.Topic, Partition: p, Offset: ck.Offset(off)}
		if err := s.c.Seek(tp, 0); err != nil {
			return fmt.Errorf("disk full: seek partition %d to %d: %w", p, off, err)
		}
		tps = append(tps, tp)
	}
	parts, err := s.c.Assignment()
	if err != nil {
		return fmt.Errorf("resume: list assigned partitions: %w", err)
	}
	if err := s.c.Resume(parts); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	s.log.Info("disk space back: consuming again", "partitions", len(parts), "rewound", len(tps))
	s.rewind = nil
	s.stopped.Store(false)
	return nil
}

// freeBytes is what an unprivileged writer may still use in dir's
// filesystem.
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * st.Bsize, nil
}
