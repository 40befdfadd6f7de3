package proc

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTail keeps the end of what is written, however it is cut.
func TestTail(t *testing.T) {
	tl := &Tail{Max: 8}
	for _, s := range []string{"abc", "defghij", "klm", "\xffn"} {
		tl.Write([]byte(s))
	}
	if got := tl.String(); got != "hijklm?n" {
		t.Errorf("tail %q, want %q", got, "hijklm?n")
	}
}

// TestCommandContextKillsGroup: when the context ends, a child the
// command started in the background dies with it.
func TestCommandContextKillsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	cmd := CommandContext(ctx, []string{"/bin/sh", "-c", `sleep 60 & echo $! > "$0"; wait`, pidFile})
	if err := cmd.Run(); err == nil {
		t.Fatal("the command exited 0 though killed")
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") || syscall.Kill(pid, 0) != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the background child %d outlived the command", pid)
		}
	}
}
