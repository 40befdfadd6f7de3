package pipeline

import (
	"runtime"
	"sync/atomic"
	"time"

	"github.com/fastcapa-go/fastcapa/dpdk"
	"github.com/fastcapa-go/fastcapa/kafka"
)

// WorkerSpec describes one worker: the ring it drains and the producer it
// feeds.
type WorkerSpec struct {
	ID       int
	Ring     *dpdk.Ring
	Burst    int
	Producer *kafka.Producer
	// Snaplen, if above 0, cuts each frame longer than it to its first
	// Snaplen bytes; the frame's wire length goes with it (the orig_len
	// header, kafka.Producer.ProduceOrigLen).
	Snaplen int
	// Register the worker's OS thread with DPDK so bulk frees use a
	// per-lcore mempool cache.
	Register bool
}

// WorkerCounters are a worker's counts. Dequeued = Malformed + the
// packets it handed to Produce (which the producer counts as produced or
// queue-dropped).
type WorkerCounters struct {
	Dequeued  uint64 // taken from the ring
	Malformed uint64 // mbuf chain shorter than the frame: not sent
	Bursts    uint64 // non-empty dequeues
}

func (c *WorkerCounters) add(o WorkerCounters) {
	c.Dequeued += o.Dequeued
	c.Malformed += o.Malformed
	c.Bursts += o.Bursts
}

// Worker moves packets from a ring to Kafka.
type Worker struct {
	spec      WorkerSpec
	dequeued  atomic.Uint64
	malformed atomic.Uint64
	bursts    atomic.Uint64
	holding   atomic.Uint64 // packets in the burst it holds
	lcore     int
}

// NewWorker prepares a worker; Run runs it.
func NewWorker(spec WorkerSpec) *Worker { return &Worker{spec: spec, lcore: -1} }

// Holding is the number of packets in the burst the worker holds now
// (some may already be with the producer): zero once it has exited.
func (w *Worker) Holding() uint64 { return w.holding.Load() }

// Counters reads the worker's counts, as of its last burst.
func (w *Worker) Counters() WorkerCounters {
	return WorkerCounters{Dequeued: w.dequeued.Load(), Malformed: w.malformed.Load(), Bursts: w.bursts.Load()}
}

// Run drains the ring into the producer until rxStopped is closed and the
// ring is empty. Each burst costs one cgo call (free the previous, dequeue
// the next); each packet one Produce, which copies it, so the mbuf is
// freed only after librdkafka has its own copy. The worker's counts and
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

	var local WorkerCounters
	var scratch []byte
	idle, held := 0, 0
	for {
		n := b.Cycle(w.spec.Ring)
		if n != held {
			held = n
			w.holding.Store(uint64(n))
		}
		if n == 0 {
			select {
			case <-rxStopped:
				if w.spec.Ring.Count() == 0 {
					return nil
				}
			default:
			}
			idle++
			backoff(idle)
			continue
		}
		idle = 0
		for i := 0; i < n; i++ {
			p := b.Packet(i)
			data := p.Data
			if p.Segments > 1 || p.Malformed {
				if p.Malformed {
					local.Malformed++
					continue
				}
				if cap(scratch) < p.Len {
					scratch = make([]byte, p.Len)
				}
				if data, err = b.Copy(i, scratch[:cap(scratch)]); err != nil {
					local.Malformed++
					continue
				}
			}
			// An error is counted by the producer as queue-dropped.
			if sl := w.spec.Snaplen; sl > 0 && len(data) > sl {
				_ = w.spec.Producer.ProduceOrigLen(p.Timestamp, data[:sl], uint32(len(data)))
			} else {
				_ = w.spec.Producer.Produce(p.Timestamp, data)
			}
		}
		local.Dequeued += uint64(n)
		local.Bursts++
		w.spec.Producer.Publish()
		w.dequeued.Store(local.Dequeued)
		w.malformed.Store(local.Malformed)
		w.bursts.Store(local.Bursts)
	}
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
