package test

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// notifySocket is a fake $NOTIFY_SOCKET that who sends to.
type notifySocket struct {
	t    *testing.T
	who  string
	path string
	got  chan string
}

func newNotifySocket(t *testing.T, who string) *notifySocket {
	t.Helper()
	n := &notifySocket{t: t, who: who, path: filepath.Join(t.TempDir(), "notify.sock"), got: make(chan string, 256)}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		os.Remove(n.path)
	})
	go func() {
		buf := make([]byte, 256)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				close(n.got)
				return
			}
			n.got <- string(buf[:k])
		}
	}()
	return n
}

// next waits (20 s at most) for a datagram holding want, dropping those
// before it; it fails the test without one.
func (n *notifySocket) next(want string) {
	n.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case s := <-n.got:
			if strings.Contains(s, want) {
				return
			}
		case <-deadline:
			n.t.Fatalf("no %s from %s", want, n.who)
		}
	}
}

// received is what arrived and was not read yet.
func (n *notifySocket) received() []string {
	var all []string
	for {
		select {
		case s := <-n.got:
			all = append(all, s)
		default:
			return all
		}
	}
}

// TestSystemdNotify runs the daemon as systemd would with Type=notify and
// WatchdogSec: it must say READY=1 once its port is up and the broker has
// answered, ping WATCHDOG=1 from its main loop, and say STOPPING=1 when
// the drain begins.
func TestSystemdNotify(t *testing.T) {
	testenv.RequireRoot(t)
	ns := newNotifySocket(t, "fastcapa")
	sock, next := ns.path, ns.next
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
}

// TestSinkSystemdNotify runs pcapstore sink as systemd would with
// Type=notify and WatchdogSec (deploy/systemd/pcapstore-sink@.service),
// its only broker down at first: it pings WATCHDOG=1 from its consume
// loop but says no READY=1 while no broker has answered (its /readyz
// rule); once the broker is up, READY=1, logged as "ready" with
// systemd_notified=true, and the records are stored; SIGTERM: STOPPING=1,
// exit 0.
func TestSinkSystemdNotify(t *testing.T) {
	ns := newNotifySocket(t, "pcapstore sink")
	sock, next := ns.path, ns.next
	port := freePort(t)
	dir := t.TempDir()
	s := &sinkProc{t: t, args: []string{"sink", "-brokers", fmt.Sprintf("127.0.0.1:%d", port), "-topic", "notify",
		"-group", "g", "-dir", dir, "-log-json", "-metrics-listen", "", "-X", "reconnect.backoff.max.ms=500"}}
	s.env = []string{"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=1000000"}
	s.start()
	t.Cleanup(s.kill)

	// The broker down: the loop is alive, the sink not ready. Every
	// datagram in those 3 s must be a ping.
	next("WATCHDOG=1")
	down := time.Now()
	for time.Since(down) < 3*time.Second {
		if !s.running() {
			t.Fatalf("the sink ended with its broker down:\n%s", lastLines(s.logs.String(), 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
	pings := 0
	for _, d := range ns.received() {
		if d != "WATCHDOG=1" {
			t.Errorf("sent %q with no broker up", d)
		}
		pings++
	}
	// The loop looks at its ticker once a second: a ping each time (the
	// interval is 500 ms), even with librdkafka's errors coming in.
	if pings < 2 || strings.Contains(s.logs.String(), `"msg":"ready"`) {
		t.Fatalf("%d pings in 3 s (want 2 or more), no broker up:\n%s", pings, lastLines(s.logs.String(), 20))
	}

	b := startBroker(t, port, "notify", "")
	produce(t, b.Addr, "notify", []*kgo.Record{{Key: binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano())), Value: make([]byte, 60)}})
	up := time.Now()
	next("READY=1")
	t.Logf("READY=1 %v after the broker started", time.Since(up).Round(time.Millisecond))
	// Logged right after the datagram.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(s.logs.String(), `"msg":"ready","systemd_notified":true`); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no \"ready\" log line with systemd_notified true:\n%s", lastLines(s.logs.String(), 20))
		}
	}
	next("WATCHDOG=1")
	next("WATCHDOG=1")
	if code := s.stop(); code != 0 {
		t.Errorf("sink exit status %d\n%s", code, lastLines(s.logs.String(), 20))
	}
	next("STOPPING=1")
	if got := countPackets(t, sinkFiles(t, dir)); got != 1 {
		t.Errorf("%d packets stored, want 1", got)
	}
}
