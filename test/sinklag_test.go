package test

import (
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestSinkLagPolicy: pcapstore sink with -max-lag-records 5000 is stalled
// (SIGSTOP) while 20 000 records arrive. Woken, it skips to the latest
// offset: every record produced is on disk once or skipped, the skipped
// ones one run of offsets, as the log line names them, counted alike by
// the metric and the final counters; what arrives after is stored.
func TestSinkLagPolicy(t *testing.T) {
	b := startBroker(t, 0, "lag", "")
	nonce := uint64(time.Now().UnixNano())
	t0 := time.Now().Add(-time.Minute).UnixNano()
	const before, stalled, after = 100, 20000, 100
	total := before + stalled + after
	produce(t, b.Addr, "lag", faultRecords(nonce, t0, 0, before))

	dir := t.TempDir()
	s := &sinkProc{t: t, args: []string{"sink", "-brokers", b.Addr, "-topic", "lag", "-group", "g", "-dir", dir,
		"-max-lag-records", "5000", "-max-packets", "1000", "-max-span", "1s", "-log-json", "-metrics-listen", "127.0.0.1:0"}}
	s.start()
	t.Cleanup(s.kill)
	committed := func(want int64) {
		t.Helper()
		if c := waitCommitted(t, b.Addr, "g", "lag", want); c != want {
			t.Fatalf("committed offset %d, want %d", c, want)
		}
	}
	committed(before)
	signal := func(sig syscall.Signal) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
	}
	signal(syscall.SIGSTOP)
	produce(t, b.Addr, "lag", faultRecords(nonce, t0, before, before+stalled))
	signal(syscall.SIGCONT)
	committed(before + stalled)
	produce(t, b.Addr, "lag", faultRecords(nonce, t0, before+stalled, total))
	committed(int64(total))
	_, text := get(t, "http://"+jsonLogField(s.logs.String(), "metrics", "listen")+"/metrics")
	metric := parseMetrics(t, text)["pcapstore_records_skipped_lag_total"]
	if c := s.stop(); c != 0 {
		t.Errorf("pcapstore sink exited %d at SIGTERM", c)
	}

	fig := newFaultStore(nonce, total).read(t, dir).analyse()
	from, _ := strconv.Atoi(jsonLogField(s.logs.String(), "lagging: skipped to the latest offset", "from"))
	to, _ := strconv.Atoi(jsonLogField(s.logs.String(), "lagging: skipped to the latest offset", "to"))
	skipped, _ := strconv.Atoi(jsonLogField(s.logs.String(), "final counters", "skipped_lag"))
	t.Logf("%d produced; %d on disk, %d distinct; skipped %d (%d..%d), metric %v", total, fig.records, len(fig.onDisk), skipped, from, to-1, metric)
	if skipped == 0 || to-from != skipped || float64(skipped) != metric || from < before || to > before+stalled {
		t.Fatalf("skipped %d, the log's range %d..%d, the metric %v: want one range inside %d..%d, counted alike",
			skipped, from, to-1, metric, before, before+stalled-1)
	}
	for seq := 0; seq < total; seq++ {
		n := fig.onDisk[uint64(seq)]
		if seq >= from && seq < to {
			if n != 0 {
				t.Fatalf("record %d was skipped and is on disk %d times", seq, n)
			}
		} else if n != 1 {
			t.Fatalf("record %d is on disk %d times, want once", seq, n)
		}
	}
	if fig.records != total-skipped {
		t.Errorf("%d records on disk, want %d", fig.records, total-skipped)
	}
}
