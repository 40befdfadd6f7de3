package daemonsig

import (
	"bytes"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNotify sends the test process its own signals: SIGHUP calls reopen
// and ends nothing, SIGTERM ends the context, a later SIGINT is only
// logged, and a write to a closed pipe on stdout fails with EPIPE.
func TestNotify(t *testing.T) {
	var logs logBuffer
	reopened := make(chan struct{}, 1)
	ctx, stop := Notify(slog.New(slog.NewTextHandler(&logs, nil)), func() { reopened <- struct{}{} })
	defer stop()
	self := func(s syscall.Signal) {
		if err := syscall.Kill(os.Getpid(), s); err != nil {
			t.Fatal(err)
		}
	}

	self(syscall.SIGHUP)
	select {
	case <-reopened:
	case <-time.After(5 * time.Second):
		t.Fatal("SIGHUP did not call reopen")
	}
	if ctx.Err() != nil {
		t.Fatal("SIGHUP ended the context")
	}

	self(syscall.SIGTERM)
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGTERM did not end the context")
	}
	self(syscall.SIGINT)
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "already stopping"); {
		if time.Now().After(deadline) {
			t.Fatalf("second signal not logged:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Go would raise SIGPIPE for a failed write on fd 1 unless ignored.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	saved, err := syscall.Dup(1)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Dup2(int(w.Fd()), 1)
	_, werr := os.Stdout.Write([]byte("into a closed pipe\n"))
	syscall.Dup2(saved, 1)
	syscall.Close(saved)
	w.Close()
	if werr == nil || !strings.Contains(werr.Error(), "broken pipe") {
		t.Errorf("write to a closed stdout: %v, want EPIPE", werr)
	}
}
