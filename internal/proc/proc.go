// Package proc holds what the project's child processes share: each runs
// in a process group of its own, so that killing it reaches what a shell
// it ran started too (Group, KillGroup), and the end of its output is
// kept for errors and logs (Tail). It is the one place for both, used by
// store's pipe commands and the sink's on_finalize commands.
//
// It never decides when to run or kill a process, nor what its exit
// means: its callers do.
package proc

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Group makes cmd start in a process group of its own. A background
// child that keeps the output open holds Wait for a second at most.
func Group(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = time.Second
}

// CommandContext is exec.CommandContext with Group, and the whole group
// killed when ctx ends.
func CommandContext(ctx context.Context, argv []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	Group(cmd)
	cmd.Cancel = func() error { return KillGroup(cmd) }
	return cmd
}

// KillGroup sends SIGKILL to the process group of cmd, started by Group.
func KillGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

// Tail is an io.Writer that keeps the last Max bytes written to it; safe
// for a process's stdout and stderr at once.
type Tail struct {
	Max int
	mu  sync.Mutex
	b   []byte
}

func (t *Tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, b...)
	if over := len(t.b) - t.Max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(b), nil
}

// String is what was kept, trimmed, invalid UTF-8 replaced by '?'.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(bytes.ToValidUTF8(t.b, []byte("?"))))
}
