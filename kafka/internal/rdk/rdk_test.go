package rdk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/kafkatest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

const topic = "c"

// TestDeclarations checks our declarations against the linked library:
// its version is 2.x or later, and the error codes we name are the ones
// it names so.
func TestDeclarations(t *testing.T) {
	v, s := Version()
	t.Logf("librdkafka %s (%#x)", s, v)
	if v < 0x02000000 {
		t.Errorf("rd_kafka_version() = %#x (%s), want >= 2.0", v, s)
	}
	for _, c := range []struct {
		code int
		name string
	}{{ErrQueueFull, "_QUEUE_FULL"}, {ErrMsgTimedOut, "_MSG_TIMED_OUT"}, {0, "NO_ERROR"}} {
		if got := ErrName(c.code); got != c.name {
			t.Errorf("rd_kafka_err2name(%d) = %q, want %q", c.code, got, c.name)
		}
	}
}

// TestCeilingRoundTrip produces 1000 messages of 100 B from C and reads
// them back with franz-go: the warm-up message and the 1000, each once,
// keys the sequence numbers, values byte-exact, and the C callback's
// count 1000 delivered.
func TestCeilingRoundTrip(t *testing.T) {
	const n, size = 1000, 100
	addr := kafkatest.Broker(t, topic)
	r, err := Ceiling(Spec{Properties: map[string]string{"bootstrap.servers": addr}, Topic: topic,
		Size: size, Count: n, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("Ceiling: %v (%+v)", err, r)
	}
	t.Logf("%+v", r)
	if r.Sent != n || r.Delivered != n || r.Failed != 0 || r.LastError != 0 {
		t.Errorf("Result %+v, want %d sent and delivered, none failed", r, n)
	}
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i)
	}
	seen := make([]bool, n+1)
	for _, rec := range kafkatest.Consume(t, addr, topic, n+1) {
		if len(rec.Key) != 8 {
			t.Fatalf("key %x: want 8 bytes", rec.Key)
		}
		k := binary.BigEndian.Uint64(rec.Key)
		if k > n || seen[k] {
			t.Fatalf("key %d: out of 0..%d or seen twice", k, n)
		}
		seen[k] = true
		if !bytes.Equal(rec.Value, want) {
			t.Fatalf("key %d: value %x, want %x", k, rec.Value, want)
		}
	}
}

// TestCeilingNoBroker: with nothing listening, every message fails when
// message.timeout.ms passes, and the C callback counts each as failed.
func TestCeilingNoBroker(t *testing.T) {
	const n = 100
	r, err := Ceiling(Spec{Properties: map[string]string{"bootstrap.servers": testenv.DeadAddr(t),
		"message.timeout.ms": "500", "log_level": "0"}, Topic: topic, Size: 10, Count: n,
		Timeout: 30 * time.Second, NoWarmup: true})
	if err != nil {
		t.Fatalf("Ceiling: %v (%+v)", err, r)
	}
	if r.Sent != n || r.Failed != n || r.Delivered != 0 || r.LastError != ErrMsgTimedOut {
		t.Errorf("Result %+v, want %d sent and failed (%s), none delivered", r, n, ErrName(ErrMsgTimedOut))
	}
}

// TestCeilingBadProperty: a property librdkafka refuses is ErrConfig.
func TestCeilingBadProperty(t *testing.T) {
	_, err := Ceiling(Spec{Properties: map[string]string{"no.such.property": "1"}, Topic: topic, Size: 1,
		Count: 1, Timeout: time.Second})
	if err == nil || !errors.Is(err, ErrConfig) {
		t.Fatalf("Ceiling: %v, want ErrConfig", err)
	}
	t.Log(err)
}
