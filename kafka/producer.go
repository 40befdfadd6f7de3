package kafka

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/fastcapa-go/fastcapa/kafka/internal/rdk"
)

// ProducerSpec describes a producer.
type ProducerSpec struct {
	// Topic and KeyDivisor are the one destination of a producer
	// without Destinations, which gets every packet (Simple).
	Topic string
	// KeyDivisor turns a nanosecond timestamp into the key's unit:
	// 1 (ns), 1000 (µs), 1000000 (ms).
	KeyDivisor uint64
	// Destinations, if set, are the topics packets go to, by route
	// index (a capture's routes); each topic at most once.
	Destinations []Destination
	// Properties are librdkafka configuration properties, passed through.
	Properties map[string]string
	// QueueFullTimeout bounds how long the sink waits while librdkafka's
	// queue is full before it gives a message up as queue-dropped.
	QueueFullTimeout time.Duration
	Logger           *slog.Logger
	// StatsWriter, if set, receives librdkafka's JSON statistics, one
	// object per line, as they come (statistics.interval.ms sets how
	// often; Metron's -s file).
	StatsWriter io.Writer
	// Simple: every packet is the first destination's; its route mask
	// is not read.
	Simple bool
}

// Destination is one topic a producer sends to, and how a route's
// packets are sent there.
type Destination struct {
	Topic      string
	KeyDivisor uint64 // 0: 1
	// Snaplen, if > 0, cuts a longer frame to it and adds an
	// OrigLenHeader with its wire length.
	Snaplen     int
	Partitioner Partitioner
	// Partitions is the topic's partition count, for PartitionByFlow and
	// PartitionRoundRobin (SetPartitions may set it later).
	Partitions int
}

// Partitioner chooses a message's partition.
type Partitioner = rdk.Partitioner

const (
	PartitionByKey      = rdk.PartitionKey        // librdkafka's partitioner, on the key
	PartitionByFlow     = rdk.PartitionFlow       // the packet's flow hash mod the partitions
	PartitionRoundRobin = rdk.PartitionRoundRobin // each partition in turn, per producer
)

// Counters are a producer's message counts. Produced = Delivered + Failed
// + in flight.
type Counters struct {
	Produced     uint64 // accepted by librdkafka
	QueueDropped uint64 // not accepted: queue full past the timeout, or refused
	Delivered    uint64 // acknowledged by the broker
	Failed       uint64 // delivery failed, or purged at shutdown
	Bytes        uint64 // value bytes accepted by librdkafka
	QueueWaits   uint64 // times the sink waited for room in a full queue
}

// SinkCounters are what the sink counted of the bursts it was given.
type SinkCounters = rdk.BurstCounts

// Producer produces packets to its destinations (topics) from C: Sink is
// the C function a worker's burst is drained into (one cgo call a burst;
// key, cut, partition, produce and the delivery report's count all in
// C). Its methods may be called from any goroutine.
type Producer struct {
	spec  ProducerSpec
	c     *rdk.Producer
	log   *slog.Logger
	dests []Destination
	// stopPoll ends pollC; events waits for it.
	stopPoll atomic.Bool
	events   sync.WaitGroup

	closeMu sync.RWMutex // Close waits for InFlight callers
	closed  bool
	brokers atomic.Value // []BrokerStats
	reach   Reach        // see Ready
	lastErr atomic.Value // string
}

// NewProducer creates a producer. It does not wait for a broker: one that
// is down now is retried by librdkafka.
func NewProducer(spec ProducerSpec) (*Producer, error) {
	if spec.Logger == nil {
		spec.Logger = slog.Default()
	}
	ds := spec.Destinations
	if len(ds) == 0 {
		ds = []Destination{{Topic: spec.Topic, KeyDivisor: spec.KeyDivisor}}
		spec.Simple = true
	}
	s := rdk.ProducerSpec{Properties: spec.Properties, Simple: spec.Simple, QueueFullTimeout: spec.QueueFullTimeout,
		Stats: spec.StatsWriter != nil || spec.Properties["statistics.interval.ms"] != ""}
	seen := map[string]bool{}
	for _, d := range ds {
		if seen[d.Topic] {
			return nil, fmt.Errorf("kafka producer: topic %q twice", d.Topic)
		}
		seen[d.Topic] = true
		s.Dests = append(s.Dests, rdk.Dest{Topic: d.Topic, Divisor: max(d.KeyDivisor, 1), Snaplen: uint32(max(d.Snaplen, 0)),
			Partitioner: d.Partitioner, Partitions: uint32(max(d.Partitions, 0))})
	}
	c, err := rdk.NewProducer(s)
	if err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	p := &Producer{spec: spec, c: c, log: spec.Logger, dests: ds}
	p.lastErr.Store("")
	p.events.Add(1)
	go p.pollC()
	return p, nil
}

// Sink is the C function and argument that produce a burst (a
// dpdk.Sink's).
func (p *Producer) Sink() (fn, ctx unsafe.Pointer) { return p.c.Sink() }

// SinkCounters reads the sink's counts of the bursts it was given.
func (p *Producer) SinkCounters() SinkCounters {
	p.closeMu.RLock()
	defer p.closeMu.RUnlock()
	return p.c.Bursts()
}

// SetPartitions sets destination d's partition count, before the first
// burst.
func (p *Producer) SetPartitions(d, n int) { p.c.SetPartitions(d, n) }

// pollC serves librdkafka's events until Close: delivery reports are
// counted in C; logs, errors and statistics come here. It also says,
// from the sink's counters, what the sink saw: that a broker answered,
// the last delivery error, a queue that stayed full, refused messages.
func (p *Producer) pollC() {
	defer p.events.Done()
	var seen rdk.Health
	var lastErrLog, lastRefusalLog, stopping time.Time
	for {
		e := p.c.Poll(100 * time.Millisecond)
		switch e.Kind {
		case rdk.EventLog:
			logLine(p.log, e.Level, e.Text, e.Facility)
		case rdk.EventError:
			ke := ck.NewError(ck.ErrorCode(e.Code), e.Text, e.Fatal)
			p.reach.Event(ke)
			// "all brokers down" and friends: librdkafka retries;
			// say so at most once a second.
			if time.Since(lastErrLog) > time.Second {
				p.log.Warn("kafka", "error", ke.Error(), "code", ke.Code().String())
				lastErrLog = time.Now()
			}
		case rdk.EventStats:
			p.handleStats(e.Text)
		}
		h := p.c.Health()
		if h.BrokerAnswered != seen.BrokerAnswered {
			p.reach.Up()
		}
		if h.LastReportErr != 0 && h.LastReportErr != seen.LastReportErr {
			p.lastErr.Store(rdk.ErrString(h.LastReportErr))
		}
		if h.ShedStarts != seen.ShedStarts {
			p.log.Warn("kafka queue full: dropping until it drains", "timeout", p.spec.QueueFullTimeout,
				"in_flight", p.c.InFlight())
		}
		if h.Refused != seen.Refused && time.Since(lastRefusalLog) > time.Second {
			p.log.Warn("kafka refused messages: dropped", "refused", h.Refused, "error", rdk.ErrString(h.LastRefusal),
				"code", rdk.ErrName(h.LastRefusal))
			lastRefusalLog = time.Now()
		}
		seen = h
		// Once stopped, serve what is left: reports of messages
		// flushed or purged, for at most 5 s.
		if p.stopPoll.Load() && e.Kind == rdk.EventNone {
			if stopping.IsZero() {
				stopping = time.Now()
			}
			if p.c.InFlight() == 0 || time.Since(stopping) > 5*time.Second {
				return
			}
		}
	}
}

// BrokerStats are one broker's latencies from librdkafka's statistics.
type BrokerStats struct {
	Name string
	// RTT is the round trip of produce requests; QueueLatency the time
	// a message waits in librdkafka before it is sent (int_latency).
	RTTAvg, RTTP99, QueueLatencyAvg, QueueLatencyP99 time.Duration
}

// librdkafka's statistics JSON, the parts read here (times in µs).
type rdStats struct {
	Brokers map[string]struct {
		Name       string   `json:"name"`
		Source     string   `json:"source"`
		RTT        rdWindow `json:"rtt"`
		IntLatency rdWindow `json:"int_latency"`
	} `json:"brokers"`
}

type rdWindow struct {
	Avg int64 `json:"avg"`
	P99 int64 `json:"p99"`
}

func (p *Producer) handleStats(js string) {
	if p.spec.StatsWriter != nil {
		if _, err := io.WriteString(p.spec.StatsWriter, js+"\n"); err != nil {
			p.log.Warn("write kafka statistics", "error", err)
		}
	}
	var st rdStats
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		p.log.Warn("kafka statistics", "error", err)
		return
	}
	var out []BrokerStats
	for _, b := range st.Brokers {
		if b.Source == "internal" { // the client's own pseudo-broker
			continue
		}
		out = append(out, BrokerStats{Name: b.Name,
			RTTAvg: time.Duration(b.RTT.Avg) * time.Microsecond, RTTP99: time.Duration(b.RTT.P99) * time.Microsecond,
			QueueLatencyAvg: time.Duration(b.IntLatency.Avg) * time.Microsecond,
			QueueLatencyP99: time.Duration(b.IntLatency.P99) * time.Microsecond})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	p.brokers.Store(out)
}

// Brokers returns the broker latencies from the last statistics, if
// statistics.interval.ms is set.
func (p *Producer) Brokers() []BrokerStats {
	b, _ := p.brokers.Load().([]BrokerStats)
	return b
}

// Ready says whether packets can be delivered now: nil from the first
// answer of a broker (to a metadata request for the topic) until
// librdkafka reports every broker down (its ErrAllBrokersDown event),
// then nil again from the next successful delivery or broker answer.
// While not ready it asks a broker (with a short timeout) at most once a
// second; while ready it answers from memory.
func (p *Producer) Ready() error {
	return p.reach.Check(func() bool {
		_, err := p.Partitions(0, 500*time.Millisecond)
		return err == nil
	})
}

// Partitions asks a broker how many partitions destination d's topic
// has, waiting up to timeout.
func (p *Producer) Partitions(d int, timeout time.Duration) (int, error) {
	p.closeMu.RLock()
	defer p.closeMu.RUnlock()
	topic := p.dests[d].Topic
	if p.closed {
		return 0, fmt.Errorf("topic %s: producer closed", topic)
	}
	n, brokers, te := p.c.Metadata(d, timeout)
	switch {
	case brokers == 0 && te != 0:
		return 0, fmt.Errorf("topic %s: metadata: %s", topic, rdk.ErrString(te))
	case te == -1:
		return 0, fmt.Errorf("topic %s: not in the broker's metadata", topic)
	case te != 0:
		return 0, fmt.Errorf("topic %s: %s", topic, rdk.ErrString(te))
	case n == 0:
		return 0, fmt.Errorf("topic %s: no partitions", topic)
	}
	return n, nil
}

// InFlight is the number of messages librdkafka holds; 0 once closed.
func (p *Producer) InFlight() int {
	p.closeMu.RLock()
	defer p.closeMu.RUnlock()
	if p.closed {
		return 0
	}
	return p.c.InFlight()
}

// Counters reads the producer's counts, every destination's summed.
func (p *Producer) Counters() (c Counters) {
	for _, d := range p.DestinationCounters() {
		c.Add(d)
	}
	return c
}

// DestinationCounters reads the counts of each destination, by index.
func (p *Producer) DestinationCounters() []Counters {
	p.closeMu.RLock()
	defer p.closeMu.RUnlock()
	out := make([]Counters, len(p.dests))
	for i := range p.dests {
		c := p.c.Dest(i)
		out[i] = Counters{Produced: c.Produced, QueueDropped: c.QueueDropped, Delivered: c.Delivered,
			Failed: c.Failed, Bytes: c.Bytes, QueueWaits: c.QueueWaits}
	}
	return out
}

// Add adds o's counts to c.
func (c *Counters) Add(o Counters) {
	c.Produced += o.Produced
	c.QueueDropped += o.QueueDropped
	c.Delivered += o.Delivered
	c.Failed += o.Failed
	c.Bytes += o.Bytes
	c.QueueWaits += o.QueueWaits
}

// LastError is the last delivery error seen, or "".
func (p *Producer) LastError() string { return p.lastErr.Load().(string) }

// Close flushes for up to timeout, purges what is left (those messages
// count as failed), stops serving events and frees the client; counters
// stay readable. It returns how many messages were purged unflushed.
// Call it once nothing drains bursts into the sink any more.
func (p *Producer) Close(timeout time.Duration) (unflushed int) {
	if left := p.c.Flush(timeout); left > 0 {
		unflushed = left
		if err := p.c.Purge(); err != nil {
			p.log.Error("kafka purge", "error", err)
		}
		// Purged messages come back as failed delivery reports.
		p.c.Flush(5 * time.Second)
	}
	p.closeMu.Lock()
	p.closed = true
	p.closeMu.Unlock()
	p.stopPoll.Store(true)
	p.c.Wake()
	p.events.Wait()
	// Counters may be read at any time: not while the C memory goes.
	p.closeMu.Lock()
	p.c.Destroy()
	p.closeMu.Unlock()
	return unflushed
}
