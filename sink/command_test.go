package sink

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/store"
)

// The on_finalize commands, tested in process against a kfake broker
// with /bin/sh scripts as the commands: what they are given, the order,
// retries, timeouts, the journal across a restart, retention, and the
// commit held back by commit_after: command.

// commandScript is an on_finalize command: /bin/sh running script with
// ctl (a directory the test watches and steers) as $1 and the file's
// path as $2.
func commandScript(ctl, script string) []string {
	return []string{"/bin/sh", "-c", script, "sh", ctl, "{path}"}
}

// ranKeys are the lines a script appended to ctl/ran, in order.
func ranKeys(t *testing.T, ctl string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ctl, "ran"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// finalizedNames are the capture files in dir, oldest first (their names
// are {ts}_{seq}).
func finalizedNames(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := store.Walk(dir, func(e store.Entry) error {
		if e.Err == nil && e.Kind == store.Capture {
			names = append(names, filepath.Base(e.Path))
		}
		return e.Err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// journalCommands is what dir's journal lists as waiting for their
// command.
func journalCommands(t *testing.T, dir string) []commandEntry {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, journalName))
	if err != nil {
		t.Fatal(err)
	}
	var f journalFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.OnFinalize
}

// TestCommandCommitAfter: with commit_after: command, a finalized file's
// records are committed only once its command exited 0, in order, one
// file at a time; the command is given the file's path, name and key,
// in its arguments and its environment; stopping waits for the last
// file's command before the last commit.
func TestCommandCommitAfter(t *testing.T) {
	_, addr := commitBroker(t)
	g := newGroupOffsets(t, addr, "after")
	dir, ctl := t.TempDir(), t.TempDir()
	copies := filepath.Join(ctl, "copies")
	os.Mkdir(copies, 0o755)
	// Each run takes a token (or finds the gate open), then logs and
	// copies its file.
	tg := localTarget(dir, 5)
	tg.OnFinalize = &Command{CommitAfter: true, Argv: commandScript(ctl, `
until [ -e "$1/open" ] || mv "$1/token" "$1/used.$$" 2>/dev/null; do sleep 0.02; done
[ "$PCAPSTORE_NAME" = "{name}" ] && [ "$PCAPSTORE_PATH" = "$2" ] && [ "$PCAPSTORE_DIR/$PCAPSTORE_KEY" = "$2" ] || exit 3
echo "{key}" >> "$1/ran"
cp "$2" "$1/copies/"`)}
	produceFrames(t, addr, 0, 12, 100, false)
	s := startSink(t, commitSpec(t, addr, "after", tg))
	t.Cleanup(func() { os.WriteFile(filepath.Join(ctl, "open"), nil, 0o644) }) // before the sink stops
	waitFor(t, "2 files finalized", func() bool { return s.Counters().Files == 2 })
	if got := g.holds(0, "two files waiting for their command"); got > 0 {
		t.Errorf("committed %d with no command done", got)
	}
	token := func() {
		if err := os.WriteFile(filepath.Join(ctl, "token"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	token()
	g.waitCommitted(5)
	g.holds(5, "the second file waiting for its command")
	token()
	g.waitCommitted(10)
	if n, idx := finished(t, copies); n != 2 || !slices.Equal(idx, sequence(10)) {
		t.Errorf("committed 10 with %d files copied holding %v", n, idx)
	}
	os.WriteFile(filepath.Join(ctl, "open"), nil, 0o644)
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	c := s.Counters().Targets[0]
	if got := g.committed(); got != 12 || c.Commands != 3 || c.CommandErrors != 0 || c.CommandsPending != 0 {
		t.Errorf("after stopping: committed %d, commands %+v; want 12 and 3 done", got, c)
	}
	if got, want := ranKeys(t, ctl), finalizedNames(t, dir); !slices.Equal(got, want) {
		t.Errorf("commands ran for %v, want every file in order: %v", got, want)
	}
	if n, idx := finished(t, copies); n != 3 || !slices.Equal(idx, sequence(12)) {
		t.Errorf("%d files copied holding %v, want all 12 records", n, idx)
	}
	if left := journalCommands(t, dir); len(left) != 0 {
		t.Errorf("the journal still lists %v", left)
	}
}

// TestCommandRetriesAndRestart: a failing command is tried again and
// counted while offsets are committed as files reach the disk (commit
// after finalize); the files whose command never succeeded stay in the
// journal at stop and are handed to the command first at the next
// start, in the order they were finalized, each once.
func TestCommandRetriesAndRestart(t *testing.T) {
	_, addr := commitBroker(t)
	g := newGroupOffsets(t, addr, "retry")
	dir, ctl := t.TempDir(), t.TempDir()
	tg := localTarget(dir, 5)
	tg.OnFinalize = &Command{Argv: commandScript(ctl, `
[ -e "$1/ok" ] || { echo "remote unreachable" >&2; exit 1; }
echo "{name}" >> "$1/ran"`)}
	produceFrames(t, addr, 0, 12, 100, false)
	s := startSink(t, commitSpec(t, addr, "retry", tg))
	waitFor(t, "2 files finalized", func() bool { return s.Counters().Files == 2 })
	g.waitCommitted(10) // not held back by the failing commands
	waitFor(t, "a failed command tried again", func() bool { return s.Counters().Targets[0].CommandErrors >= 2 })
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	c := s.Counters().Targets[0]
	files := finalizedNames(t, dir)
	if len(files) != 3 || c.Commands != 0 || c.CommandsPending != 3 {
		t.Fatalf("after stopping: files %v, counters %+v: want 3 files, all pending", files, c)
	}
	var listed []string
	for _, e := range journalCommands(t, dir) {
		listed = append(listed, e.Path)
		if e.Partition != 0 || e.Group != "retry" || e.Topic != commitTopic {
			t.Errorf("journal entry %+v: want partition 0 of group retry", e)
		}
	}
	if !slices.Equal(listed, files) {
		t.Fatalf("journal lists %v, want %v", listed, files)
	}

	os.WriteFile(filepath.Join(ctl, "ok"), nil, 0o644)
	s = startSink(t, commitSpec(t, addr, "retry", tg))
	waitFor(t, "the 3 commands run", func() bool { return s.Counters().Targets[0].Commands == 3 })
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	if got := ranKeys(t, ctl); !slices.Equal(got, files) {
		t.Errorf("after restart the commands ran for %v, want %v", got, files)
	}
	if left := journalCommands(t, dir); len(left) != 0 {
		t.Errorf("the journal still lists %v", left)
	}
	if s.Counters().Written != 0 {
		t.Errorf("the restart wrote %d records again", s.Counters().Written)
	}
}

// TestCommandTimeout: an attempt that outlasts the timeout is killed with
// the processes it started (its process group), counted, and tried
// again.
func TestCommandTimeout(t *testing.T) {
	_, addr := commitBroker(t)
	dir, ctl := t.TempDir(), t.TempDir()
	tg := localTarget(dir, 5)
	// The first attempt leaves a sleeping child behind and hangs.
	tg.OnFinalize = &Command{Timeout: 300 * time.Millisecond, Argv: commandScript(ctl, `
if [ ! -e "$1/tried" ]; then touch "$1/tried"; sleep 60 & echo $! > "$1/child"; wait; fi
echo "{name}" >> "$1/ran"`)}
	produceFrames(t, addr, 0, 5, 100, false)
	s := startSink(t, commitSpec(t, addr, "timeout", tg))
	waitFor(t, "the command done", func() bool { return s.Counters().Targets[0].Commands == 1 })
	if c := s.Counters().Targets[0]; c.CommandErrors != 1 {
		t.Errorf("counters %+v: want one failed attempt", c)
	}
	b, err := os.ReadFile(filepath.Join(ctl, "child"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	waitFor(t, "the hung attempt's child gone", func() bool {
		return syscall.Kill(pid, 0) == syscall.ESRCH || zombie(pid)
	})
}

// zombie says whether pid is a zombie (killed, not yet reaped by init).
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] == "Z"
}

// TestCommandRetentionKeeps: retention does not delete a file whose
// command has not exited 0; once it has, the file is deleted as any
// other.
func TestCommandRetentionKeeps(t *testing.T) {
	_, addr := commitBroker(t)
	dir, ctl := t.TempDir(), t.TempDir()
	tg := localTarget(dir, 5)
	tg.Retention = store.Retention{MaxAge: time.Nanosecond}
	tg.OnFinalize = &Command{Argv: commandScript(ctl, `[ -e "$1/ok" ] && echo "{name}" >> "$1/ran"`)}
	produceFrames(t, addr, 0, 10, 100, false)
	s := startSink(t, commitSpec(t, addr, "keep", tg))
	waitFor(t, "2 files finalized", func() bool { return s.Counters().Files == 2 })
	waitFor(t, "failed attempts", func() bool { return s.Counters().Targets[0].CommandErrors >= 2 })
	if c := s.Counters(); c.Deleted != 0 || len(finalizedNames(t, dir)) != 2 {
		t.Fatalf("retention deleted %d files whose command had not run", c.Deleted)
	}
	os.WriteFile(filepath.Join(ctl, "ok"), nil, 0o644)
	waitFor(t, "the commands done", func() bool { return s.Counters().Targets[0].Commands == 2 })
	produceFrames(t, addr, 10, 15, 100, false) // a file finalized: retention runs
	waitFor(t, "retention", func() bool { return s.Counters().Deleted >= 2 })
}

// TestCommandBacklog: more files than the runners' queue holds wait in
// order while the command hangs, and the consumer goes on; once it runs
// again every file's command runs, in order, and everything is
// committed.
func TestCommandBacklog(t *testing.T) {
	_, addr := commitBroker(t)
	g := newGroupOffsets(t, addr, "backlog")
	dir, ctl := t.TempDir(), t.TempDir()
	n := commandQueue + 20
	tg := localTarget(dir, 1)
	tg.OnFinalize = &Command{CommitAfter: true, Argv: commandScript(ctl, `
until [ -e "$1/open" ]; do sleep 0.02; done
echo "{name}" >> "$1/ran"`)}
	produceFrames(t, addr, 0, n+1, 100, false)
	s := startSink(t, commitSpec(t, addr, "backlog", tg))
	t.Cleanup(func() { os.WriteFile(filepath.Join(ctl, "open"), nil, 0o644) })
	waitFor(t, "every file finalized", func() bool { return s.Counters().Files == uint64(n) })
	if got := g.holds(0, "every command waiting"); got > 0 {
		t.Errorf("committed %d with no command done", got)
	}
	os.WriteFile(filepath.Join(ctl, "open"), nil, 0o644)
	g.waitCommitted(int64(n))
	// The last record's file may be finalized by now (a tick), and its
	// command run.
	if got, want := ranKeys(t, ctl), finalizedNames(t, dir)[:n]; len(got) < n || !slices.Equal(got[:n], want) {
		t.Errorf("commands ran for %d files, want %d in order (first differences: %v)", len(got), len(want), firstDiff(got, want))
	}
}

// firstDiff is where a and b first differ, for messages.
func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i] + " / " + b[i]
		}
	}
	return "one is a prefix of the other"
}
