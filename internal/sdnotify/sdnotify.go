// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)): READY=1, WATCHDOG=1, STOPPING=1 and STATUS= sent as
// datagrams to $NOTIFY_SOCKET. Without that variable nothing is sent, so
// the daemon runs the same outside systemd. It also holds the two rules
// both daemons (fastcapa, pcapstore sink) follow: READY=1 once their
// readiness check passes, logged as "ready" (NotifyReady), and WATCHDOG=1
// at most every WatchdogInterval from their main loop (Watchdog). It
// never decides what ready means nor which loop is alive: the daemon
// passes those in.
package sdnotify

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"
)

// Notify sends state, e.g. "READY=1", to systemd. It reports whether a
// socket was there to send to.
func Notify(state string) (bool, error) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return false, nil
	}
	if path[0] == '@' { // abstract namespace
		path = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return false, err
	}
	return true, nil
}

// WatchdogInterval is how often to send WATCHDOG=1: half the
// WatchdogSec= systemd set for this process, or 0 when there is none.
func WatchdogInterval() time.Duration {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}

// NotifyReady polls ready every 200 ms until it returns nil, then sends
// READY=1 and logs "ready" with systemd_notified (whether a socket was
// there to tell). It gives up when ctx ends; run it in its own
// goroutine. ready is the daemon's /readyz rule, so systemd and a
// readiness probe agree.
func NotifyReady(ctx context.Context, ready func() error, log *slog.Logger) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		if ready() == nil {
			sent, err := Notify("READY=1")
			log.Info("ready", "systemd_notified", sent)
			if err != nil {
				log.Warn("systemd notify", "error", err)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Watchdog sends WATCHDOG=1 at most every WatchdogInterval. Ping it from
// the loop whose life it vouches for, never from a goroutine of its own:
// a loop that is stuck then stops the pings and systemd's watchdog fires.
// The zero value, or one made without WatchdogSec=, never sends.
type Watchdog struct {
	every time.Duration
	last  time.Time
}

// NewWatchdog reads WatchdogInterval once.
func NewWatchdog() *Watchdog { return &Watchdog{every: WatchdogInterval()} }

// Ping sends WATCHDOG=1 if the interval has passed since the last one.
// Not safe for concurrent use: one loop pings.
func (w *Watchdog) Ping() {
	if w.every <= 0 || time.Since(w.last) < w.every {
		return
	}
	Notify("WATCHDOG=1")
	w.last = time.Now()
}
