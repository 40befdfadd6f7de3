package test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// TestSystemdNotify runs the daemon as systemd would with Type=notify and
// WatchdogSec: it must say READY=1 once its port is up and the broker has
// answered, ping WATCHDOG=1 from its main loop, and say STOPPING=1 when
// the drain begins.
func TestSystemdNotify(t *testing.T) {
	testenv.RequireRoot(t)
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got := make(chan string, 64)
	go func() {
		buf := make([]byte, 256)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(got)
				return
			}
			got <- string(buf[:n])
		}
	}()
	next := func(want string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case s := <-got:
				if strings.Contains(s, want) {
					return
				}
			case <-deadline:
				t.Fatalf("no %s from fastcapa", want)
			}
		}
	}

	file := filepath.Join(testenv.Pcaps(t), "metron-example.pcap")
	b := startBroker(t, 0, "pcap", "")
	// WATCHDOG_PID is the daemon's own pid in real life; unset, the
	// watchdog applies to whoever reads it.
	d := startDaemon(t, []string{"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=1000000"},
		append(ealArgs(t), "-vdev", "net_pcap0,rx_pcap="+file, "-port", "net_pcap0", "-brokers", b.Addr)...)
	next("READY=1")
	next("WATCHDOG=1")
	next("WATCHDOG=1")
	if code := d.stop(t); code != 0 {
		t.Errorf("exit status %d", code)
	}
	next("STOPPING=1")
	_ = os.Remove(sock)
}
