package test

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

// TestAFPacketLive captures from a kernel interface: tcpreplay sends the
// Metron sample into a veth pair, fastcapa captures the other end with
// net_af_packet. Every frame lands byte-exact and in order; TSC stamps
// rise monotonically and lie within a second of the wall clock.
func TestAFPacketLive(t *testing.T) {
	v := newVethPair(t)
	file, recs := sample(t)
	b := startBroker(t, 0, "pcap", "")
	d := startDaemon(t, nil, append(ealArgs(t), "-vdev", v.vdev(), "-port", "net_af_packet0",
		"-brokers", b.Addr, "-topic", "live")...)
	// Wait until the daemon polls: its first Kafka message would be too
	// late, so give the port a moment after start-up.
	waitLog(t, d, "capturing", 30*time.Second)
	start := time.Now()
	v.replay(t, file, 2000, 1)
	end := time.Now()
	if got := waitRecords(t, b.Addr, "live", len(recs), 30*time.Second); got < len(recs) {
		t.Errorf("topic has %d records, want %d", got, len(recs))
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	f := d.final(t)
	f.check(t)

	msgs := kcatRead(t, b.Addr, "live")
	if len(msgs) != len(recs) {
		t.Fatalf("kcat read %d messages, sent %d", len(msgs), len(recs))
	}
	var last uint64
	for i, m := range msgs {
		if !bytes.Equal(m.Value, recs[i].Data) {
			t.Fatalf("message %d: %d B differ from the frame sent (%d B)", i, len(m.Value), len(recs[i].Data))
		}
		ts := binary.BigEndian.Uint64(m.Key)
		if ts < last {
			t.Errorf("message %d: timestamp %d before the previous %d", i, ts, last)
		}
		last = ts
		lo, hi := uint64(start.Add(-time.Second).UnixNano()), uint64(end.Add(time.Second).UnixNano())
		if ts < lo || ts > hi {
			t.Errorf("message %d: timestamp %v outside the replay window %v..%v", i,
				time.Unix(0, int64(ts)).UTC(), start.UTC(), end.UTC())
		}
	}
}

// waitLog waits for a log message from the daemon.
func waitLog(t *testing.T, d *daemon, msg string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if bytes.Contains([]byte(d.stderr.String()), []byte(`"msg":"`+msg+`"`)) {
			return
		}
		select {
		case <-d.done:
			t.Fatalf("fastcapa exited before %q", msg)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no %q from fastcapa within %v", msg, limit)
}
