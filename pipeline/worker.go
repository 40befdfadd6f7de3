package pipeline

import (
	"math/bits"
	"runtime"
	"sync/atomic"
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
	// Producer has one destination per route, in Routes' order.
	Producer *kafka.Producer
	// Routes say how each route's packets are sent: snaplen (a frame
	// longer than it is cut and its wire length sent in the orig_len
	// header) and partitioner. A packet is sent once for each route in
	// its mask (dpdk.Packet.Routes).
	Routes []RouteSpec
	// Simple: every packet is route 0's (dpdk.Routes.Simple); the
	// packets carry no mask. No Routes: one route, Simple.
	Simple bool
	// Register the worker's OS thread with DPDK so bulk frees use a
	// per-lcore mempool cache.
	Register bool
}

// WorkerCounters are a worker's counts. Dequeued = Malformed + the
// packets it sent; Copies = the routes' Malformed + the messages it
// handed to Send (which the producer counts, per destination, as
// produced or queue-dropped).
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
	spec      WorkerSpec
	dequeued  atomic.Uint64
	malformed atomic.Uint64
	bursts    atomic.Uint64
	copies    atomic.Uint64
	routeMal  []atomic.Uint64
	holding   atomic.Uint64 // packets in the burst it holds
	lcore     int
}

// NewWorker prepares a worker; Run runs it.
func NewWorker(spec WorkerSpec) *Worker {
	if len(spec.Routes) == 0 { // one route, every packet: the producer's first destination
		spec.Routes, spec.Simple = []RouteSpec{{}}, true
	}
	return &Worker{spec: spec, lcore: -1, routeMal: make([]atomic.Uint64, len(spec.Routes))}
}

// Holding is the number of packets in the burst the worker holds now
// (some may already be with the producer): zero once it has exited.
func (w *Worker) Holding() uint64 {
	if _, _, fromC := w.spec.Producer.Sink(); fromC {
		return w.spec.Producer.SinkCounters().Holding
	}
	return w.holding.Load()
}

// Counters reads the worker's counts, as of its last burst.
func (w *Worker) Counters() WorkerCounters {
	if _, _, fromC := w.spec.Producer.Sink(); fromC {
		s := w.spec.Producer.SinkCounters()
		return WorkerCounters{Dequeued: s.Packets, Malformed: s.Malformed, Bursts: s.Bursts, Copies: s.Copies,
			RouteMalformed: s.RouteMalformed}
	}
	c := WorkerCounters{Dequeued: w.dequeued.Load(), Malformed: w.malformed.Load(), Bursts: w.bursts.Load(),
		Copies: w.copies.Load(), RouteMalformed: make([]uint64, len(w.routeMal))}
	for i := range w.routeMal {
		c.RouteMalformed[i] = w.routeMal[i].Load()
	}
	return c
}

// Run drains the ring into the producer until rxStopped is closed and the
// ring is empty. Each burst costs one cgo call (free the previous, dequeue
// the next); each packet one Send per route that keeps it, which copies
// it, so the mbuf is freed only after librdkafka has its own copy. The worker's counts and
// the producer's (Producer.Publish) are published once per burst.
func (w *Worker) Run(rxStopped <-chan struct{}) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if w.spec.Register {
		l, err := dpdk.RegisterThread()
		if err != nil {
			return err
		}
		w.lcore = int(l)
		defer dpdk.UnregisterThread()
	}
	b, err := dpdk.NewBurst(w.spec.Burst)
	if err != nil {
		return err
	}
	defer func() {
		b.Close() // frees what it holds
		w.holding.Store(0)
	}()
	if fn, ctx, fromC := w.spec.Producer.Sink(); fromC {
		w.drain(b, dpdk.Sink{Fn: fn, Ctx: ctx}, rxStopped)
		return nil
	}

	local := WorkerCounters{RouteMalformed: make([]uint64, len(w.spec.Routes))}
	rr := make([]uint32, len(w.spec.Routes)) // round-robin positions
	var scratch []byte
	idle, held := 0, 0
	for {
		n := b.Cycle(w.spec.Ring)
		if n != held {
			held = n
			w.holding.Store(uint64(n))
		}
		if n == 0 {
			if w.idle(rxStopped, &idle) {
				return nil
			}
			continue
		}
		idle = 0
		for i := 0; i < n; i++ {
			p := b.Packet(i)
			routes := uint32(1)
			if !w.spec.Simple {
				routes = p.Routes
			}
			local.Copies += uint64(bits.OnesCount32(routes))
			data := p.Data
			if p.Segments > 1 || p.Malformed {
				if !p.Malformed {
					if cap(scratch) < p.Len {
						scratch = make([]byte, p.Len)
					}
					data, err = b.Copy(i, scratch[:cap(scratch)])
				}
				if p.Malformed || err != nil {
					local.Malformed++
					for m := routes; m != 0; m &= m - 1 {
						local.RouteMalformed[bits.TrailingZeros32(m)]++
					}
					continue
				}
			}
			for m := routes; m != 0; m &= m - 1 {
				r := bits.TrailingZeros32(m)
				rt := &w.spec.Routes[r]
				value, orig := data, uint32(0)
				if rt.Snaplen > 0 && len(data) > rt.Snaplen {
					value, orig = data[:rt.Snaplen], uint32(len(data))
				}
				part := kafka.PartitionAny
				switch rt.Partitioner {
				case PartitionFlow:
					part = int32(p.FlowHash % uint32(rt.Partitions))
				case PartitionRoundRobin:
					part = int32(rr[r] % uint32(rt.Partitions))
					rr[r]++
				}
				// An error is counted by the producer as queue-dropped.
				_ = w.spec.Producer.Send(r, p.Timestamp, value, orig, part)
			}
		}
		local.Dequeued += uint64(n)
		local.Bursts++
		w.spec.Producer.Publish()
		w.dequeued.Store(local.Dequeued)
		w.malformed.Store(local.Malformed)
		w.bursts.Store(local.Bursts)
		w.copies.Store(local.Copies)
		for r, v := range local.RouteMalformed {
			w.routeMal[r].Store(v)
		}
	}
}

// drain is Run for a producer FromC: one cgo call per burst dequeues it,
// produces each packet for each of its routes, counts it all and frees
// it (librdkafka copied what it keeps). No Go per packet.
func (w *Worker) drain(b *dpdk.Burst, sink dpdk.Sink, rxStopped <-chan struct{}) {
	for idle := 0; ; {
		if b.Drain(w.spec.Ring, sink) > 0 {
			idle = 0
		} else if w.idle(rxStopped, &idle) {
			return
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
