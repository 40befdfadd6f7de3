package sink

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/fastcapa-go/fastcapa/index"
	"github.com/fastcapa-go/fastcapa/internal/atomicfile"
	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/pcap"
	"github.com/fastcapa-go/fastcapa/query"
	"github.com/fastcapa-go/fastcapa/store"
)

// journalSink is a sink over two targets in dir (no consumer).
func journalSink(t *testing.T, dir, group string) *Sink {
	t.Helper()
	spec := Spec{Topic: "t", Group: group, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, name := range []string{"a", "b"} {
		spec.Targets = append(spec.Targets, Target{Name: name,
			Store: store.Spec{Dir: filepath.Join(dir, name), Template: "{ts}_{seq}.pcap", Format: pcap.FormatPcap}})
	}
	s, err := newSink(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.dead.Close() })
	return s
}

// TestJournal: what one run notes and writes, the next reads back; a
// partition resumed between the last commit accepted and an output's
// stored offset skips up to it, one resumed before that commit (offsets
// reset) or of another group skips nothing.
func TestJournal(t *testing.T) {
	dir := t.TempDir()
	s := journalSink(t, dir, "g")
	st, err := s.part(3, 100)
	if err != nil {
		t.Fatal(err)
	}
	// Consumed up to 720: target a has every record before it in
	// finalized files, b has a file open from 650; nothing committed
	// this run, which started at 100.
	st.next = 720
	st.outs[1].open, st.outs[1].durable = true, 650
	st.unjournaled = true
	if err := s.journalize(3, st); err != nil {
		t.Fatal(err)
	}
	s.saveJournals()
	for _, name := range []string{"a", "b"} {
		if _, err := os.Stat(filepath.Join(dir, name, journalName)); err != nil {
			t.Fatal(err)
		}
	}

	for _, c := range []struct {
		group       string
		start       int64
		skip        [2]int64
		deadSkip    int64
		description string
	}{
		{"g", 100, [2]int64{720, 650}, 720, "from the run's own start (no commit accepted)"},
		{"g", 400, [2]int64{720, 650}, 720, "from a later commit that did not land"},
		{"g", 700, [2]int64{720, 0}, 720, "past b's stored offset"},
		{"g", 50, [2]int64{0, 0}, 0, "before the last commit accepted: offsets reset"},
		{"h", 400, [2]int64{0, 0}, 0, "another group"},
	} {
		s2 := journalSink(t, dir, c.group)
		st2, err := s2.part(3, c.start)
		if err != nil {
			t.Fatal(err)
		}
		got := [2]int64{st2.outs[0].skip, st2.outs[1].skip}
		if got != c.skip || st2.deadSkip != c.deadSkip {
			t.Errorf("%s (group %s, start %d): skip %v, dead letters from %d; want %v, %d",
				c.description, c.group, c.start, got, st2.deadSkip, c.skip, c.deadSkip)
		}
	}
	// A partition this journal does not know skips nothing.
	st3, err := journalSink(t, dir, "g").part(4, 100)
	if err != nil {
		t.Fatal(err)
	}
	if st3.outs[0].skip != 0 || st3.deadSkip != 0 {
		t.Errorf("partition 4: skip %d, dead letters from %d; want 0, 0", st3.outs[0].skip, st3.deadSkip)
	}

	// A journal that cannot be read skips nothing.
	os.WriteFile(filepath.Join(dir, "a", journalName), []byte("{torn"), 0o644)
	st4, err := journalSink(t, dir, "g").part(3, 400)
	if err != nil {
		t.Fatal(err)
	}
	if st4.outs[0].skip != 0 || st4.outs[1].skip != 650 || st4.deadSkip != 0 {
		t.Errorf("a's journal torn: skip %d and %d, dead letters from %d; want 0, 650, 0",
			st4.outs[0].skip, st4.outs[1].skip, st4.deadSkip)
	}
}

// TestJournalHidden: what walks a target's directory — recovery, index
// cleaning, retention, the upload spool, queries — passes the journal
// and a temporary file a crash left of it by, and newSink removes the
// latter.
func TestJournalHidden(t *testing.T) {
	dir := t.TempDir()
	capture := filepath.Join(dir, "1.pcap")
	pcaptest.WriteCapture(t, capture, pcaptest.File{Micro: true, SnapLen: 65535}, []pcap.Record{{Timestamp: 1e9, Data: make([]byte, 60)}})
	journal := filepath.Join(dir, journalName)
	if err := atomicfile.WriteFile(journal, []byte(`{"partitions":[]}`)); err != nil {
		t.Fatal(err)
	}
	leftover := journal + ".0123abcd.tmp"
	os.WriteFile(leftover, []byte("{"), 0o644)

	if rec, discarded, err := store.Recover(dir); err != nil || len(rec)+len(discarded) != 0 {
		t.Errorf("store.Recover: %v, %v, %v", rec, discarded, err)
	}
	if removed, err := index.Clean(dir); err != nil || len(removed) != 0 {
		t.Errorf("index.Clean removed %v (%v)", removed, err)
	}
	if deleted, err := store.Retain(dir, store.Retention{MaxBytes: 1}); err != nil || len(deleted) != 1 || deleted[0] != capture {
		t.Errorf("store.Retain deleted %v (%v); want the capture only", deleted, err)
	}
	os.WriteFile(capture, []byte("x"), 0o644)
	if files, err := spooled(dir, filepath.Join(dir, "deadletter.jsonl")); err != nil || len(files) != 1 || files[0] != capture {
		t.Errorf("spool: %v (%v); want the capture only", files, err)
	}
	found, _, err := query.Walk([]string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		if f.Path != capture {
			t.Errorf("query.Walk found %s", f.Path)
		}
	}
	for _, p := range []string{journal, leftover} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	s := &Sink{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s.loadJournal(&target{spec: Target{Store: store.Spec{Dir: dir}}})
	if _, err := os.Stat(leftover); err == nil {
		t.Errorf("%s left after the journal was loaded", leftover)
	}
	if _, err := os.Stat(journal); err != nil {
		t.Error(err)
	}
}
