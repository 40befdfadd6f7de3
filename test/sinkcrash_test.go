package test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// topicKeys reads a whole topic with franz-go and counts each
// (timestamp, length) it holds.
func topicKeys(t *testing.T, addr, topic string, want int) map[[2]uint64]int {
	t.Helper()
	keys := map[[2]uint64]int{}
	n := readTopic(t, addr, topic, want, 60*time.Second, func(r *kgo.Record) {
		keys[[2]uint64{binary.BigEndian.Uint64(r.Key), uint64(len(r.Value))}]++
	})
	if n != want {
		t.Fatalf("read %d records of %d", n, want)
	}
	return keys
}

// TestSinkCrash: a sink killed with SIGKILL mid-stream and restarted on
// the same directory and group ends with every record on disk at least
// once; the duplicates are bounded by the one file that was open, and the
// restart says how many packets it recovered.
func TestSinkCrash(t *testing.T) {
	testenv.RequireRoot(t)
	file := filepath.Join(testenv.Pcaps(t), "metron-example.pcap")
	b := startBroker(t, 0, "pcap", "")
	// net_pcap's infinite_rx replays the sample for a moment: each
	// packet stamped from the TSC, so every key differs.
	d := startDaemon(t, nil, append(ealArgs(t), "-vdev", "net_pcap0,rx_pcap="+file+",infinite_rx=1",
		"-port", "net_pcap0", "-brokers", b.Addr, "-topic", "crash", "-ring-size", "4096")...)
	waitLog(t, d, "capturing", 30*time.Second)
	time.Sleep(300 * time.Millisecond)
	d.stop(t)
	total := int(d.final(t).Delivered)
	if total < 15000 {
		t.Fatalf("only %d records produced; the test needs a backlog", total)
	}
	keys := topicKeys(t, b.Addr, "crash", total)

	dir := t.TempDir()
	const perFile = 3000
	args := []string{"sink", "-brokers", b.Addr, "-topic", "crash", "-group", "g", "-dir", dir,
		"-max-packets", fmt.Sprint(perFile), "-max-span", "2s", "-log-json", "-metrics-listen", "127.0.0.1:0",
		// The killed member holds its partition until its session times
		// out: keep that short so the restart gets it soon.
		"-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"}
	var logs bytes.Buffer
	s := exec.Command(filepath.Join(bin, "pcapstore"), args...)
	s.Stderr = &logs
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once a couple of files are out and a temp file is open.
	deadline := time.Now().Add(30 * time.Second)
	for len(sinkFiles(t, dir)) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	s.Process.Kill()
	s.Wait()
	before := len(sinkFiles(t, dir))
	temps, _ := filepath.Glob(filepath.Join(dir, ".*.inprogress"))
	t.Logf("killed with %d files finalized and %d temp files open", before, len(temps))

	s = exec.Command(filepath.Join(bin, "pcapstore"), args...)
	s.Stderr = &logs
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	// onDisk counts the finalized files' packets, and the records of the
	// topic not among them.
	onDisk := func() (n, missing int) {
		held := map[[2]uint64]int{}
		for _, f := range sinkFiles(t, dir) {
			_, recs, err := pcap.ReadFile(f)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			for _, r := range recs {
				held[[2]uint64{uint64(r.Timestamp), uint64(len(r.Data))}]++
				n++
			}
		}
		for k, c := range keys {
			if held[k] < c {
				missing++
			}
		}
		return n, missing
	}
	// Wait until the finalized files hold every record (-max-span makes
	// Tick close the last file 2 s after it opened), then stop it. Not
	// a count of packets: the duplicates would make it reach the total
	// before every record is in.
	deadline = time.Now().Add(90 * time.Second)
	for _, missing := onDisk(); missing > 0 && time.Now().Before(deadline); _, missing = onDisk() {
		time.Sleep(200 * time.Millisecond)
	}
	s.Process.Signal(syscall.SIGTERM)
	if err := s.Wait(); err != nil {
		t.Fatalf("restarted sink: %v\n%s", err, logs.String())
	}

	n, missing := onDisk()
	dups := n - total
	t.Logf("%d records, %d packets on disk: %d duplicates", total, n, dups)
	if missing > 0 {
		t.Errorf("%d records are not on disk after the crash", missing)
	}
	if dups < 0 || dups > perFile {
		t.Errorf("%d duplicates; at most one open file's worth (%d) may be consumed twice", dups, perFile)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.inprogress")); len(left) > 0 {
		t.Errorf("temp files left: %v", left)
	}
	// A temp file left by the kill is published (its whole packets) or,
	// if it had none yet, discarded; either way the restart says so.
	if len(temps) > 0 && !strings.Contains(logs.String(), "recovered a file left open by a crash") &&
		!strings.Contains(logs.String(), "discarded a temporary file left by a crash") {
		t.Errorf("restart did not report the temp file it found:\n%s", logs.String())
	}
}

// TestSinkCrashUncommitted: the sink finalizes a file whose commit cannot
// land (the broker is down: killed, SIGKILL), and is killed itself
// before any commit does; both are started again. The restarted sink
// resumes from the last offset committed, before that file's records,
// and its journal keeps it from writing them again: every record is on
// disk once, and the skipped ones are counted.
func TestSinkCrashUncommitted(t *testing.T) {
	port := freePort(t)
	data := t.TempDir()
	b := startBroker(t, port, "uncommitted", data)
	nonce, n := uint64(time.Now().UnixNano()), 5500
	t0 := time.Now().Add(-time.Minute).UnixNano()
	produce(t, b.Addr, "uncommitted", faultRecords(nonce, t0, 0, n))

	// Five files of 1000 are finalized (and committed) at once; the last
	// 500 wait in the open file until Tick closes it, 3 s after it opened.
	dir := t.TempDir()
	s := &sinkProc{t: t, args: []string{"sink", "-brokers", b.Addr, "-topic", "uncommitted", "-group", "g", "-dir", dir,
		"-max-packets", "1000", "-max-span", "3s", "-log-json", "-metrics-listen", "127.0.0.1:0",
		"-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500", "-X", "reconnect.backoff.max.ms=200"}}
	s.start()
	t.Cleanup(s.kill)
	st := newFaultStore(nonce, n)
	committed := int64(-1)
	for deadline := time.Now().Add(30 * time.Second); committed < 5000 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		committed = committedOffset(t, b.Addr, "g", "uncommitted")
	}
	if committed != 5000 || len(st.read(t, dir).analyse().onDisk) != 5000 {
		t.Fatalf("before the broker's kill: offset %d committed, %d records on disk; want 5000 of each",
			committed, len(st.read(t, dir).analyse().onDisk))
	}
	b.kill()
	// The open file is finalized by time; its commit cannot reach the
	// broker. The journal is written before the commit is tried: give it
	// a moment, then kill the sink.
	for deadline := time.Now().Add(30 * time.Second); len(st.read(t, dir).analyse().onDisk) < n && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
	}
	time.Sleep(500 * time.Millisecond)
	s.kill()
	if got := len(st.read(t, dir).analyse().onDisk); got != n {
		t.Fatalf("the sink was killed with %d records on disk, want %d", got, n)
	}

	b = startBroker(t, port, "uncommitted", data)
	if c := committedOffset(t, b.Addr, "g", "uncommitted"); c != 5000 {
		t.Fatalf("after the restart, offset %d is committed; the case this test is for needs 5000", c)
	}
	s.start()
	committed = -1
	for deadline := time.Now().Add(30 * time.Second); committed < int64(n) && time.Now().Before(deadline) && s.running(); time.Sleep(200 * time.Millisecond) {
		committed = committedOffset(t, b.Addr, "g", "uncommitted")
	}
	_, text := get(t, "http://"+jsonLogField(s.logs.String(), "metrics", "listen")+"/metrics")
	m := parseMetrics(t, text)
	if c := s.stop(); c != 0 {
		t.Errorf("pcapstore sink exited %d at SIGTERM", c)
	}
	fig := st.read(t, dir).analyse()
	recovered, _ := s.recovered()
	t.Logf("%d records, %d on disk, %d distinct; recovered %d, skipped %v; committed %d", n, fig.records, len(fig.onDisk),
		recovered, m["pcapstore_records_skipped_total"], committed)
	for _, line := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(line, "journal") || strings.Contains(line, "commit") {
			t.Log(line)
		}
	}
	if committed != int64(n) {
		t.Errorf("committed offset %d, want %d", committed, n)
	}
	if len(fig.onDisk) != n || fig.records != n || fig.foreign > 0 || fig.outOfOrder > 0 || recovered != 0 {
		t.Errorf("on disk: %d records, %d distinct of %d, %d foreign, %d out of order, %d recovered; want each record once, in order",
			fig.records, len(fig.onDisk), n, fig.foreign, fig.outOfOrder, recovered)
	}
	if m["pcapstore_records_skipped_total"] != float64(n-5000) {
		t.Errorf("pcapstore_records_skipped_total %v, want %d", m["pcapstore_records_skipped_total"], n-5000)
	}
}

// TestSinkCrashTargets: two targets, one rotating every 1000 records
// (and after a second), the other holding all in one open file, so
// nothing past that file's first record can be committed. The sink is
// killed (SIGKILL) and started again: the slow target's temp file is
// recovered and its records consumed again (duplicates, counted as
// recovered), but the fast target's journal keeps its finalized files'
// records from being written again: it holds every record once.
func TestSinkCrashTargets(t *testing.T) {
	b := startBroker(t, 0, "targets", "")
	nonce, n := uint64(time.Now().UnixNano()), 5500
	t0 := time.Now().Add(-time.Minute).UnixNano()
	produce(t, b.Addr, "targets", faultRecords(nonce, t0, 0, n))
	fast, slow := t.TempDir(), t.TempDir()
	yml := "brokers: " + b.Addr + "\ntopic: targets\ngroup: g\nmetrics_listen: 127.0.0.1:0\n" +
		"kafka:\n  session.timeout.ms: \"6000\"\n  heartbeat.interval.ms: \"500\"\ntargets:\n" +
		"  - name: fast\n    dir: " + fast + "\n    max_packets: 1000\n    max_span: 1s\n" +
		"  - name: slow\n    dir: " + slow + "\n    max_packets: 1000000\n    max_span: 1h\n"
	cfg := filepath.Join(t.TempDir(), "sink.yaml")
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &sinkProc{t: t, args: []string{"sink", "-config", cfg, "-log-json"}}
	s.start()
	t.Cleanup(s.kill)
	fastSt := newFaultStore(nonce, n)
	slowSt := newFaultStore(nonce, n)
	waitFast := func() {
		for deadline := time.Now().Add(30 * time.Second); len(fastSt.read(t, fast).analyse().onDisk) < n && time.Now().Before(deadline) && s.running(); time.Sleep(10 * time.Millisecond) {
		}
	}
	waitFast()
	time.Sleep(time.Second) // the journal is written, the commit tried
	s.kill()
	if got, c := len(fastSt.read(t, fast).analyse().onDisk), committedOffset(t, b.Addr, "g", "targets"); got != n || c > 0 {
		t.Fatalf("killed with %d records in the fast target's files and offset %d committed; the case needs %d and 0:\n%s", got, c, n, s.logs.String())
	}

	s.start()
	// The killed member holds the partition until its session times
	// out; then the whole partition is consumed again.
	var m map[string]float64
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && s.running(); time.Sleep(200 * time.Millisecond) {
		if addr := jsonLogField(s.logs.String(), "metrics", "listen"); addr != "" && s.starts[1].Before(time.Now().Add(-time.Second)) {
			_, text := get(t, "http://"+addr+"/metrics")
			if m = parseMetrics(t, text); m["pcapstore_records_consumed_total"] >= float64(n) {
				break
			}
		}
	}
	skipped := m["pcapstore_records_skipped_total"]
	if c := s.stop(); c != 0 {
		t.Errorf("pcapstore sink exited %d at SIGTERM", c)
	}
	committed := committedOffset(t, b.Addr, "g", "targets")
	recovered, _ := s.recovered()
	f, sl := fastSt.read(t, fast).analyse(), slowSt.read(t, slow).analyse()
	t.Logf("fast: %d records, %d distinct; slow: %d records, %d distinct; recovered %d, skipped %v, committed %d",
		f.records, len(f.onDisk), sl.records, len(sl.onDisk), recovered, skipped, committed)
	for _, line := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(line, "journal") || strings.Contains(line, "recovered") {
			t.Log(line)
		}
	}
	if f.records != n || len(f.onDisk) != n || f.outOfOrder > 0 {
		t.Errorf("fast target: %d records, %d distinct, %d out of order; want each of %d once, in order", f.records, len(f.onDisk), f.outOfOrder, n)
	}
	if len(sl.onDisk) != n || uint64(sl.records-n) > recovered {
		t.Errorf("slow target: %d records, %d distinct of %d, recovered %d: duplicates beyond the recovered file", sl.records, len(sl.onDisk), n, recovered)
	}
	if skipped != float64(n) {
		t.Errorf("pcapstore_records_skipped_total %v, want %d (the fast target's finalized files)", skipped, n)
	}
	if committed != int64(n) {
		t.Errorf("committed offset %d, want %d", committed, n)
	}
}
