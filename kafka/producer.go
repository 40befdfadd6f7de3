package kafka

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/fastcapa-go/fastcapa/kafka/internal/rdk"
)

// ProducerSpec describes a producer.
type ProducerSpec struct {
	// Topic and KeyDivisor are the one destination of a producer
	// without Destinations.
	Topic string
	// KeyDivisor turns a nanosecond timestamp into the key's unit:
	// 1 (ns), 1000 (µs), 1000000 (ms).
	KeyDivisor uint64
	// Destinations, if set, are the topics Send sends to, by index (a
	// capture's routes); each topic at most once.
	Destinations []Destination
	// Properties are librdkafka configuration properties, passed through.
	Properties map[string]string
	// QueueFullTimeout bounds how long Produce blocks while librdkafka's
	// queue is full before it gives the message up as queue-dropped.
	QueueFullTimeout time.Duration
	Logger           *slog.Logger
	// StatsWriter, if set, receives librdkafka's JSON statistics, one
	// object per line, as they come (statistics.interval.ms sets how
	// often; Metron's -s file).
	StatsWriter io.Writer
	// FromC produces from C: a burst at a time through Sink, every
	// per-packet step (cut, key, partition, produce, delivery report)
	// in C. Send is then not used. Otherwise packets are sent from Go,
	// one Send each, which is the path being retired.
	FromC bool
	// Simple (FromC): every packet is the first destination's; its
	// route mask is not read.
	Simple bool
}

// Destination is one topic a producer sends to, with the key's unit.
type Destination struct {
	Topic      string
	KeyDivisor uint64 // 0: 1
	// For FromC: how a route's packets are sent here (Send takes them
	// per message instead). A frame over Snaplen (> 0) is cut and an
	// OrigLenHeader added; Partitions is the topic's partition count
	// for PartitionByFlow and PartitionRoundRobin (SetPartitions may
	// set it later).
	Snaplen     int
	Partitioner Partitioner
	Partitions  int
}

// PartitionAny leaves the partition to librdkafka's partitioner (on the
// key), in Send.
const PartitionAny = int32(ck.PartitionAny)

// Counters are a producer's message counts. Produced = Delivered + Failed
// + in flight.
type Counters struct {
	Produced     uint64 // accepted by librdkafka
	QueueDropped uint64 // not accepted: queue full past the timeout, or refused
	Delivered    uint64 // acknowledged by the broker
	Failed       uint64 // delivery failed, or purged at shutdown
	Bytes        uint64 // value bytes accepted by librdkafka
	QueueWaits   uint64 // times Produce waited for room in a full queue
}

// ErrQueueFull is returned when librdkafka's queue stayed full for the
// whole QueueFullTimeout.
var ErrQueueFull = errors.New("librdkafka queue full")

// Producer sends packets to its destinations (topics). Send, Produce and
// Publish are for one goroutine at a time; Counters may be read from any.
type Producer struct {
	spec     ProducerSpec
	p        *ck.Producer  // the Go path's client
	c        *rdk.Producer // the C path's, when FromC
	stopPoll atomic.Bool   // ends pollC
	log      *slog.Logger
	msg      ck.Message
	key      [8]byte
	dests    []dest
	// byTopic finds a delivery report's destination.
	byTopic map[string]*dest
	// origLen is ProduceOrigLen's header, its value's bytes reused.
	origLen [1]ck.Header
	// shedding is set when the queue stayed full for a whole
	// QueueFullTimeout; until a message is accepted again, Produce drops
	// without waiting, so a dead broker costs one wait, not one a packet.
	shedding bool
	events   sync.WaitGroup

	closeMu sync.RWMutex // Close waits for InFlight callers
	closed  bool
	brokers atomic.Value // []BrokerStats
	reach   Reach        // see Ready
	lastErr atomic.Value // string
}

// dest is one destination and its counts.
type dest struct {
	topic   string
	divisor uint64
	// counts are Send's own, plain; Publish copies them to published
	// for Counters.
	counts struct {
		produced, queueDropped, bytes, queueWaits uint64
	}
	published struct {
		produced, queueDropped, bytes, queueWaits atomic.Uint64
	}
	delivered atomic.Uint64
	failed    atomic.Uint64
}

// fixedProperties are the Go client's own settings, not librdkafka's.
var fixedProperties = map[string]any{
	// Delivery reports carry only the partition and error: no payload is
	// copied back into Go.
	"go.delivery.report.fields": "none",
	RouteLogs:                   true,
}

// RouteLogs is the client property that sends librdkafka's log lines to
// the client's Logs channel, not to stderr; ForwardLogs passes them on to
// slog. Every client we make, producer or consumer, sets it.
const RouteLogs = "go.logs.channel.enable"

// ForwardLogs logs each of librdkafka's log lines from a client's Logs
// channel through log until the channel is closed (by the client's
// Close). Errors also arrive as error events, which the client's owner
// logs, so lines go out at debug unless critical.
func ForwardLogs(logs <-chan ck.LogEvent, log *slog.Logger) {
	for l := range logs {
		logLine(log, l.Level, l.Message, l.Tag)
	}
}

// logLine logs one of librdkafka's lines (level: syslog's).
func logLine(log *slog.Logger, level int, msg, facility string) {
	lv := slog.LevelDebug
	if level <= 2 {
		lv = slog.LevelError
	}
	log.Log(context.Background(), lv, msg, "source", "librdkafka", "facility", facility)
}

// ConfigMap builds the client configuration from librdkafka properties.
func ConfigMap(props map[string]string) ck.ConfigMap {
	cm := ck.ConfigMap{}
	for k, v := range props {
		cm[k] = v
	}
	for k, v := range fixedProperties {
		cm[k] = v
	}
	return cm
}

// CheckProperties reports whether librdkafka accepts the properties, by
// making a client and closing it at once, so a bad property fails before
// any device is touched.
func CheckProperties(props map[string]string) error {
	cm := ConfigMap(props)
	p, err := ck.NewProducer(&cm)
	if err != nil {
		return fmt.Errorf("kafka properties: %w", err)
	}
	p.Close()
	return nil
}

// StatsFile is a statistics file producers share: each Write (one JSON
// line) goes out whole, and Reopen moves writing to a new file at the same
// path, so one that logrotate moved away is created again.
type StatsFile struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

// OpenStatsFile opens path for appending, creating it if need be.
func OpenStatsFile(path string) (*StatsFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return &StatsFile{path: path, f: f}, nil
}

func (s *StatsFile) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return 0, os.ErrClosed
	}
	return s.f.Write(p)
}

// Reopen opens the path again and writes there from now on. If it
// cannot, writing goes on to the file it had.
func (s *StatsFile) Reopen() error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("reopen %s: %w", s.path, err)
	}
	s.mu.Lock()
	old := s.f
	s.f = f
	s.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Close closes the file; later writes fail.
func (s *StatsFile) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
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
	}
	pr := &Producer{spec: spec, log: spec.Logger, dests: make([]dest, len(ds)), byTopic: map[string]*dest{}}
	for i, d := range ds {
		if _, dup := pr.byTopic[d.Topic]; dup {
			return nil, fmt.Errorf("kafka producer: topic %q twice", d.Topic)
		}
		pr.dests[i].topic, pr.dests[i].divisor = d.Topic, max(d.KeyDivisor, 1)
		pr.byTopic[d.Topic] = &pr.dests[i]
	}
	pr.lastErr.Store("")
	if spec.FromC {
		if err := pr.newC(ds); err != nil {
			return nil, err
		}
		return pr, nil
	}
	cm := ConfigMap(spec.Properties)
	p, err := ck.NewProducer(&cm)
	if err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	pr.p = p
	pr.events.Add(2)
	go pr.handleEvents()
	go pr.handleLogs()
	return pr, nil
}

// handleLogs passes librdkafka's log lines to slog; handleEvents logs
// errors, once a second at most.
func (p *Producer) handleLogs() {
	defer p.events.Done()
	ForwardLogs(p.p.Logs(), p.log)
}

// handleEvents counts delivery reports and logs client errors.
func (p *Producer) handleEvents() {
	defer p.events.Done()
	var lastLog time.Time
	for ev := range p.p.Events() {
		switch e := ev.(type) {
		case *ck.Message:
			d := &p.dests[0]
			if t := e.TopicPartition.Topic; t != nil && len(p.dests) > 1 && p.byTopic[*t] != nil {
				d = p.byTopic[*t]
			}
			if e.TopicPartition.Error != nil {
				d.failed.Add(1)
				p.lastErr.Store(e.TopicPartition.Error.Error())
			} else {
				d.delivered.Add(1)
				p.reach.Up()
			}
		case ck.Error:
			p.reach.Event(e)
			// "all brokers down" and friends: librdkafka retries;
			// say so at most once a second.
			if time.Since(lastLog) > time.Second {
				p.log.Warn("kafka", "error", e.Error(), "code", e.Code().String())
				lastLog = time.Now()
			}
		case *ck.Stats:
			p.handleStats(e.String())
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
		p.closeMu.RLock()
		defer p.closeMu.RUnlock()
		switch {
		case p.closed:
			return false
		case p.c != nil:
			_, err := p.metadataC(0, 500*time.Millisecond)
			return err == nil
		}
		topic := p.dests[0].topic
		md, err := p.p.GetMetadata(&topic, false, 500)
		return TopicAnswered(md, err, topic)
	})
}

// Produce sends one packet to the first destination, partitioned by
// librdkafka on the key: Send(0, tsNanos, value, 0, PartitionAny).
func (p *Producer) Produce(tsNanos uint64, value []byte) error {
	return p.Send(0, tsNanos, value, 0, PartitionAny)
}

// ProduceOrigLen is Produce for a frame cut at capture: Send(0, tsNanos,
// value, origLen, PartitionAny).
func (p *Producer) ProduceOrigLen(tsNanos uint64, value []byte, origLen uint32) error {
	return p.Send(0, tsNanos, value, origLen, PartitionAny)
}

// Send hands one packet to librdkafka for destination d, which copies
// key, value and headers before it returns: value may be freed right
// after. The key is tsNanos in the destination's unit. origLen, when over
// len(value), is the wire length of a frame cut to value: the record
// then carries an OrigLenHeader saying so. partition is the partition to
// write, or PartitionAny.
//
// While the queue is full it waits, up to QueueFullTimeout, so the ring
// before it absorbs a burst; once a wait has run out it drops
// (queue-dropped) without waiting until librdkafka accepts a message
// again. What it counts reaches Counters at the next Publish.
func (p *Producer) Send(d int, tsNanos uint64, value []byte, origLen uint32, partition int32) error {
	ds := &p.dests[d]
	binary.BigEndian.PutUint64(p.key[:], tsNanos/ds.divisor)
	p.msg.TopicPartition = ck.TopicPartition{Topic: &ds.topic, Partition: partition}
	p.msg.Key = p.key[:]
	p.msg.Value = value
	p.msg.Headers = nil
	if uint64(origLen) > uint64(len(value)) {
		// librdkafka copies header keys and values (as it does key and
		// value) before Produce returns, so the buffer is reused.
		h := &p.origLen[0]
		h.Key, h.Value = OrigLenHeader, AppendOrigLen(h.Value[:0], origLen)
		p.msg.Headers = p.origLen[:]
	}
	err := p.p.Produce(&p.msg, nil)
	if err == nil {
		ds.counts.produced++
		ds.counts.bytes += uint64(len(value))
		p.shedding = false
		return nil
	}
	if isQueueFull(err) && p.shedding {
		ds.counts.queueDropped++
		return ErrQueueFull
	}
	if isQueueFull(err) {
		ds.counts.queueWaits++
		deadline := time.Now().Add(p.spec.QueueFullTimeout)
		for wait := 50 * time.Microsecond; isQueueFull(err) && time.Now().Before(deadline); {
			time.Sleep(wait)
			if wait < 5*time.Millisecond {
				wait *= 2
			}
			err = p.p.Produce(&p.msg, nil)
		}
		if err == nil {
			ds.counts.produced++
			ds.counts.bytes += uint64(len(value))
			return nil
		}
		if isQueueFull(err) {
			err = ErrQueueFull
			p.shedding = true
			p.log.Warn("kafka queue full: dropping until it drains", "timeout", p.spec.QueueFullTimeout,
				"in_flight", p.p.Len())
		}
	}
	ds.counts.queueDropped++
	return err
}

// Publish makes what Send counted so far visible to Counters. The
// goroutine that calls Send calls it, once per burst: no atomic per
// packet. Close publishes too.
func (p *Producer) Publish() {
	for i := range p.dests {
		d := &p.dests[i]
		d.published.produced.Store(d.counts.produced)
		d.published.queueDropped.Store(d.counts.queueDropped)
		d.published.bytes.Store(d.counts.bytes)
		d.published.queueWaits.Store(d.counts.queueWaits)
	}
}

// Partitions asks a broker how many partitions destination d's topic
// has, waiting up to timeout.
func (p *Producer) Partitions(d int, timeout time.Duration) (int, error) {
	if p.c != nil {
		return p.metadataC(d, timeout)
	}
	topic := p.dests[d].topic
	md, err := p.p.GetMetadata(&topic, false, int(timeout/time.Millisecond))
	if err != nil {
		return 0, fmt.Errorf("topic %s: metadata: %w", topic, err)
	}
	t, ok := md.Topics[topic]
	switch {
	case !ok:
		return 0, fmt.Errorf("topic %s: not in the broker's metadata", topic)
	case t.Error.Code() != ck.ErrNoError:
		return 0, fmt.Errorf("topic %s: %w", topic, t.Error)
	case len(t.Partitions) == 0:
		return 0, fmt.Errorf("topic %s: no partitions", topic)
	}
	return len(t.Partitions), nil
}

func isQueueFull(err error) bool {
	var ke ck.Error
	return errors.As(err, &ke) && ke.Code() == ck.ErrQueueFull
}

// InFlight is the number of messages librdkafka holds; 0 once closed.
func (p *Producer) InFlight() int {
	p.closeMu.RLock()
	defer p.closeMu.RUnlock()
	if p.closed {
		return 0
	}
	if p.c != nil {
		return p.c.InFlight()
	}
	return p.p.Len()
}

// Counters reads the producer's counts, every destination's summed:
// Delivered and Failed as they are, Send's own as of the last Publish (or
// Close).
func (p *Producer) Counters() (c Counters) {
	for _, d := range p.DestinationCounters() {
		c.Add(d)
	}
	return c
}

// DestinationCounters reads the counts of each destination, by index.
func (p *Producer) DestinationCounters() []Counters {
	out := make([]Counters, len(p.dests))
	if p.c != nil {
		p.closeMu.RLock()
		defer p.closeMu.RUnlock()
		for i := range p.dests {
			c := p.c.Dest(i)
			out[i] = Counters{Produced: c.Produced, QueueDropped: c.QueueDropped, Delivered: c.Delivered,
				Failed: c.Failed, Bytes: c.Bytes, QueueWaits: c.QueueWaits}
		}
		return out
	}
	for i := range p.dests {
		d := &p.dests[i]
		out[i] = Counters{
			Produced:     d.published.produced.Load(),
			QueueDropped: d.published.queueDropped.Load(),
			Delivered:    d.delivered.Load(),
			Failed:       d.failed.Load(),
			Bytes:        d.published.bytes.Load(),
			QueueWaits:   d.published.queueWaits.Load(),
		}
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

// Close publishes Produce's counts, flushes for up to timeout, purges
// what is left (those messages count as failed), and closes the client.
// It returns how many messages were purged unflushed. Call it once
// nothing calls Produce any more.
func (p *Producer) Close(timeout time.Duration) (unflushed int) {
	if p.c != nil {
		return p.closeC(timeout)
	}
	p.Publish()
	left := p.p.Flush(int(timeout / time.Millisecond))
	if left > 0 {
		unflushed = left
		if err := p.p.Purge(ck.PurgeQueue | ck.PurgeInFlight); err != nil {
			p.log.Error("kafka purge", "error", err)
		}
		// Purged messages come back as failed delivery reports.
		p.p.Flush(int((5 * time.Second) / time.Millisecond))
	}
	p.closeMu.Lock()
	p.closed = true
	p.p.Close()
	p.closeMu.Unlock()
	p.events.Wait()
	return unflushed
}

// Client returns the underlying confluent-kafka-go producer, for
// metadata queries; nil for a producer FromC.
func (p *Producer) Client() *ck.Producer { return p.p }
