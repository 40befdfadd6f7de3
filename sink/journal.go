package sink

import (
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/fastcapa-go/fastcapa/internal/atomicfile"
)

// Each target keeps a journal of what its files hold, so that the sink
// never writes again a record a target holds already, whatever became
// of the offset commit that covers it:
//
//   - the journal is <Dir>/.pcapstore-offsets.json (hidden: retention,
//     recovery, queries, index.Clean and the spool scan pass it by),
//     one entry per group, topic and partition: Stored, the output's own
//     durable offset (every record before it that the target keeps is in
//     a finalized file, and for an upload target an uploaded one); Dead,
//     the offset before which every record the sink dead-lettered is in
//     the dead-letter file, synced; Committed, the offset the broker last
//     resumed the group from or accepted from it;
//   - it is rewritten (atomicfile.WriteFile) after an upload moved an
//     output's durable offset, or after dead letters, before the commit
//     that follows: file published → journal → commit; and for a local
//     target's file (without a pipe command or on_finalize) before the
//     file is given its name, once it is whole and synced under its
//     temporary one (journalAhead): file synced → journal → file
//     published → commit;
//   - when a run takes partition p and consumes its first record, at
//     offset S, each output with an entry such that Committed <= S <=
//     Stored skips the records before Stored (output.skip): the records
//     in [S, Stored) can only come again because no commit covering
//     them landed (refused, not made before a crash, or held back by
//     another target's open file). S < Committed (the group's offsets
//     were reset), or no entry (a new group, a new target), skips
//     nothing; either is logged. The dead-letter file skips up to the
//     least Dead when every target's entry passes.
//
// What is left: a temp file recovered at start has its records consumed
// again (counted as recovered), and written again unless the journal was
// written ahead of its name (a crash between the two: Recover publishes
// the file the journal counts); for a target with a pipe command (whose
// temporary files Recover discards) or on_finalize (whose command is due
// on the file's final name, listed in the journal once it has one) a
// crash between a file's link and the journal write after it writes that
// file's records again; an upload
// target's spooled files not yet uploaded are uploaded and their records
// written again.

// journalName is a target's journal, in its directory.
const journalName = ".pcapstore-offsets.json"

// journalEntry is what a target holds of one partition.
type journalEntry struct {
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Stored    int64  `json:"stored"`
	Dead      int64  `json:"dead"`
	Committed int64  `json:"committed"`
}

type journalKey struct {
	group, topic string
	partition    int32
}

// journal is a target's journal in memory; dirty: not yet written.
type journal struct {
	path    string
	entries map[journalKey]journalEntry
	// commands are the files whose on_finalize command has not exited
	// 0, in the order they were finalized (command.go).
	commands []*command
	dirty    bool
	failing  bool // the last write failed (said once)
}

// loadJournal reads a target's journal. One missing or unreadable starts
// empty: records are then written again, never lost.
func (s *Sink) loadJournal(t *target) {
	j := &journal{path: filepath.Join(t.spec.Store.Dir, journalName), entries: map[journalKey]journalEntry{}}
	t.journal = j
	if err := atomicfile.RemoveTemps(j.path); err != nil {
		s.log.Warn("journal: temporary file left by a crash", "target", t.spec.Name, "error", err)
	}
	b, err := os.ReadFile(j.path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var file journalFile
	if err == nil {
		err = json.Unmarshal(b, &file)
	}
	if err != nil {
		s.log.Warn("journal unreadable: records already on disk may be written again, and on_finalize commands not yet run are not", "target", t.spec.Name, "path", j.path, "error", err)
		return
	}
	for _, e := range file.Partitions {
		j.entries[journalKey{e.Group, e.Topic, e.Partition}] = e
	}
	for _, e := range file.OnFinalize {
		c := &command{t: t, entry: e}
		switch _, err := os.Lstat(c.path()); {
		case t.spec.OnFinalize == nil:
			s.log.Warn("journal: files whose on_finalize command had not run, but the target has none now: not run", "target", t.spec.Name, "path", c.path())
		case err != nil:
			s.log.Warn("journal: a file whose on_finalize command had not run is gone: not run", "target", t.spec.Name, "path", c.path(), "error", err)
		default:
			j.commands = append(j.commands, c)
			continue
		}
		j.dirty = true
	}
}

// journalFile is a journal as written.
type journalFile struct {
	Partitions []journalEntry `json:"partitions"`
	OnFinalize []commandEntry `json:"on_finalize,omitempty"`
}

// note puts partition p's figures in every target's journal; the
// journals are written by saveJournals.
func (s *Sink) note(p int32, st *partition) {
	if st.next < 0 {
		return
	}
	committed := st.committed
	if committed < 0 {
		committed = st.start
	}
	dead := max(st.next, st.deadSkip)
	for _, o := range st.outs {
		j := o.t.journal
		k := journalKey{s.spec.Group, s.spec.Topic, p}
		e := journalEntry{Group: k.group, Topic: k.topic, Partition: p, Stored: o.stored(st.next), Dead: dead, Committed: committed}
		if j.entries[k] != e {
			j.entries[k], j.dirty = e, true
		}
	}
	st.unjournaled = false
}

// saveJournals writes the journals noted since they were last written. A
// journal that cannot be written is said once, until one can: the
// commit goes on, and a crash meanwhile writes records again.
func (s *Sink) saveJournals() {
	for _, t := range s.targets {
		j := t.journal
		if !j.dirty {
			continue
		}
		es := make([]journalEntry, 0, len(j.entries))
		for _, e := range j.entries {
			es = append(es, e)
		}
		sort.Slice(es, func(a, b int) bool {
			x, y := es[a], es[b]
			if x.Group != y.Group {
				return x.Group < y.Group
			}
			if x.Topic != y.Topic {
				return x.Topic < y.Topic
			}
			return x.Partition < y.Partition
		})
		file := journalFile{Partitions: es}
		for _, c := range j.commands {
			file.OnFinalize = append(file.OnFinalize, c.entry)
		}
		data, _ := json.MarshalIndent(file, "", "  ")
		err := atomicfile.WriteFile(j.path, append(data, '\n'))
		switch {
		case err == nil:
			j.dirty = false
			if j.failing {
				s.log.Info("journal written again", "target", t.spec.Name)
			}
			j.failing = false
		case !j.failing:
			s.log.Warn("journal not written: after a crash, records already on disk may be written again", "target", t.spec.Name, "error", err)
			j.failing = true
		}
	}
}

// resumeAt sets, for a partition whose first record this run is at
// offset start, what each output and the dead-letter file hold already
// (see the journal's rules above).
func (s *Sink) resumeAt(p int32, st *partition, start int64) {
	st.start = start
	k := journalKey{s.spec.Group, s.spec.Topic, p}
	dead, deadKnown := int64(math.MaxInt64), true // the least over targets
	for _, o := range st.outs {
		e, ok := o.t.journal.entries[k]
		switch {
		case !ok:
			s.log.Info("journal: no entry for this partition; nothing skipped", "target", o.t.spec.Name, "partition", p, "start", start)
			deadKnown = false
			continue
		case start < e.Committed:
			s.log.Warn("journal: partition starts before the last commit accepted (offsets reset?); nothing skipped",
				"target", o.t.spec.Name, "partition", p, "start", start, "committed", e.Committed, "stored", e.Stored)
			deadKnown = false
			continue
		}
		dead = min(dead, e.Dead)
		if start < e.Stored {
			s.log.Info("journal: records on disk already are not written again", "target", o.t.spec.Name, "partition", p,
				"start", start, "committed", e.Committed, "stored", e.Stored, "records", e.Stored-start)
			o.skip = max(o.skip, e.Stored)
		}
	}
	if deadKnown && dead > start {
		st.deadSkip = max(st.deadSkip, dead)
	}
}

// journalAhead writes o's journal entry, and its partition's others, as
// they stand once the file o's writer is finalizing is published: that
// file is whole and synced under its temporary name (Writer.BeforePublish),
// and every record before the partition's next offset that o's target
// keeps is in it or an earlier file. So no crash after its name appears
// can find the journal without it: the records are skipped, not written
// again, at the next start, and if the crash comes before the name,
// Recover publishes the file. A dead-letter file that cannot be synced
// leaves the journal to the write after the publish, as before.
func (s *Sink) journalAhead(o *output) {
	st, ok := s.parts[o.partition]
	if !ok || st.outs[o.index] != o {
		return
	}
	open := o.open
	o.open = false // the file is o's, done
	defer func() { o.open = open }()
	st.unjournaled = true
	if err := s.journalize(o.partition, st); err != nil {
		s.log.Warn("journal not written ahead of a file's name", "target", o.t.spec.Name, "partition", o.partition, "error", err)
		return
	}
	s.saveJournals()
	if journaledAhead != nil {
		journaledAhead()
	}
}

// journaledAhead, if set (by a test), is called after each journalAhead:
// the instant a crash would find the journal written and the file not
// yet under its name.
var journaledAhead func()
