package pipeline

import (
	"runtime"
	"time"

	"github.com/fastcapa-go/fastcapa/dpdk"
	"github.com/fastcapa-go/fastcapa/kafka"
)

// WorkerSpec describes one worker: the ring it drains and the producer it
// feeds.
type WorkerSpec struct {
	ID    int
	Ring  *dpdk.Ring
	Burst int
	// Producer has one destination per route, in the routes' order,
	// and sends each packet once for each route in its mask
	// (dpdk.Packet.Routes), as each route says (snaplen, partitioner).
	Producer *kafka.Producer
	// Register the worker's OS thread with DPDK so bulk frees use a
	// per-lcore mempool cache.
	Register bool
}

// WorkerCounters are a worker's counts, as its producer's sink counted
// them. Dequeued = Malformed + the packets it sent; Copies = the routes'
// Malformed + the messages it handed to librdkafka (which the producer
// counts, per destination, as produced or queue-dropped).
type WorkerCounters struct {
	Dequeued  uint64 // taken from the ring
	Malformed uint64 // mbuf chain shorter than the frame: not sent
	Bursts    uint64 // non-empty dequeues
	// Copies counts each dequeued packet once per route that keeps it.
	Copies uint64
	// RouteMalformed is Malformed per route (a packet counts for each
	// of its routes).
	RouteMalformed []uint64
}

func (c *WorkerCounters) add(o WorkerCounters) {
	c.Dequeued += o.Dequeued
	c.Malformed += o.Malformed
	c.Bursts += o.Bursts
	c.Copies += o.Copies
	if len(c.RouteMalformed) < len(o.RouteMalformed) {
		c.RouteMalformed = append(c.RouteMalformed, make([]uint64, len(o.RouteMalformed)-len(c.RouteMalformed))...)
	}
	for i, n := range o.RouteMalformed {
		c.RouteMalformed[i] += n
	}
}

// Worker moves packets from a ring to Kafka.
type Worker struct {
	spec WorkerSpec
}

// NewWorker prepares a worker; Run runs it.
func NewWorker(spec WorkerSpec) *Worker {
	return &Worker{spec: spec}
}

// Holding is the number of packets in the burst the worker holds now
// (some may already be with the producer): zero once it has exited.
func (w *Worker) Holding() uint64 {
	return w.spec.Producer.SinkCounters().Holding
}

// Counters reads the worker's counts, as of its last burst.
func (w *Worker) Counters() WorkerCounters {
	s := w.spec.Producer.SinkCounters()
	return WorkerCounters{Dequeued: s.Packets, Malformed: s.Malformed, Bursts: s.Bursts, Copies: s.Copies,
		RouteMalformed: s.RouteMalformed}
}

// Run drains the ring into the producer until rxStopped is closed and the
// ring is empty. One cgo call per burst dequeues it, produces each packet
// for each of its routes, counts it all and frees it: librdkafka copied
// what it keeps (see ARCHITECTURE.md, "Who owns a buffer"). No Go runs
// per packet.
func (w *Worker) Run(rxStopped <-chan struct{}) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if w.spec.Register {
		if _, err := dpdk.RegisterThread(); err != nil {
			return err
		}
		defer dpdk.UnregisterThread()
	}
	b, err := dpdk.NewBurst(w.spec.Burst)
	if err != nil {
		return err
	}
	defer b.Close() // frees what it holds
	fn, ctx := w.spec.Producer.Sink()
	sink := dpdk.Sink{Fn: fn, Ctx: ctx}
	for idle := 0; ; {
		if b.Drain(w.spec.Ring, sink) > 0 {
			idle = 0
		} else if w.idle(rxStopped, &idle) {
			return nil
		}
	}
}

// idle follows an empty dequeue: it says whether the worker is done (RX
// stopped and the ring empty), else counts *idle up and backs off.
func (w *Worker) idle(rxStopped <-chan struct{}, idle *int) (done bool) {
	select {
	case <-rxStopped:
		if w.spec.Ring.Count() == 0 {
			return true
		}
	default:
	}
	*idle++
	backoff(*idle)
	return false
}

// backoff waits after the idle-th empty dequeue in a row: a few yields,
// then sleeps growing to 1 ms, so an idle worker leaves the CPU to
// librdkafka while a busy one never sleeps.
func backoff(idle int) {
	switch {
	case idle < 8:
		runtime.Gosched()
	case idle < 64:
		time.Sleep(50 * time.Microsecond)
	case idle < 256:
		time.Sleep(200 * time.Microsecond)
	default:
		time.Sleep(time.Millisecond)
	}
}
