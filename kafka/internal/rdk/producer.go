package rdk

/*
#cgo CFLAGS: -I${SRCDIR}/../../../dpdk
#include <stdlib.h>
#include "producer.h"
*/
import "C"

import (
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"
)

// Partitioner chooses a message's partition.
type Partitioner uint8

const (
	PartitionKey        Partitioner = C.FC_RDK_PART_KEY  // librdkafka's partitioner, on the key
	PartitionFlow       Partitioner = C.FC_RDK_PART_FLOW // the packet's flow hash mod Partitions
	PartitionRoundRobin Partitioner = C.FC_RDK_PART_RR   // each in turn, per producer
)

// MaxDests is the most destinations a producer has: one per route, and a
// packet's route mask has 32 bits.
const MaxDests = C.FC_RDK_MAX_DESTS

// Dest is one topic a producer sends to and how.
type Dest struct {
	Topic       string
	Divisor     uint64 // the key is the timestamp in ns / Divisor; 0: 1
	Snaplen     uint32 // longer frames are cut, with an orig_len header; 0: whole
	Partitioner Partitioner
	Partitions  uint32 // for PartitionFlow and PartitionRoundRobin; SetPartitions may set it later
}

// ProducerSpec describes a producer.
type ProducerSpec struct {
	Properties map[string]string // librdkafka properties
	Dests      []Dest
	// Simple: every packet is Dests[0]'s and its route mask is not read.
	Simple bool
	// QueueFullTimeout bounds the wait for room in a full queue before
	// a message is dropped (queue-dropped), and dropping goes on without
	// waiting until a message is taken again.
	QueueFullTimeout time.Duration
	Stats            bool // statistics events (statistics.interval.ms sets how often)
}

// Producer is a librdkafka producer whose packets are produced from C:
// Sink is given, as a dpdk.Sink, to the one goroutine that drains bursts
// into it, and Poll is called in a loop by one other goroutine until the
// producer is destroyed. Counters may be read from any goroutine.
type Producer struct {
	c *C.struct_fc_rdk_producer
	// final holds the counts as Destroy found them: they are read from
	// here afterwards.
	final *snapshot
}

type snapshot struct {
	dests  []DestCounts
	bursts BurstCounts
	health Health
}

// NewProducer creates the librdkafka handle and its topics. It does not
// wait for a broker.
func NewProducer(s ProducerSpec) (*Producer, error) {
	if len(s.Dests) == 0 || len(s.Dests) > MaxDests {
		return nil, fmt.Errorf("rdk: %d destinations (1 to %d)", len(s.Dests), MaxDests)
	}
	var a cArgs
	defer a.free()
	n := len(s.Dests)
	topics := cArray[*C.char](&a, n)
	divisors := cArray[C.uint64_t](&a, n)
	snaplens := cArray[C.uint32_t](&a, n)
	parts := cArray[C.uint8_t](&a, n)
	counts := cArray[C.uint32_t](&a, n)
	for i, d := range s.Dests {
		if d.Partitioner != PartitionKey && d.Partitions == 0 {
			d.Partitions = 1 // until SetPartitions: never a division by 0
		}
		topics[i], divisors[i], snaplens[i] = a.str(d.Topic), C.uint64_t(d.Divisor), C.uint32_t(d.Snaplen)
		parts[i], counts[i] = C.uint8_t(d.Partitioner), C.uint32_t(d.Partitions)
	}
	var cs C.struct_fc_rdk_producer_spec
	cs.keys, cs.values, cs.nprops = a.props(s.Properties)
	cs.topics, cs.divisors, cs.snaplens = &topics[0], &divisors[0], &snaplens[0]
	cs.partitioners, cs.partitions, cs.ndests = &parts[0], &counts[0], C.uint32_t(n)
	cs.qfull_timeout_ns = C.uint64_t(max(s.QueueFullTimeout, 0))
	if s.Simple {
		cs.simple = 1
	}
	if s.Stats {
		cs.stats = 1
	}
	var errstr [512]C.char
	c := C.fc_rdk_producer_new(&cs, &errstr[0], C.size_t(len(errstr)))
	if c == nil {
		return nil, fmt.Errorf("rdk: %s", C.GoString(&errstr[0]))
	}
	return &Producer{c: c}, nil
}

// Sink is the C function and argument a dpdk.Sink is made of.
func (p *Producer) Sink() (fn, ctx unsafe.Pointer) {
	return unsafe.Pointer(C.fc_rdk_sink_fn()), unsafe.Pointer(p.c)
}

// SetPartitions sets destination d's partition count, before the sink
// is used.
func (p *Producer) SetPartitions(d, n int) {
	C.fc_rdk_set_partitions(p.c, C.uint32_t(d), C.uint32_t(n))
}

// EventKind says what an Event is.
type EventKind int

const (
	EventNone EventKind = C.FC_RDK_EV_NONE
	EventLog  EventKind = C.FC_RDK_EV_LOG
	// EventError is a client error (librdkafka retries most itself).
	EventError EventKind = C.FC_RDK_EV_ERROR
	// EventStats is librdkafka's statistics JSON.
	EventStats EventKind = C.FC_RDK_EV_STATS
)

// Event is one of librdkafka's events other than a delivery report.
type Event struct {
	Kind     EventKind
	Code     int    // EventError: the error code
	Fatal    bool   // EventError
	Level    int    // EventLog: syslog level
	Facility string // EventLog
	Text     string // the line, the error's string, or the JSON
}

// Poll serves the producer's events for up to timeout: delivery reports
// are counted in C; the first other event is returned (EventNone if
// none came).
func (p *Producer) Poll(timeout time.Duration) Event {
	var ce C.struct_fc_rdk_event
	C.fc_rdk_poll(p.c, C.int(timeout/time.Millisecond), &ce)
	e := Event{Kind: EventKind(ce._type), Code: int(ce.code), Fatal: ce.fatal != 0, Level: int(ce.level),
		Facility: C.GoString(&ce.fac[0])}
	if ce.str != nil {
		e.Text = C.GoString(ce.str)
		C.free(unsafe.Pointer(ce.str))
	}
	return e
}

// Wake makes a Poll that waits now return at once.
func (p *Producer) Wake() { C.fc_rdk_wake(p.c) }

// Metadata asks a broker about destination d's topic, waiting up to
// timeout. err is the request's error (0: answered), topicErr the
// topic's own (-1: not in the answer).
func (p *Producer) Metadata(d int, timeout time.Duration) (partitions, brokers, topicErr int) {
	var b, te C.int
	n := C.fc_rdk_partitions(p.c, C.uint32_t(d), C.int(timeout/time.Millisecond), &b, &te)
	return int(n), int(b), int(te)
}

// Flush waits up to timeout for every message to be delivered or to
// fail (Poll must be served meanwhile) and returns how many are left.
// Their reports may still wait for Poll: InFlight counts them until
// then.
func (p *Producer) Flush(timeout time.Duration) int {
	return int(C.fc_rdk_flush(p.c, C.int(timeout/time.Millisecond)))
}

// Purge gives up on every message not yet delivered: each comes back as
// a failed delivery report.
func (p *Producer) Purge() error {
	if err := C.fc_rdk_purge(p.c); err != 0 {
		return fmt.Errorf("rdk: purge: %s", ErrName(int(err)))
	}
	return nil
}

// InFlight is the number of messages and reports librdkafka holds.
func (p *Producer) InFlight() int {
	if p.final != nil {
		return 0
	}
	return int(C.rd_kafka_outq_len(p.c.rk))
}

// Destroy frees the producer. Nothing may use it any more but the
// counters, Poll included; nothing may read those while it runs. They
// keep the values they had.
func (p *Producer) Destroy() {
	f := &snapshot{bursts: p.Bursts(), health: p.Health()}
	for d := range int(p.c.ndests) {
		f.dests = append(f.dests, p.Dest(d))
	}
	p.final = f
	C.fc_rdk_producer_destroy(p.c)
	p.c = nil
}

// DestCounts are one destination's counts.
type DestCounts struct {
	Produced, QueueDropped, Bytes, QueueWaits uint64 // the sink's
	Delivered, Failed                         uint64 // delivery reports
}

func load(v *C.uint64_t) uint64 { return atomic.LoadUint64((*uint64)(unsafe.Pointer(v))) }

// Dest reads destination d's counts.
func (p *Producer) Dest(d int) DestCounts {
	if p.final != nil {
		return p.final.dests[d]
	}
	s, r := &p.c.d[d].sent, &p.c.r[d]
	return DestCounts{Produced: load(&s.produced), QueueDropped: load(&s.queue_dropped), Bytes: load(&s.bytes),
		QueueWaits: load(&s.queue_waits), Delivered: load(&r.delivered), Failed: load(&r.failed)}
}

// BurstCounts are what the sink counted of the bursts it was given.
type BurstCounts struct {
	Packets        uint64 // packets given
	Malformed      uint64 // not sent: their segments did not add up
	Bursts         uint64
	Copies         uint64   // route bits of the packets given, summed
	Holding        uint64   // packets of the burst being sent now; 0 between bursts
	RouteMalformed []uint64 // Malformed per destination
}

// Bursts reads the sink's counts.
func (p *Producer) Bursts() BurstCounts {
	if p.final != nil {
		return p.final.bursts
	}
	b := &p.c.b
	c := BurstCounts{Packets: load(&b.packets), Malformed: load(&b.malformed), Bursts: load(&b.bursts),
		Copies: load(&b.copies), Holding: load(&b.holding), RouteMalformed: make([]uint64, p.c.ndests)}
	for i := range c.RouteMalformed {
		c.RouteMalformed[i] = load(&b.route_malformed[i])
	}
	return c
}

// Health is what the producer saw that its owner may want to say.
type Health struct {
	ShedStarts     uint64 // times a full queue outlasted the timeout: dropping began
	Refused        uint64 // messages librdkafka refused for another reason than a full queue
	LastRefusal    int    // the error code of the last of those
	LastReportErr  int    // the last failed delivery's error code
	BrokerAnswered uint64 // successful deliveries so far
}

// Health reads it.
func (p *Producer) Health() Health {
	if p.final != nil {
		return p.final.health
	}
	return Health{ShedStarts: load(&p.c.shed_starts), Refused: load(&p.c.refused),
		LastRefusal:    int(atomic.LoadInt32((*int32)(unsafe.Pointer(&p.c.last_refusal)))),
		LastReportErr:  int(atomic.LoadInt32((*int32)(unsafe.Pointer(&p.c.last_dr_err)))),
		BrokerAnswered: load(&p.c.broker_answers)}
}
