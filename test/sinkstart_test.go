package test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestSinkStart: Metron's four kafka.pcap.start values against the real
// broker, each run of pcapstore sink writing a fresh directory, so what
// it holds is exactly what it consumed. The topic grows between runs;
// the group's committed offset is what the previous run of that group
// committed.
func TestSinkStart(t *testing.T) {
	b := startBroker(t, 0, "start", "")
	nonce := uint64(time.Now().UnixNano())
	t0 := time.Now().Add(-time.Minute).UnixNano()
	const total = 600
	produce(t, b.Addr, "start", faultRecords(nonce, t0, 0, 300))

	// run consumes with group and start until its directory holds the
	// records from..to-1 and the group committed to; during, if set, runs
	// once the partition is assigned and the consumer has had time to
	// find where it starts. It checks that nothing else was written.
	run := func(group, start string, during func(), from, to int) {
		t.Helper()
		dir := t.TempDir()
		s := &sinkProc{t: t, args: []string{"sink", "-brokers", b.Addr, "-topic", "start", "-group", group, "-start", start,
			"-dir", dir, "-max-packets", "50", "-max-span", "1s", "-log-json", "-metrics-listen", "127.0.0.1:0"}}
		s.start()
		t.Cleanup(s.kill)
		if during != nil {
			for deadline := time.Now().Add(30 * time.Second); !strings.Contains(s.logs.String(), "partition assigned") &&
				time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			}
			time.Sleep(2 * time.Second)
			during()
		}
		// The group may have committed to already (EARLIEST): wait for the
		// records on disk too.
		st := newFaultStore(nonce, total)
		for deadline := time.Now().Add(30 * time.Second); len(st.read(t, dir).analyse().onDisk) < to-from &&
			time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		}
		committed := waitCommitted(t, b.Addr, group, "start", int64(to))
		if c := s.stop(); c != 0 {
			t.Errorf("%s: pcapstore sink exited %d", start, c)
		}
		fig := st.read(t, dir).analyse()
		var outside []uint64
		for seq := range fig.onDisk {
			if seq < uint64(from) || seq >= uint64(to) {
				outside = append(outside, seq)
			}
		}
		if len(fig.onDisk) != to-from || fig.records != to-from || len(outside) > 0 || committed != int64(to) {
			t.Errorf("%s (group %s): %d records on disk, %d distinct, %d outside %d..%d (%v); committed %d: want records %d..%d once, %d committed",
				start, group, fig.records, len(fig.onDisk), len(outside), from, to-1, outside[:min(len(outside), 5)], committed, from, to-1, to)
		}
		if want := fmt.Sprintf(`"start":%q`, start); (start == "EARLIEST" || start == "LATEST") && !strings.Contains(s.logs.String(), want) {
			t.Errorf("%s: no partition start line with %s in the log", start, want)
		}
	}
	more := func(from, to int) func() {
		return func() { produce(t, b.Addr, "start", faultRecords(nonce, t0, from, to)) }
	}

	run("g", "UNCOMMITTED_EARLIEST", nil, 0, 300) // no commit: from the earliest
	produce(t, b.Addr, "start", faultRecords(nonce, t0, 300, 500))
	run("g", "UNCOMMITTED_LATEST", nil, 300, 500) // from its commit, 300
	run("g", "EARLIEST", nil, 0, 500)             // its commit, 500, ignored
	run("fresh", "UNCOMMITTED_LATEST", more(500, 550), 500, 550)
	run("g", "LATEST", more(550, 600), 550, 600) // its commit, 500, ignored
}
