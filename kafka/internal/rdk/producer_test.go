package rdk

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/fastcapa-go/fastcapa/internal/kafkatest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// serve polls p until the returned stop is called, as package kafka's
// producer does; stop then serves what is left.
func serve(t *testing.T, p *Producer) (stop func()) {
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if e := p.Poll(50 * time.Millisecond); e.Kind == EventError {
				t.Logf("event: %+v", e)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			p.Wake()
			wg.Wait()
			for p.InFlight() > 0 {
				p.Poll(10 * time.Millisecond)
			}
		})
	}
}

// TestProducerSink sends a burst through the C sink to two destinations
// and reads it back with franz-go: each packet once per route in its
// mask, cut to the route's snaplen with an orig_len header, keyed by the
// timestamp in the route's unit, on the partition the route's
// partitioner chose; malformed packets counted, not sent.
func TestProducerSink(t *testing.T) {
	addr := kafkatest.Broker(t, "unused", kfake.SeedTopics(4, "a"), kfake.SeedTopics(3, "b"))
	p, err := NewProducer(ProducerSpec{Properties: map[string]string{"bootstrap.servers": addr, "linger.ms": "1"},
		Dests: []Dest{
			{Topic: "a", Divisor: 1000, Snaplen: 10, Partitioner: PartitionFlow, Partitions: 4},
			{Topic: "b", Partitioner: PartitionRoundRobin}, // its count comes later
		}, QueueFullTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Destroy()
	stop := serve(t, p)
	defer stop()
	if n, brokers, te := p.Metadata(1, 10*time.Second); n != 3 || brokers != 1 || te != 0 {
		t.Fatalf("Metadata(b) = %d partitions, %d brokers, error %d; want 3, 1, 0", n, brokers, te)
	}
	p.SetPartitions(1, 3)

	frame := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	pkts := []Packet{
		{Data: frame(20, 1), Timestamp: 1_000_007_000, Routes: 0b01, FlowHash: 7},
		{Data: frame(5, 2), Timestamp: 2_000_000_000, Routes: 0b11, FlowHash: 9},
		{Data: frame(40, 3), Timestamp: 3, Routes: 0b10, Bad: true},
		{Data: frame(30, 4), Timestamp: 4, Routes: 0b10},
		{Data: frame(8, 5), Len: 60, Timestamp: 5, Routes: 0b11}, // not contiguous
		{Data: frame(1, 6), Timestamp: 6, Routes: 0b10},
	}
	p.SinkPackets(pkts)
	if left := p.Flush(20 * time.Second); left != 0 {
		t.Fatalf("Flush: %d left", left)
	}
	stop()

	b := p.Bursts()
	if b.Packets != 6 || b.Bursts != 1 || b.Malformed != 2 || b.Copies != 8 ||
		b.RouteMalformed[0] != 1 || b.RouteMalformed[1] != 2 {
		t.Errorf("Bursts() = %+v, want 6 packets, 1 burst, 2 malformed (1 of a, 2 of b), 8 copies", b)
	}
	for d, want := range []DestCounts{
		{Produced: 2, Bytes: 15, Delivered: 2},
		{Produced: 3, Bytes: 36, Delivered: 3},
	} {
		if got := p.Dest(d); got != want {
			t.Errorf("Dest(%d) = %+v, want %+v", d, got, want)
		}
	}

	type rec struct {
		key       uint64
		value     []byte
		partition int32
		origLen   string
		tsMs      int64 // the record's timestamp
	}
	read := func(topic string, n int) map[uint64]rec {
		out := map[uint64]rec{}
		for _, r := range kafkatest.Consume(t, addr, topic, n) {
			x := rec{key: binary.BigEndian.Uint64(r.Key), value: r.Value, partition: r.Partition, tsMs: r.Timestamp.UnixMilli()}
			for _, h := range r.Headers {
				if h.Key == "orig_len" {
					x.origLen = string(h.Value)
				}
			}
			out[x.key] = x
		}
		return out
	}
	a := read("a", 2)
	// Each record's timestamp is its packet's capture time in ms.
	for key, want := range map[uint64]int64{1_000_007: 1000, 2_000_000: 2000} {
		if got := a[key].tsMs; got != want {
			t.Errorf("a, key %d: record timestamp %d ms, want %d (the packet's)", key, got, want)
		}
	}
	if r := a[1_000_007]; !bytes.Equal(r.value, frame(10, 1)) || r.origLen != "20" || r.partition != 3 {
		t.Errorf("a, key 1000007: %+v, want 10 B of 1, orig_len 20, partition 7%%4", r)
	}
	if r := a[2_000_000]; !bytes.Equal(r.value, frame(5, 2)) || r.origLen != "" || r.partition != 1 {
		t.Errorf("a, key 2000000: %+v, want 5 B of 2, no orig_len, partition 9%%4", r)
	}
	bt := read("b", 3)
	for i, w := range []struct {
		key  uint64
		data []byte
	}{{2_000_000_000, frame(5, 2)}, {4, frame(30, 4)}, {6, frame(1, 6)}} {
		if r := bt[w.key]; !bytes.Equal(r.value, w.data) || r.origLen != "" || r.partition != int32(i) {
			t.Errorf("b, key %d: %+v, want %x on partition %d (round robin)", w.key, r, w.data, i)
		}
	}
}

// TestProducerQueueFull: with the broker gone and room for 10 messages,
// the sink waits once for QueueFullTimeout, then drops without waiting:
// 10 produced, the rest queue-dropped, one wait, one shedding start;
// purged, the 10 come back failed.
func TestProducerQueueFull(t *testing.T) {
	p, err := NewProducer(ProducerSpec{Properties: map[string]string{"bootstrap.servers": testenv.DeadAddr(t),
		"queue.buffering.max.messages": "10", "log_level": "0"},
		Dests: []Dest{{Topic: "q"}}, Simple: true, QueueFullTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Destroy()
	stop := serve(t, p)
	defer stop()
	pkts := make([]Packet, 100)
	for i := range pkts {
		pkts[i] = Packet{Data: []byte{byte(i)}, Timestamp: uint64(i)}
	}
	start := time.Now()
	p.SinkPackets(pkts)
	took := time.Since(start)
	if got := p.Dest(0); got.Produced != 10 || got.QueueDropped != 90 || got.QueueWaits != 1 {
		t.Errorf("Dest(0) = %+v, want 10 produced, 90 queue-dropped, 1 wait", got)
	}
	if h := p.Health(); h.ShedStarts != 1 || h.Refused != 0 {
		t.Errorf("Health() = %+v, want 1 shedding start, none refused", h)
	}
	if took < 100*time.Millisecond {
		t.Errorf("the burst took %v: it did not wait for room", took)
	}
	if err := p.Purge(); err != nil {
		t.Fatal(err)
	}
	if left := p.Flush(5 * time.Second); left != 0 {
		t.Errorf("Flush after Purge: %d left", left)
	}
	stop()
	if got := p.Dest(0); got.Failed != 10 || got.Delivered != 0 {
		t.Errorf("Dest(0) = %+v, want the 10 failed", got)
	}
}

// TestProducerBadProperty: a property librdkafka refuses fails
// NewProducer with its message.
func TestProducerBadProperty(t *testing.T) {
	_, err := NewProducer(ProducerSpec{Properties: map[string]string{"no.such.property": "1"}, Dests: []Dest{{Topic: "x"}}})
	if err == nil {
		t.Fatal("NewProducer accepted no.such.property")
	}
	t.Log(err)
}
