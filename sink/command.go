package sink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fastcapa-go/fastcapa/index"
	"github.com/fastcapa-go/fastcapa/internal/proc"
)

// A target with OnFinalize runs a command for each file it finalizes, as
// tcpdump's -z postrotate-command and FMADIO's rclone push do:
//
//   - the command is an argv run without a shell (one is run only if the
//     argv names it); in each argument {path}, {name}, {key}, {dir},
//     {index} and {target} are replaced (see Command), and the same are
//     in its environment as PCAPSTORE_PATH, _NAME, _KEY, _DIR, _INDEX and
//     _TARGET; its stdin is /dev/null, its output kept for the log;
//   - files are handed to the target's Concurrency runners in the order
//     they were finalized (with Concurrency 1, one after the other);
//   - an attempt that exits non-zero, or outlasts Timeout (its process
//     group is then killed), is counted, logged with the end of its
//     output, and tried again after a wait that doubles from a second to
//     a minute, for as long as the sink runs;
//   - a file is in the target's journal (journal.go) from its
//     finalization until its command exits 0: one whose command had not
//     succeeded when the sink stopped or crashed is handed to the command
//     again at the next start. That is at least once: a crash between a
//     command's exit and the journal's write runs it twice, so a command
//     should be idempotent (rclone copyto is);
//   - with CommitAfter, the offsets of a file's records are committed only
//     once its command exited 0, so a sink of the group that takes the
//     partition over consumes them again: a file copied away by the
//     command is then as safe as one the sink uploads itself. The
//     journal's own offsets are not held back: this sink never writes
//     the records again;
//   - retention leaves a file alone until its command has succeeded.
//
// Files Recover published at start (left open by a crash) are handed to
// the command too; their records are consumed and written again as well.

// Command is a target's OnFinalize.
type Command struct {
	// Argv is the command and its arguments. In each, {path} is the
	// file's absolute path, {name} its base name, {key} its path
	// relative to the target's directory with '/' (what an upload would
	// name it), {dir} the target's absolute directory, {index} the path
	// of its sidecar index (which may not exist), {target} the target's
	// name.
	Argv []string
	// Timeout bounds one attempt (0: none).
	Timeout time.Duration
	// Concurrency is how many files' commands run at once (0: 1).
	Concurrency int
	// CommitAfter holds back the commit of a file's records until its
	// command has exited 0.
	CommitAfter bool
}

// DefaultCommandTimeout is the configuration's on_finalize_timeout.
const DefaultCommandTimeout = time.Hour

// MaxCommandConcurrency bounds Command.Concurrency.
const MaxCommandConcurrency = 64

// The wait before a failed command is tried again doubles from
// commandRetry to commandRetryMax.
const (
	commandRetry    = time.Second
	commandRetryMax = time.Minute
)

// commandQueue is how many commands wait for a target's runners in
// their channel; more wait in the target's backlog (hand).
const commandQueue = 64

// commandOutput is how much of a command's output is logged (its end).
const commandOutput = 4096

// command is one finalized file whose command has not exited 0 yet.
type command struct {
	t     *target
	entry commandEntry
	err   error // the last attempt's, once handed back
}

// commandEntry is a command in the journal: the file, and the records it
// holds (Partition -1: not known, a file Recover published).
type commandEntry struct {
	Path      string `json:"path"` // relative to the target's directory
	Group     string `json:"group,omitempty"`
	Topic     string `json:"topic,omitempty"`
	Partition int32  `json:"partition"`
	From      int64  `json:"from"` // the file's first record
}

// path is the file's absolute path.
func (c *command) path() string { return filepath.Join(c.t.dir, filepath.FromSlash(c.entry.Path)) }

// addCommand puts a finalized file, holding records of partition p from
// offset from on (p -1: not known), in its target's journal and hands it
// to the target's runners.
func (s *Sink) addCommand(t *target, path string, p int32, from int64) {
	rel, err := filepath.Rel(t.dir, path)
	if err != nil { // store's files are under its directory
		rel = path
	}
	e := commandEntry{Path: filepath.ToSlash(rel), Partition: -1, From: from}
	if p >= 0 {
		e.Group, e.Topic, e.Partition = s.spec.Group, s.spec.Topic, p
	}
	s.queueCommand(&command{t: t, entry: e})
}

// queueCommand hands c to its target's runners, c being in the journal.
func (s *Sink) queueCommand(c *command) {
	j := c.t.journal
	j.commands = append(j.commands, c)
	j.dirty = true
	c.t.cmdPending.Store(int64(len(j.commands)))
	s.inflight++
	hand(c.t.cmds, &c.t.cmdBacklog, c)
}

// hand gives v to the goroutines reading ch, after what waits in
// backlog: the consumer goroutine never blocks on an uploader's or a
// command runner's queue, as they, done, wait for it to take their
// results. handOn moves the backlog on as they take more.
func hand[T any](ch chan<- T, backlog *[]T, v T) {
	*backlog = append(*backlog, v)
	handOn(ch, backlog)
}

func handOn[T any](ch chan<- T, backlog *[]T) {
	for len(*backlog) > 0 {
		select {
		case ch <- (*backlog)[0]:
			var zero T
			(*backlog)[0] = zero
			*backlog = (*backlog)[1:]
		default:
			return
		}
	}
}

// startCommands starts each commanding target's runners and hands them
// the files its journal lists, first.
func (s *Sink) startCommands(ctx context.Context) {
	for _, t := range s.targets {
		spec := t.spec.OnFinalize
		if spec == nil {
			continue
		}
		t.cmds = make(chan *command, commandQueue)
		for range max(spec.Concurrency, 1) {
			s.runners.Add(1)
			go s.runner(ctx, t)
		}
		left := t.journal.commands
		t.journal.commands = nil
		for _, c := range left {
			s.log.Warn("on_finalize: running the command of a file whose command had not succeeded", "target", t.spec.Name, "path", c.path())
			s.queueCommand(c)
		}
		for _, path := range t.left {
			s.log.Warn("on_finalize: running the command of a file recovered at start", "target", t.spec.Name, "path", path)
			s.addCommand(t, path, -1, 0)
		}
		t.left = nil
	}
}

// runner runs the commands of t's files it takes, each until it exits 0
// or ctx ends, and hands each back to Run.
func (s *Sink) runner(ctx context.Context, t *target) {
	defer s.runners.Done()
	for c := range t.cmds {
		wait := commandRetry
		for c.err = ctx.Err(); c.err == nil; {
			err := s.runCommand(ctx, c)
			if err == nil || ctx.Err() != nil {
				c.err = err
				break
			}
			t.cmdErrors.Add(1)
			s.log.Error("on_finalize: command failed; trying again", "target", t.spec.Name, "path", c.path(), "error", err, "in", wait)
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			wait = min(2*wait, commandRetryMax)
		}
		s.ran <- c
	}
}

// runCommand runs c's command once; nil if it exited 0. Its output is
// logged.
func (s *Sink) runCommand(ctx context.Context, c *command) error {
	spec := c.t.spec.OnFinalize
	if spec.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, spec.Timeout)
		defer cancel()
	}
	path := c.path()
	vars := []string{"{path}", path, "{name}", filepath.Base(path), "{key}", c.entry.Path, "{dir}", c.t.dir,
		"{index}", index.SidecarPath(path), "{target}", c.t.spec.Name}
	r := strings.NewReplacer(vars...)
	argv := make([]string, len(spec.Argv))
	for i, a := range spec.Argv {
		argv[i] = r.Replace(a)
	}
	cmd := proc.CommandContext(ctx, argv)
	out := &proc.Tail{Max: commandOutput}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = os.Environ()
	for i := 0; i < len(vars); i += 2 {
		cmd.Env = append(cmd.Env, "PCAPSTORE_"+strings.ToUpper(strings.Trim(vars[i], "{}"))+"="+vars[i+1])
	}
	start := time.Now()
	err := cmd.Run()
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("killed, still running after on_finalize_timeout %v", spec.Timeout)
	}
	if err != nil {
		if o := out.String(); o != "" {
			err = fmt.Errorf("%s: %w; output: %q", argv[0], err, o)
		} else {
			err = fmt.Errorf("%s: %w", argv[0], err)
		}
		return err
	}
	s.log.Info("on_finalize: done", "target", c.t.spec.Name, "path", path, "took", time.Since(start).Round(time.Millisecond).String(),
		"output", out.String())
	return nil
}

// commandDone takes a command handed back by a runner: once it exited 0,
// its file leaves the journal and the commit it held back goes ahead.
func (s *Sink) commandDone(c *command) error {
	s.inflight--
	if c.err != nil { // only when stopping: it stays in the journal
		return nil
	}
	t := c.t
	handOn(t.cmds, &t.cmdBacklog)
	t.cmdDone.Add(1)
	j := t.journal
	for i, x := range j.commands {
		if x == c {
			j.commands = append(j.commands[:i], j.commands[i+1:]...)
			j.dirty = true
			break
		}
	}
	t.cmdPending.Store(int64(len(j.commands)))
	if st, ok := s.parts[c.entry.Partition]; ok && t.spec.OnFinalize.CommitAfter && s.ours(c.entry) {
		return s.tryCommit(c.entry.Partition, st)
	}
	s.saveJournals()
	return nil
}

// ours says whether e holds records of this sink's group and topic.
func (s *Sink) ours(e commandEntry) bool {
	return e.Partition >= 0 && e.Group == s.spec.Group && e.Topic == s.spec.Topic
}

// awaiting counts t's files of partition p whose command has not exited
// 0, if t commits after its command (else none), and gives the first
// record of the oldest (files are listed in order).
func (s *Sink) awaiting(t *target, p int32) (from int64, n int) {
	if t.spec.OnFinalize == nil || !t.spec.OnFinalize.CommitAfter {
		return 0, 0
	}
	for _, c := range t.journal.commands {
		if c.entry.Partition == p && s.ours(c.entry) {
			if n == 0 {
				from = c.entry.From
			}
			n++
		}
	}
	return from, n
}

// commandPending says whether path is a file of t whose command has not
// exited 0 (retention leaves it).
func (t *target) commandPending(path string) bool {
	for _, c := range t.journal.commands {
		if c.path() == path {
			return true
		}
	}
	return false
}

// stopCommands takes back what the runners did, once stopUploads closed
// their queues and cancelled what was under way (killing the commands),
// and writes the journals.
func (s *Sink) stopCommands() {
	go func() {
		s.runners.Wait()
		close(s.ran)
	}()
	for c := range s.ran {
		s.commandDone(c)
	}
	s.saveJournals()
}
