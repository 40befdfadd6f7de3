package test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// bin holds the binaries TestMain builds from this tree.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fastcapa-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-o", dir+"/", "./cmd/fastcapa", "./cmd/devbroker", "./cmd/pcapstore")
	build.Dir = testenv.Root()
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	bin = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(testenv.DeadAddr(t))
	n, _ := strconv.Atoi(port)
	return n
}

// broker is a devbroker process.
type broker struct {
	Addr string
	cmd  *exec.Cmd
}

// startBroker runs devbroker on port (0: any) with a topic, optionally
// persisting to dataDir, and waits until it listens.
// More topics may be seeded with their partition counts, as
// "name:partitions" (devbroker's -seed); the others have one.
func startBroker(t *testing.T, port int, topic string, dataDir string, seeds ...string) *broker {
	t.Helper()
	args := []string{"-listen", fmt.Sprintf("127.0.0.1:%d", port), "-topic", topic, "-partitions", "1"}
	for _, s := range seeds {
		args = append(args, "-seed", s)
	}
	if dataDir != "" {
		args = append(args, "-data", dataDir)
	}
	cmd := exec.Command(filepath.Join(bin, "devbroker"), args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &broker{cmd: cmd}
	t.Cleanup(b.kill)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "listening ") {
		t.Fatalf("devbroker did not start: %q %v", line, err)
	}
	b.Addr = strings.TrimSpace(strings.TrimPrefix(line, "listening "))
	return b
}

// kill ends the broker abruptly (SIGKILL), as a crash would.
func (b *broker) kill() {
	if b.cmd.ProcessState == nil {
		b.cmd.Process.Kill()
		b.cmd.Wait()
	}
}

// daemon is a running fastcapa.
type daemon struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr syncBuffer
	done   chan struct{}
	err    error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ealArgs are the flags every test daemon gets: no hugepages, no PCI, a
// file prefix of its own (whose runtime directory is removed after the
// test).
func ealArgs(t *testing.T) []string {
	prefix := uniquePrefix(t, "fce2e")
	return []string{"-no-huge", "-no-pci", "-memory", "1024", "-file-prefix", prefix, "-log-format", "json",
		"-metrics-listen", "127.0.0.1:0"}
}

// uniquePrefix is an EAL file prefix for one test; DPDK leaves its runtime
// directory behind, so the test removes it at the end.
func uniquePrefix(t *testing.T, base string) string {
	prefix := fmt.Sprintf("%s-%d-%d", base, os.Getpid(), time.Now().UnixNano()%1e9)
	t.Cleanup(func() { os.RemoveAll(filepath.Join("/var/run/dpdk", prefix)) })
	return prefix
}

// startDaemon runs fastcapa with args; stop it with stop().
func startDaemon(t *testing.T, env []string, args ...string) *daemon {
	t.Helper()
	return startDaemonTo(t, nil, env, args...)
}

// startDaemonTo is startDaemon with fastcapa's stdout on out (nil: into
// d.stdout).
func startDaemonTo(t *testing.T, out *os.File, env []string, args ...string) *daemon {
	t.Helper()
	d := &daemon{cmd: exec.Command(filepath.Join(bin, "fastcapa"), args...), done: make(chan struct{})}
	d.cmd.Stdout = &d.stdout
	if out != nil {
		d.cmd.Stdout = out
	}
	d.cmd.Stderr = &d.stderr
	d.cmd.Env = append(os.Environ(), env...)
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("fastcapa stdout:\n%s\nstderr:\n%s", d.stdout.String(), d.stderr.String())
		}
	})
	return d
}

// stop sends SIGTERM and waits up to a minute; it returns the exit code.
func (d *daemon) stop(t *testing.T) int {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	return d.wait(t, time.Minute)
}

func (d *daemon) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-d.done:
	case <-time.After(limit):
		d.cmd.Process.Kill()
		<-d.done
		t.Fatalf("fastcapa did not exit within %v", limit)
	}
	if d.cmd.ProcessState == nil {
		t.Fatalf("fastcapa: %v", d.err)
	}
	return d.cmd.ProcessState.ExitCode()
}

// final is the daemon's "final counters" log line.
type final struct {
	counts
	InFlight    uint64 `json:"in_flight"`
	Unaccounted int64  `json:"unaccounted"`
	NICDropped  uint64 `json:"nic_dropped"`
	Unflushed   int    `json:"unflushed"`
	MbufsLeaked int64  `json:"mbufs_leaked"`
	// TunnelDropped is what tunnel receivers freed before the routes.
	TunnelDropped uint64        `json:"tunnel_dropped"`
	Routes        []routeFinal  `json:"routes"`
	Outputs       []outputFinal `json:"outputs"`
}

// outputFinal is one output's counts in the final line.
type outputFinal struct {
	Output    string `json:"output"`
	Port      string `json:"port"`
	Offered   uint64 `json:"offered"`
	Sent      uint64 `json:"sent"`
	Truncated uint64 `json:"truncated"`
	Skipped   uint64 `json:"skipped"`
	TooBig    uint64 `json:"too_big"`
	NoMbuf    uint64 `json:"no_mbuf"`
	QueueFull uint64 `json:"queue_full"`
	Malformed uint64 `json:"malformed"`
}

// routeFinal is one route's counts in the final line.
type routeFinal struct {
	counts
	Route    string `json:"route"`
	Topic    string `json:"topic"`
	InFlight int64  `json:"in_flight"`
}

// counts are what the final line says of the packets, and of each route.
type counts struct {
	Received     uint64 `json:"received"`
	Delivered    uint64 `json:"delivered"`
	Filtered     uint64 `json:"filtered"`
	Sampled      uint64 `json:"sampled"`
	RingDropped  uint64 `json:"ring_dropped"`
	Released     uint64 `json:"released"` // kept without Kafka: sent to the outputs, then freed
	Malformed    uint64 `json:"malformed"`
	QueueDropped uint64 `json:"queue_dropped"`
	Failed       uint64 `json:"failed"`
}

// placed is every packet the counts say went somewhere: all but those
// still in flight.
func (c counts) placed() uint64 {
	return c.Delivered + c.Filtered + c.Sampled + c.RingDropped + c.Released + c.Malformed + c.QueueDropped + c.Failed
}

func (d *daemon) final(t *testing.T) final {
	t.Helper()
	for _, line := range strings.Split(d.stderr.String(), "\n") {
		if !strings.Contains(line, `"msg":"final counters"`) {
			continue
		}
		var f final
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("final counters: %v: %s", err, line)
		}
		return f
	}
	t.Fatal("no final counters line")
	return final{}
}

// check asserts the accounting invariant, per route and, with one route,
// for the packets, and that no mbuf leaked.
func (f final) check(t *testing.T) {
	t.Helper()
	if len(f.Routes) == 0 {
		t.Errorf("no routes in the final counters: %+v", f)
	}
	for _, r := range f.Routes {
		sum := r.placed()
		if r.Received != sum || r.InFlight != 0 || r.Received+f.TunnelDropped != f.Received {
			t.Errorf("accounting of route %s: received %d (of %d) != delivered+filtered+sampled+dropped+failed %d (%+v)",
				r.Route, r.Received, f.Received, sum, r)
		}
	}
	if len(f.Routes) == 1 {
		sum := f.placed() + f.InFlight + f.TunnelDropped
		if f.Received != sum {
			t.Errorf("accounting: received %d != delivered+filtered+sampled+dropped+failed+in flight+tunnel dropped %d (%+v)", f.Received, sum, f)
		}
	}
	if f.Unaccounted != 0 || f.InFlight != 0 {
		t.Errorf("accounting: unaccounted %d, in flight %d (%+v)", f.Unaccounted, f.InFlight, f)
	}
	for _, o := range f.Outputs {
		if o.Offered != o.Sent+o.Skipped+o.TooBig+o.NoMbuf+o.QueueFull+o.Malformed {
			t.Errorf("accounting of output %s: offered %d != sent+skipped+dropped (%+v)", o.Output, o.Offered, o)
		}
	}
	if f.MbufsLeaked != 0 {
		t.Errorf("%d mbufs not back in their pool after shutdown", f.MbufsLeaked)
	}
}

// waitRecords polls the topic with franz-go until it holds at least want
// records or the limit passes, and returns how many it saw.
func waitRecords(t *testing.T, addr, topic string, want int, limit time.Duration) int {
	t.Helper()
	return readTopic(t, addr, topic, want, limit, nil)
}

// produce writes recs to topic on the broker at addr and returns once
// each is acknowledged; opts are the client's further options.
func produce(t *testing.T, addr, topic string, recs []*kgo.Record, opts ...kgo.Opt) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// readTopic reads the topic from the start with franz-go, handing each
// record to fn (if not nil), until want records or the limit; it returns
// how many it read.
func readTopic(t *testing.T, addr, topic string, want int, limit time.Duration, fn func(*kgo.Record)) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	n := 0
	for n < want && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if fn != nil {
				fn(r)
			}
			n++
		})
	}
	return n
}

// message is one record as kcat read it.
type message struct {
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
}

// kcatRead reads a whole topic with kcat, an independent client, as raw
// bytes: a text header per message, then its key and value.
func kcatRead(t *testing.T, addr, topic string) []message {
	t.Helper()
	kcat := testenv.RequireTool(t, "kcat")
	cmd := exec.Command(kcat, "-C", "-b", addr, "-t", topic, "-o", "beginning", "-e", "-q",
		"-f", "%p %o %K %S\n%k%s")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat: %v: %s", err, stderr.String())
	}
	var msgs []message
	for len(out) > 0 {
		nl := bytes.IndexByte(out, '\n')
		if nl < 0 {
			t.Fatalf("kcat output: header without newline: %q", out[:min(len(out), 40)])
		}
		f := strings.Fields(string(out[:nl]))
		if len(f) != 4 {
			t.Fatalf("kcat output: bad header %q", out[:nl])
		}
		var m message
		m.Partition, _ = strconv.Atoi(f[0])
		m.Offset, _ = strconv.ParseInt(f[1], 10, 64)
		kl, _ := strconv.Atoi(f[2])
		vl, _ := strconv.Atoi(f[3])
		if kl < 0 {
			kl = 0
		}
		if vl < 0 {
			vl = 0
		}
		out = out[nl+1:]
		if len(out) < kl+vl {
			t.Fatalf("kcat output: message at offset %d cut short", m.Offset)
		}
		m.Key, m.Value = out[:kl], out[kl:kl+vl]
		out = out[kl+vl:]
		msgs = append(msgs, m)
	}
	return msgs
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// sample is the sample capture, metron-example.pcap (761 frames): its
// path and its records.
func sample(t *testing.T) (string, []pcap.Record) {
	t.Helper()
	file := filepath.Join(testenv.Pcaps(t), "metron-example.pcap")
	_, recs, err := pcap.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return file, recs
}
