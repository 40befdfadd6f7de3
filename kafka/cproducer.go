package kafka

import (
	"fmt"
	"time"
	"unsafe"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/fastcapa-go/fastcapa/kafka/internal/rdk"
)

// Partitioner chooses a message's partition, in the C path.
type Partitioner = rdk.Partitioner

const (
	PartitionByKey      = rdk.PartitionKey        // librdkafka's partitioner, on the key
	PartitionByFlow     = rdk.PartitionFlow       // the packet's flow hash mod the partitions
	PartitionRoundRobin = rdk.PartitionRoundRobin // each partition in turn, per producer
)

// SinkCounters are what the C path counted of the bursts it was given.
type SinkCounters = rdk.BurstCounts

// newC makes the producer's C path (ProducerSpec.FromC).
func (p *Producer) newC(ds []Destination) error {
	s := rdk.ProducerSpec{Properties: p.spec.Properties, Simple: p.spec.Simple,
		QueueFullTimeout: p.spec.QueueFullTimeout, Stats: p.spec.StatsWriter != nil || p.spec.Properties["statistics.interval.ms"] != ""}
	for _, d := range ds {
		s.Dests = append(s.Dests, rdk.Dest{Topic: d.Topic, Divisor: max(d.KeyDivisor, 1), Snaplen: uint32(max(d.Snaplen, 0)),
			Partitioner: d.Partitioner, Partitions: uint32(max(d.Partitions, 0))})
	}
	c, err := rdk.NewProducer(s)
	if err != nil {
		return fmt.Errorf("kafka producer: %w", err)
	}
	p.c = c
	p.events.Add(1)
	go p.pollC()
	return nil
}

// Sink is the C function and argument that produce a burst (a
// dpdk.Sink), or ok false for a producer sending from Go.
func (p *Producer) Sink() (fn, ctx unsafe.Pointer, ok bool) {
	if p.c == nil {
		return nil, nil, false
	}
	fn, ctx = p.c.Sink()
	return fn, ctx, true
}

// SinkCounters reads the C path's counts of the bursts it was given.
func (p *Producer) SinkCounters() SinkCounters {
	p.closeMu.RLock()
	defer p.closeMu.RUnlock()
	return p.c.Bursts()
}

// SetPartitions sets destination d's partition count (C path), before
// the first burst.
func (p *Producer) SetPartitions(d, n int) {
	if p.c != nil {
		p.c.SetPartitions(d, n)
	}
}

// pollC serves the C path's events until Close: delivery reports are
// counted in C; logs, errors and statistics come here. It also says,
// from the C path's counters, what the Go path said as it sent: that a
// broker answered, the last delivery error, a queue that stayed full.
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

// metadataC asks a broker about destination d's topic, as
// Producer.Ready and Partitions need it.
func (p *Producer) metadataC(d int, timeout time.Duration) (partitions int, err error) {
	n, brokers, te := p.c.Metadata(d, timeout)
	topic := p.dests[d].topic
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

// closeC flushes, purges what is left, stops polling and frees the C
// producer; as Close.
func (p *Producer) closeC(timeout time.Duration) (unflushed int) {
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
