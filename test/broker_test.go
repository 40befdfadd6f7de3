package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// TestBrokerOutages starts fastcapa while its broker is down, brings the
// broker up, kills it (SIGKILL) mid-stream and restarts it on its data
// directory. Nothing crashes, delivery resumes, every packet received is
// delivered, and the broker holds at least every delivered packet
// (retries across the crash may add duplicates, never lose one).
func TestBrokerOutages(t *testing.T) {
	v := newVethPair(t)
	file, recs := sample(t)
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	data := t.TempDir()

	d := startDaemon(t, nil, append(ealArgs(t), "-vdev", v.vdev(), "-port", "net_af_packet0",
		"-brokers", addr, "-topic", "outage", "-X", "reconnect.backoff.max.ms=500")...)
	waitLog(t, d, "capturing", 30*time.Second)

	const loops, pps = 4, 500 // about 6 s of traffic
	testenv.RequireTool(t, "tcpreplay")
	sent := make(chan error, 1)
	go func() { _, err := v.send(file, pps, loops); sent <- err }()

	time.Sleep(1500 * time.Millisecond) // broker down: packets queue in librdkafka
	b := startBroker(t, port, "outage", data)
	time.Sleep(1500 * time.Millisecond) // delivering
	b.kill()
	time.Sleep(1500 * time.Millisecond) // broker gone mid-stream
	b = startBroker(t, port, "outage", data)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}

	want := loops * len(recs)
	got := waitRecords(t, b.Addr, "outage", want, 60*time.Second)
	code := d.stop(t)
	f := d.final(t)
	f.check(t)
	if f.Received != uint64(want) {
		t.Errorf("received %d packets, tcpreplay sent %d", f.Received, want)
	}
	if f.Delivered != f.Received || code != 0 {
		t.Errorf("delivered %d of %d (exit %d): %+v", f.Delivered, f.Received, code, f)
	}
	msgs := kcatRead(t, b.Addr, "outage")
	t.Logf("received %d, delivered %d, broker holds %d (%d duplicates from retries)", f.Received, f.Delivered,
		len(msgs), len(msgs)-int(f.Delivered))
	if uint64(len(msgs)) < f.Delivered || got < want {
		t.Errorf("broker holds %d messages, fewer than the %d delivered", len(msgs), f.Delivered)
	}
	// Every frame sent is in the broker, at least as often as it was sent.
	counts := map[string]int{}
	for _, m := range msgs {
		counts[string(m.Value)]++
	}
	for i, r := range recs {
		if counts[string(r.Data)] < loops {
			t.Fatalf("frame %d: in the broker %d times, sent %d", i, counts[string(r.Data)], loops)
		}
	}
}
