package test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// TestEndingSignalsDrain: SIGINT and SIGQUIT end fastcapa the way
// SIGTERM does (every test stops it so): rings drained, Kafka flushed,
// the final table and accounting printed, exit status from the
// accounting. (Go's default for SIGQUIT was a goroutine dump and exit 2.)
func TestEndingSignalsDrain(t *testing.T) {
	testenv.RequireRoot(t)
	file := filepath.Join(testenv.Pcaps(t), "metron-example.pcap")
	const want = 761
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGQUIT} {
		t.Run(sig.String(), func(t *testing.T) {
			b := startBroker(t, 0, "pcap", "")
			d := startDaemon(t, nil, append(ealArgs(t), "-vdev", "net_pcap0,rx_pcap="+file, "-port", "net_pcap0",
				"-brokers", b.Addr)...)
			if got := waitRecords(t, b.Addr, "pcap", want, 30*time.Second); got < want {
				t.Fatalf("topic has %d records, want %d", got, want)
			}
			d.cmd.Process.Signal(sig)
			if code := d.wait(t, time.Minute); code != 0 {
				t.Fatalf("exit status %d (%v), want 0", code, d.cmd.ProcessState)
			}
			f := d.final(t)
			f.check(t)
			if f.Delivered != want {
				t.Errorf("delivered %d, want %d", f.Delivered, want)
			}
			if !strings.Contains(d.stdout.String(), "accounting: received 761 = delivered 761") {
				t.Errorf("no final accounting on stdout:\n%s", d.stdout.String())
			}
		})
	}

	// A stop that hangs (here: flushing to a broker that is down, for up
	// to a minute) can still be cut short, with a goroutine dump: a
	// second SIGQUIT gets Go's default.
	t.Run("second SIGQUIT while stopping", func(t *testing.T) {
		d := startDaemon(t, nil, append(ealArgs(t), "-vdev", "net_pcap0,rx_pcap="+file, "-port", "net_pcap0",
			"-brokers", testenv.DeadAddr(t), "-flush-timeout", "60s")...)
		waitLog(t, d, "capturing", 30*time.Second)
		d.cmd.Process.Signal(syscall.SIGQUIT)
		waitLog(t, d, "rx stopped, draining rings", 30*time.Second)
		d.cmd.Process.Signal(syscall.SIGQUIT)
		if code := d.wait(t, 10*time.Second); code != 2 || !strings.Contains(d.stderr.String(), "goroutine ") {
			t.Errorf("exit status %d (%v), want 2 with a goroutine dump", code, d.cmd.ProcessState)
		}
	})
}

// TestSIGHUPReopensAndRunsOn: SIGHUP with the whole sample queued for a
// broker that is down (Metron's command line, -s statistics file moved
// away as logrotate does) — fastcapa runs on, writes its statistics to a
// new file at the same path, and once the broker is up delivers every
// packet; SIGTERM then ends it with exit 0.
func TestSIGHUPReopensAndRunsOn(t *testing.T) {
	testenv.RequireRoot(t)
	file := filepath.Join(testenv.Pcaps(t), "metron-example.pcap")
	const want = 761
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	metricsAt := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	conf := writeINI(t, fmt.Sprintf("[kafka-global]\nmetadata.broker.list = %s\nstatistics.interval.ms = 100\nreconnect.backoff.max.ms = 500\n", addr))
	stats := filepath.Join(t.TempDir(), "stats.json")
	d := startDaemon(t, []string{"FASTCAPA_METRICS_LISTEN=" + metricsAt},
		append(metronEAL(t, "net_pcap0,rx_pcap="+file), "--", "-p", "0x01", "-t", "pcap", "-c", conf, "-s", stats)...)

	queued := func() float64 {
		resp, err := http.Get("http://" + metricsAt + "/metrics")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		return parseMetrics(t, buf.String())["fastcapa_kafka_queued_messages"]
	}
	// librdkafka's queue length also counts its own events for a moment
	// (a statistics event every 100 ms here): one sample of exactly the
	// sample's packets is the answer, not the next one.
	deadline := time.Now().Add(30 * time.Second)
	q := queued()
	for q != want && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		q = queued()
	}
	if q != want {
		t.Fatalf("%v packets queued for the broker, want %d", q, want)
	}
	for st, _ := os.Stat(stats); st == nil || st.Size() == 0; st, _ = os.Stat(stats) {
		if time.Now().After(deadline) {
			t.Fatal("no statistics in the -s file")
		}
		time.Sleep(50 * time.Millisecond)
	}

	rotated := stats + ".1"
	if err := os.Rename(stats, rotated); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(1500 * time.Millisecond)
	select {
	case <-d.done:
		t.Fatalf("fastcapa ended on SIGHUP: %v", d.cmd.ProcessState)
	default:
	}
	if q := queued(); q != want {
		t.Errorf("after SIGHUP %v packets queued, want %d", q, want)
	}
	before, _ := os.ReadFile(rotated)
	time.Sleep(500 * time.Millisecond)
	after, _ := os.ReadFile(rotated)
	if len(after) != len(before) {
		t.Errorf("the moved statistics file still grows after SIGHUP (%d → %d bytes)", len(before), len(after))
	}
	fresh, err := os.ReadFile(stats)
	lines := strings.Split(strings.TrimSuffix(string(fresh), "\n"), "\n")
	if err != nil || len(fresh) == 0 {
		t.Errorf("no new statistics file after SIGHUP: %v", err)
	}
	for _, l := range append(lines, strings.Split(strings.TrimSuffix(string(after), "\n"), "\n")...) {
		if !json.Valid([]byte(l)) {
			t.Errorf("statistics line is not one whole JSON object: %.80q", l)
			break
		}
	}

	b := startBroker(t, port, "pcap", "")
	if got := waitRecords(t, b.Addr, "pcap", want, 60*time.Second); got < want {
		t.Fatalf("topic has %d records, want %d", got, want)
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("exit status %d (%v), want 0", code, d.cmd.ProcessState)
	}
	if !strings.Contains(d.stdout.String(), "accounting: received 761 = delivered 761") {
		t.Errorf("no final accounting on stdout:\n%s", d.stdout.String())
	}
}

// TestClosedStdout: "fastcapa … -stats-interval 1s | head -2" — the
// reader goes away after two lines and the next stats tables meet a
// closed pipe. fastcapa runs on, says once that stdout is gone, and on
// SIGTERM logs its final accounting and exits 0, every packet delivered.
func TestClosedStdout(t *testing.T) {
	testenv.RequireRoot(t)
	file := filepath.Join(testenv.Pcaps(t), "metron-example.pcap")
	const want = 761
	b := startBroker(t, 0, "pcap", "")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemonTo(t, w, nil, append(ealArgs(t), "-vdev", "net_pcap0,rx_pcap="+file, "-port", "net_pcap0",
		"-brokers", b.Addr, "-stats-interval", "1s")...)
	w.Close()
	head := make(chan []string, 1)
	go func() {
		var lines []string
		for s := bufio.NewScanner(r); len(lines) < 2 && s.Scan(); {
			lines = append(lines, s.Text())
		}
		r.Close()
		head <- lines
	}()
	if got := waitRecords(t, b.Addr, "pcap", want, 30*time.Second); got < want {
		t.Fatalf("topic has %d records, want %d", got, want)
	}
	select {
	case lines := <-head:
		t.Logf("head -2 read %q", lines)
	case <-time.After(10 * time.Second):
		t.Fatal("no two lines on stdout")
	}
	time.Sleep(2500 * time.Millisecond) // two more tables into the closed pipe
	select {
	case <-d.done:
		t.Fatalf("fastcapa ended when stdout closed: %v", d.cmd.ProcessState)
	default:
	}
	// SIGPIPE is ignored in the kernel's table, for every thread: C ones
	// (DPDK's lcores, librdkafka's) get EPIPE too.
	if !sigIgnored(t, d.cmd.Process.Pid, syscall.SIGPIPE) {
		t.Error("SIGPIPE is not ignored process-wide")
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("exit status %d (%v), want 0", code, d.cmd.ProcessState)
	}
	f := d.final(t)
	f.check(t)
	if f.Delivered != want {
		t.Errorf("delivered %d, want %d", f.Delivered, want)
	}
	if n := strings.Count(d.stderr.String(), `"msg":"stdout closed`); n != 1 {
		t.Errorf("%d log lines say stdout closed, want 1:\n%s", n, d.stderr.String())
	}
}

// TestClosedStderrCWrite: with stdout and stderr a pipe nobody reads,
// and an EAL that cannot start, DPDK writes "EAL: FATAL: …" to stderr
// from C (in a cgo call, on the main lcore's thread) and the Go side logs
// and reports. Neither write kills fastcapa: it exits 2, as the failure
// deserves, not of SIGPIPE.
func TestClosedStderrCWrite(t *testing.T) {
	testenv.RequireRoot(t)
	file := filepath.Join(testenv.Pcaps(t), "metron-example.pcap")
	args := append(ealArgs(t), "-vdev", "net_pcap0,rx_pcap="+file, "-port", "net_pcap0",
		"-brokers", testenv.DeadAddr(t), "-lcores", "0,127")
	cmd := exec.Command(filepath.Join(bin, "fastcapa"), args...)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 2 {
		t.Errorf("exit status %d (%v), want 2", code, cmd.ProcessState)
	}
}

// TestSinkSignals: pcapstore sink holds an open file with every record
// when it gets a signal. SIGHUP: it runs on. SIGQUIT, and SIGTERM after a
// closed stderr: it stops in order — the file finalized, every record on
// disk, exit 0 — and a closed stderr never kills it.
func TestSinkSignals(t *testing.T) {
	const n = 500
	b := startBroker(t, 0, "sig", "")
	now := time.Now()
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], uint64(now.Add(time.Duration(i)*time.Microsecond).UnixNano()))
		recs = append(recs, &kgo.Record{Key: k[:], Value: bytes.Repeat([]byte{byte(i)}, 60+i%40)})
	}
	produce(t, b.Addr, "sig", recs)

	for _, c := range []struct {
		name         string
		closedStderr bool
		signals      []syscall.Signal
	}{
		{"SIGHUP runs on", false, []syscall.Signal{syscall.SIGHUP, syscall.SIGTERM}},
		{"SIGQUIT stops in order", false, []syscall.Signal{syscall.SIGQUIT}},
		{"closed stderr", true, []syscall.Signal{syscall.SIGTERM}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			metricsAt := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			s := exec.Command(filepath.Join(bin, "pcapstore"), "sink", "-brokers", b.Addr, "-topic", "sig",
				"-group", "g-"+strings.ReplaceAll(c.name, " ", "-"), "-dir", dir, "-max-packets", "100000", "-max-span", "1h",
				"-log-json", "-metrics-listen", metricsAt)
			var logs syncBuffer
			s.Stderr = &logs
			var w *os.File
			if c.closedStderr {
				r, pw, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				w = pw
				r.Close()
				s.Stdout, s.Stderr = w, w
			}
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			if w != nil {
				w.Close()
			}
			exited := make(chan struct{})
			go func() { s.Wait(); close(exited) }()
			t.Cleanup(func() {
				s.Process.Kill()
				<-exited
			})
			written := regexp.MustCompile(`(?m)^pcapstore_packets_written_total(\{[^}]*\})? ([0-9]+)$`)
			deadline := time.Now().Add(30 * time.Second)
			for {
				var body []byte
				if resp, err := http.Get("http://" + metricsAt + "/metrics"); err == nil {
					var buf bytes.Buffer
					buf.ReadFrom(resp.Body)
					resp.Body.Close()
					body = buf.Bytes()
				}
				if m := written.FindSubmatch(body); m != nil && string(m[2]) == fmt.Sprint(n) {
					break
				}
				select {
				case <-exited:
					t.Fatalf("pcapstore sink ended (%v) before writing %d records:\n%s", s.ProcessState, n, logs.String())
				case <-time.After(100 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					t.Fatalf("sink did not write %d records in 30 s:\n%s", n, logs.String())
				}
			}
			for _, sig := range c.signals {
				s.Process.Signal(sig)
				if sig == syscall.SIGHUP {
					time.Sleep(time.Second)
					select {
					case <-exited:
						t.Fatalf("pcapstore sink ended on SIGHUP (%v):\n%s", s.ProcessState, logs.String())
					default:
					}
				}
			}
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				t.Fatalf("pcapstore sink did not stop:\n%s", logs.String())
			}
			if code := s.ProcessState.ExitCode(); code != 0 {
				t.Errorf("exit status %d (%v), want 0:\n%s", code, s.ProcessState, logs.String())
			}
			if got := countPackets(t, sinkFiles(t, dir)); got != n {
				t.Errorf("finalized files hold %d records, want %d", got, n)
			}
			if temps, _ := filepath.Glob(filepath.Join(dir, ".*.inprogress")); len(temps) > 0 {
				t.Errorf("temp files left, not finalized: %v", temps)
			}
		})
	}
}

// sigIgnored reads whether the kernel ignores sig for process pid
// (SigIgn in /proc/PID/status).
func sigIgnored(t *testing.T, pid int, sig syscall.Signal) bool {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^SigIgn:\s*([0-9a-f]+)$`).FindSubmatch(status)
	if m == nil {
		t.Fatalf("no SigIgn in /proc/%d/status", pid)
	}
	mask, err := strconv.ParseUint(string(m[1]), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return mask&(1<<(uint(sig)-1)) != 0
}
