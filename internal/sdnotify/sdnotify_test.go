package sdnotify

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// listen is a fake $NOTIFY_SOCKET; read returns the next datagram, or ""
// after wait.
func listen(t *testing.T) (read func(wait time.Duration) string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return func(wait time.Duration) string {
		buf := make([]byte, 64)
		conn.SetReadDeadline(time.Now().Add(wait))
		n, err := conn.Read(buf)
		if err != nil {
			return ""
		}
		return string(buf[:n])
	}
}

func TestNotifySendsDatagram(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	if sent, err := Notify("READY=1"); !sent || err != nil {
		t.Fatalf("Notify: sent %v, %v", sent, err)
	}
	buf := make([]byte, 64)
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
}

func TestNotifyWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if sent, err := Notify("READY=1"); sent || err != nil {
		t.Errorf("Notify without NOTIFY_SOCKET: sent %v, %v", sent, err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "4000000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	if got := WatchdogInterval(); got != 2*time.Second {
		t.Errorf("WatchdogInterval() = %v, want 2s", got)
	}
	t.Setenv("WATCHDOG_PID", "1")
	if got := WatchdogInterval(); got != 0 {
		t.Errorf("for another pid: %v, want 0", got)
	}
	t.Setenv("WATCHDOG_USEC", "")
	if got := WatchdogInterval(); got != 0 {
		t.Errorf("unset: %v, want 0", got)
	}
}

// TestNotifyReady: nothing is sent while ready fails; READY=1 and a
// "ready" log line with systemd_notified=true once it passes.
func TestNotifyReady(t *testing.T) {
	read := listen(t)
	var ok atomic.Bool
	var logs bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		NotifyReady(context.Background(), func() error {
			if ok.Load() {
				return nil
			}
			return errors.New("no broker")
		}, slog.New(slog.NewTextHandler(&logs, nil)))
	}()
	if got := read(600 * time.Millisecond); got != "" {
		t.Fatalf("sent %q while not ready", got)
	}
	ok.Store(true)
	if got := read(2 * time.Second); got != "READY=1" {
		t.Fatalf("got %q once ready, want READY=1", got)
	}
	<-done
	if !strings.Contains(logs.String(), "msg=ready systemd_notified=true") {
		t.Errorf("log: %q", logs.String())
	}
}

// TestNotifyReadyCancelled: NotifyReady returns when ctx ends, never ready.
func TestNotifyReadyCancelled(t *testing.T) {
	read := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		NotifyReady(ctx, func() error { return errors.New("never") }, slog.New(slog.DiscardHandler))
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("NotifyReady still polling after its context ended")
	}
	if got := read(300 * time.Millisecond); got != "" {
		t.Errorf("sent %q", got)
	}
}

// TestWatchdogPing: the first Ping sends WATCHDOG=1, the next ones within
// the interval nothing, the first after it again; without WatchdogSec=,
// nothing.
func TestWatchdogPing(t *testing.T) {
	read := listen(t)
	t.Setenv("WATCHDOG_PID", "")
	t.Setenv("WATCHDOG_USEC", "400000") // pings every 200 ms at most
	w := NewWatchdog()
	w.Ping()
	if got := read(time.Second); got != "WATCHDOG=1" {
		t.Fatalf("first ping: got %q", got)
	}
	w.Ping()
	w.Ping()
	if got := read(100 * time.Millisecond); got != "" {
		t.Fatalf("pinged again within the interval: %q", got)
	}
	time.Sleep(250 * time.Millisecond)
	w.Ping()
	if got := read(time.Second); got != "WATCHDOG=1" {
		t.Fatalf("after the interval: got %q", got)
	}

	t.Setenv("WATCHDOG_USEC", "")
	NewWatchdog().Ping()
	(&Watchdog{}).Ping()
	if got := read(200 * time.Millisecond); got != "" {
		t.Errorf("without WatchdogSec=: sent %q", got)
	}
}
