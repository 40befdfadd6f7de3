package kafka

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/fastcapa-go/fastcapa/internal/kafkatest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/kafka/internal/rdk"
)

const topic = "t"

// testLogger sends the producer's log, librdkafka's lines included, to the
// test's log. Every producer in these tests is closed before its test
// ends, and Close waits for the log goroutine, so nothing logs late.
func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func newProducer(tb testing.TB, spec ProducerSpec) *Producer {
	tb.Helper()
	if spec.Topic == "" {
		spec.Topic = topic
	}
	if spec.Logger == nil {
		spec.Logger = testLogger(tb)
	}
	p, err := NewProducer(spec)
	if err != nil {
		tb.Fatalf("NewProducer: %v", err)
	}
	return p
}

// produce gives p one burst of packets as a worker's drain does: the
// sink takes what it keeps before it returns, and the packets' memory is
// then overwritten and freed (rdk.Producer.SinkPackets).
func produce(p *Producer, pkts ...rdk.Packet) { p.c.SinkPackets(pkts) }

// TestProduceRoundTrip produces packets with varied timestamps and sizes
// and reads them back: every key the timestamp in the key's unit, every
// value byte for byte, every message counted as delivered.
func TestProduceRoundTrip(t *testing.T) {
	const n = 1000
	rng := rand.New(rand.NewPCG(1, 2))
	now := uint64(time.Now().UnixNano())
	ts := make([]uint64, n)
	values := make([][]byte, n)
	var size uint64
	for i := range n {
		switch i {
		case 0:
			ts[i] = 0
		case 1:
			ts[i] = math.MaxUint64
		default:
			ts[i] = now + rng.Uint64N(uint64(time.Hour))
		}
		// 4 bytes of index, so the check can pair records with packets
		// whatever their order, then a frame-like length of noise.
		v := make([]byte, 4+rng.IntN(9000))
		binary.BigEndian.PutUint32(v, uint32(i))
		for j := 4; j < len(v); j++ {
			v[j] = byte(rng.Uint32())
		}
		values[i] = v
		size += uint64(len(v))
	}

	for _, divisor := range []uint64{1, 1000, 1000000} {
		t.Run(fmt.Sprintf("divisor=%d", divisor), func(t *testing.T) {
			addr := kafkatest.Broker(t, topic)
			p := newProducer(t, ProducerSpec{
				KeyDivisor:       divisor,
				Properties:       map[string]string{"bootstrap.servers": addr},
				QueueFullTimeout: time.Second,
			})
			for i := 0; i < n; i += 32 { // bursts of 32
				var burst []rdk.Packet
				for j := i; j < min(i+32, n); j++ {
					burst = append(burst, rdk.Packet{Data: values[j], Timestamp: ts[j], Routes: 1})
				}
				produce(p, burst...)
			}
			if left := p.Close(30 * time.Second); left != 0 {
				t.Fatalf("Close: %d messages unflushed", left)
			}
			want := Counters{Produced: n, Delivered: n, Bytes: size}
			if got := p.Counters(); got != want {
				t.Fatalf("Counters() = %+v, want %+v (last error %q)", got, want, p.LastError())
			}

			seen := make([]bool, n)
			for _, r := range kafkatest.Consume(t, addr, topic, n) {
				if len(r.Value) < 4 {
					t.Fatalf("offset %d: value of %d bytes", r.Offset, len(r.Value))
				}
				i := binary.BigEndian.Uint32(r.Value)
				if i >= n || seen[i] {
					t.Fatalf("offset %d: packet %d unknown or seen twice", r.Offset, i)
				}
				seen[i] = true
				if len(r.Key) != 8 {
					t.Errorf("packet %d: key of %d bytes, want 8", i, len(r.Key))
				} else if got, want := binary.BigEndian.Uint64(r.Key), ts[i]/divisor; got != want {
					t.Errorf("packet %d: key %d, want %d (ts %d / %d)", i, got, want, ts[i], divisor)
				}
				if !bytes.Equal(r.Value, values[i]) {
					t.Errorf("packet %d: value differs (%d bytes, want %d)", i, len(r.Value), len(values[i]))
				}
			}
		})
	}
}

// TestProduceCopiesValue: each burst's memory is overwritten with 0xFF
// as soon as the sink returns, as a worker frees the burst's mbufs back
// to DPDK, while librdkafka still holds the messages (linger).
// librdkafka must have copied the values: the original fastcapa handed
// librdkafka pointers into mbufs it then freed.
func TestProduceCopiesValue(t *testing.T) {
	const n = 500
	addr := kafkatest.Broker(t, topic)
	p := newProducer(t, ProducerSpec{
		Properties: map[string]string{
			"bootstrap.servers": addr,
			// Batches wait to fill, so the scribbling happens while
			// the messages are still queued in librdkafka.
			"linger.ms": "200",
		},
		QueueFullTimeout: time.Second,
	})
	pattern := func(i int) []byte { return bytes.Repeat([]byte{byte(i), byte(i >> 8), 0xA5}, 200) }
	for i := range n {
		produce(p, rdk.Packet{Data: pattern(i), Timestamp: uint64(i), Routes: 1})
	}
	if left := p.Close(30 * time.Second); left != 0 {
		t.Fatalf("Close: %d messages unflushed", left)
	}
	if c := p.Counters(); c.Delivered != n || c.Failed != 0 {
		t.Fatalf("Counters() = %+v, want %d delivered", c, n)
	}
	for _, r := range kafkatest.Consume(t, addr, topic, n) {
		i := int(binary.BigEndian.Uint64(r.Key))
		if !bytes.Equal(r.Value, pattern(i)) {
			t.Errorf("packet %d arrived corrupted: % x...", i, r.Value[:min(12, len(r.Value))])
		}
	}
}

// TestProduceNoBroker points a producer at a port where nothing listens:
// every message handed over must end counted as failed, whether it times
// out in librdkafka before Close gives up (timeout) or Close purges it
// (purge), and nothing may count as delivered.
func TestProduceNoBroker(t *testing.T) {
	addr := testenv.DeadAddr(t)

	for _, tc := range []struct {
		name      string
		close     time.Duration
		unflushed bool
	}{
		// message.timeout.ms (2s) fails every message well inside Close's
		// wait. It is a topic-level property given among the others, as
		// -X and Metron's [kafka-topic] give it: each destination's topic
		// must inherit it (a fresh topic configuration would not).
		{"timeout", 30 * time.Second, false},
		// Close stops waiting first; the purge fails what is left.
		{"purge", 200 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 100
			p := newProducer(t, ProducerSpec{
				Properties: map[string]string{
					"bootstrap.servers":  addr,
					"message.timeout.ms": "2000",
				},
				QueueFullTimeout: time.Second,
			})
			for i := range n {
				produce(p, rdk.Packet{Data: []byte("packet"), Timestamp: uint64(i), Routes: 1})
			}
			start := time.Now()
			left := p.Close(tc.close)
			t.Logf("Close took %v, %d unflushed", time.Since(start), left)
			if tc.unflushed && left != n {
				t.Errorf("Close returned %d unflushed, want %d", left, n)
			}
			if !tc.unflushed && left != 0 {
				t.Errorf("Close returned %d unflushed, want 0", left)
			}
			c := p.Counters()
			if c.Produced != n || c.Failed != c.Produced || c.Delivered != 0 || c.QueueDropped != 0 {
				t.Errorf("Counters() = %+v, want Produced = Failed = %d, nothing delivered or dropped", c, n)
			}
			if p.LastError() == "" {
				t.Error("LastError() is empty after failed deliveries")
			}
			t.Logf("last error: %s", p.LastError())
		})
	}
}

// TestReadyFollowsBroker: Ready is nil while a broker can take messages,
// an error within seconds of the only broker going away (librdkafka's
// "all brokers down"), and nil again once one is back on the address.
func TestReadyFollowsBroker(t *testing.T) {
	c, err := kfake.NewCluster(kfake.Ports(0), kfake.SeedTopics(1, topic))
	if err != nil {
		t.Fatal(err)
	}
	addr := c.ListenAddrs()[0]
	p := newProducer(t, ProducerSpec{Properties: map[string]string{"bootstrap.servers": addr,
		"reconnect.backoff.max.ms": "500"}})
	defer p.Close(0)
	waitReady := func(want bool, limit time.Duration) error {
		deadline := time.Now().Add(limit)
		for {
			err := p.Ready()
			if (err == nil) == want || time.Now().After(deadline) {
				return err
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := waitReady(true, 10*time.Second); err != nil {
		t.Fatalf("not ready with the broker up: %v", err)
	}
	c.Close()
	down := time.Now()
	err = waitReady(false, 5*time.Second)
	if err == nil {
		t.Fatal("still ready 5 s after the only broker went away")
	}
	t.Logf("%v after the broker went away: %v", time.Since(down).Round(time.Millisecond), err)

	_, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	c2, err := kfake.NewCluster(kfake.Ports(n), kfake.SeedTopics(1, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	up := time.Now()
	if err := waitReady(true, 15*time.Second); err != nil {
		t.Fatalf("not ready 15 s after the broker came back: %v", err)
	}
	t.Logf("ready %v after the broker came back", time.Since(up).Round(time.Millisecond))
}
