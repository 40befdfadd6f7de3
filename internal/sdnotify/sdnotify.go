// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)): READY=1, WATCHDOG=1, STOPPING=1 and STATUS= sent as
// datagrams to $NOTIFY_SOCKET. Without that variable every call does
// nothing, so the daemon runs the same outside systemd.
package sdnotify

import (
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
