package store

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/proc"
)

// pipeWait bounds how long Finalize waits for a PipeCmd to exit once its
// stdin is closed.
const pipeWait = time.Minute

// stderrTail is how much of a PipeCmd's stderr is kept for errors.
const stderrTail = 1024

// pipe is one file's PipeCmd process: the capture goes to its stdin, its
// stdout is the file. It is always waited for: by finish, or by kill.
type pipe struct {
	argv   []string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *proc.Tail
	wait   time.Duration // for the exit after stdin closes
	err    error         // the outcome, once finished
	done   bool
}

// startPipe starts argv with out as its stdout, in its own process group
// (so that kill reaches what a shell started).
func startPipe(argv []string, out *os.File, wait time.Duration) (*pipe, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	p := &pipe{argv: argv, cmd: cmd, stderr: &proc.Tail{Max: stderrTail}, wait: wait}
	cmd.Stdout = out
	cmd.Stderr = p.stderr
	proc.Group(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("pipe command %s: %w", argv[0], err)
	}
	if err := cmd.Start(); err != nil {
		stdin.Close()
		return nil, fmt.Errorf("pipe command %s: %w: %w", argv[0], ErrPipe, err)
	}
	p.stdin = stdin
	return p, nil
}

// Write writes to the command's stdin. If the command stopped reading, it
// waits for it and returns why.
func (p *pipe) Write(b []byte) (int, error) {
	if p.done {
		return 0, p.err
	}
	n, err := p.stdin.Write(b)
	if err != nil {
		if ferr := p.finish(); ferr != nil {
			return n, ferr
		}
		return n, p.fail(fmt.Errorf("it stopped reading its stdin: %w", err))
	}
	return n, nil
}

// finish closes the command's stdin and waits for it to exit, killing its
// process group if it takes longer than p.wait. It returns nil if it
// exited 0, else an ErrPipe with its stderr's tail.
func (p *pipe) finish() error {
	if p.done {
		return p.err
	}
	p.stdin.Close()
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	var err error
	timer := time.NewTimer(p.wait)
	select {
	case err = <-exited:
		timer.Stop()
	case <-timer.C:
		proc.KillGroup(p.cmd)
		<-exited
		err = fmt.Errorf("still running %v after its stdin closed: killed", p.wait)
	}
	p.done = true
	if err != nil {
		return p.fail(err)
	}
	return nil
}

// kill kills the command's process group and waits for it.
func (p *pipe) kill() {
	if p.done {
		return
	}
	p.stdin.Close()
	proc.KillGroup(p.cmd)
	p.cmd.Wait()
	p.done = true
	p.err = fmt.Errorf("pipe command %s: killed: %w", p.argv[0], ErrPipe)
}

// fail records the command's failure, with its stderr's tail.
func (p *pipe) fail(err error) error {
	if msg := p.stderr.String(); msg != "" {
		err = fmt.Errorf("%w; stderr: %q", err, msg)
	}
	p.err = fmt.Errorf("pipe command %s: %w: %w", p.argv[0], ErrPipe, err)
	return p.err
}
