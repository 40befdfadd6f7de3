package kafka

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/kafkatest"
)

func TestParseOrigLen(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"1514", 1514, true},
		{"0", 0, true},
		{"0060", 60, true},
		{"4294967295", math.MaxUint32, true},
		{"4294967296", 0, false},
		{"99999999999999999999999", 0, false}, // would wrap a uint64
		{"", 0, false},
		{"-1", 0, false},
		{"+60", 0, false},
		{" 60", 0, false},
		{"60 ", 0, false},
		{"0x5ea", 0, false},
		{"1_514", 0, false},
		{"1514\x00", 0, false},
		{"١٥١٤", 0, false}, // Arabic-Indic digits: not ASCII
	} {
		got, err := ParseOrigLen([]byte(c.in))
		if c.ok && (err != nil || got != c.want) {
			t.Errorf("ParseOrigLen(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
		if !c.ok && !errors.Is(err, ErrOrigLen) {
			t.Errorf("ParseOrigLen(%q) = %d, %v; want ErrOrigLen", c.in, got, err)
		}
	}
	for _, n := range []uint32{0, 1, 60, 1514, 65535, 9216, math.MaxUint32} {
		if got, err := ParseOrigLen(AppendOrigLen(nil, n)); err != nil || got != n {
			t.Errorf("round trip of %d: %d, %v", n, got, err)
		}
	}
}

// TestProduceOrigLen: a frame cut at capture goes out with one orig_len
// header holding its wire length in decimal; a whole one (origLen equal
// to or under the bytes given) and Produce's records with none. Read back
// with franz-go, an independent client. The header buffer is reused, so
// records are held back in librdkafka (linger) while the next ones are
// produced: each must keep its own value.
func TestProduceOrigLen(t *testing.T) {
	addr := kafkatest.Broker(t, topic)
	p := newProducer(t, ProducerSpec{
		Properties:       map[string]string{"bootstrap.servers": addr, "linger.ms": "200"},
		QueueFullTimeout: time.Second,
	})
	type sent struct {
		value   []byte
		origLen uint32
		plain   bool // Produce, not ProduceOrigLen
	}
	var want []sent
	var bytesIn uint64
	for i := range 200 {
		v := bytes.Repeat([]byte{byte(i)}, 1+i%97)
		s := sent{value: v, origLen: uint32(len(v))}
		switch i % 5 {
		case 0:
			s.plain = true
		case 1:
			s.origLen = uint32(len(v)) + uint32(i)*13 + 1 // cut
		case 2:
			s.origLen = 0 // under the bytes given: whole
		case 3:
			s.origLen = math.MaxUint32 // cut, the largest
		}
		var err error
		if s.plain {
			err = p.Produce(uint64(i), v)
		} else {
			err = p.ProduceOrigLen(uint64(i), v, s.origLen)
		}
		if err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		want = append(want, s)
		bytesIn += uint64(len(v))
	}
	if left := p.Close(30 * time.Second); left != 0 {
		t.Fatalf("Close: %d unflushed", left)
	}
	if c := p.Counters(); c.Produced != uint64(len(want)) || c.Delivered != c.Produced || c.Bytes != bytesIn {
		t.Fatalf("Counters() = %+v, want %d delivered, %d bytes", c, len(want), bytesIn)
	}
	for _, r := range kafkatest.Consume(t, addr, topic, len(want)) {
		i := binary.BigEndian.Uint64(r.Key)
		w := want[i]
		if !bytes.Equal(r.Value, w.value) {
			t.Errorf("record %d: value of %d bytes, want %d", i, len(r.Value), len(w.value))
		}
		var got []string
		for _, h := range r.Headers {
			got = append(got, fmt.Sprintf("%s=%s", h.Key, h.Value))
		}
		wantH := fmt.Sprint([]string(nil))
		if !w.plain && w.origLen > uint32(len(w.value)) {
			wantH = fmt.Sprint([]string{fmt.Sprintf("orig_len=%d", w.origLen)})
		}
		if fmt.Sprint(got) != wantH {
			t.Errorf("record %d (%d of %d bytes): headers %v, want %s", i, len(w.value), w.origLen, got, wantH)
		}
	}
}
