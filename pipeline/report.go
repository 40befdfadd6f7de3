package pipeline

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/fastcapa-go/fastcapa/dpdk"
	"github.com/fastcapa-go/fastcapa/kafka"
)

// Report says where every packet went. Every packet an RX lcore took from
// a device is in exactly one of: Delivered, RingDropped, Malformed,
// QueueDropped, Failed, or still in flight (in a ring, with a worker, or
// in librdkafka) while running.
type Report struct {
	Queues    []dpdk.RxQueueStats
	Ports     []PortReport
	Workers   WorkerCounters
	Kafka     kafka.Counters
	InRings   uint64
	Unflushed int // purged from librdkafka at shutdown (counted in Failed)
	Mempools  []dpdk.MempoolAudit
}

// PortReport is a device's own view: loss before any RX lcore saw the
// packet.
type PortReport struct {
	Name string
	dpdk.PortStats
	Err string
}

// Received is the packets the RX lcores took from the devices.
func (r Report) Received() (n uint64) {
	for _, q := range r.Queues {
		n += q.Packets
	}
	return n
}

// RingDropped is the packets freed because a ring was full.
func (r Report) RingDropped() (n uint64) {
	for _, q := range r.Queues {
		n += q.RingDropped
	}
	return n
}

// NICDropped is the device-side loss: imissed + ierrors + rx_nombuf.
func (r Report) NICDropped() (n uint64) {
	for _, p := range r.Ports {
		n += p.Missed + p.Errors + p.NoMbuf
	}
	return n
}

// InFlight is what is neither delivered nor dropped yet: in a ring, held
// by a worker, or queued in librdkafka. While running, counters are read
// one after another and a worker publishes its own once per burst, so a
// live figure can be off by a burst; it is never below zero.
func (r Report) InFlight() uint64 {
	var enq int64
	for _, q := range r.Queues {
		enq += int64(q.Enqueued)
	}
	w, k := r.Workers, r.Kafka
	inRings := enq - int64(w.Dequeued)
	held := int64(w.Dequeued) - int64(w.Malformed) - int64(k.Produced) - int64(k.QueueDropped)
	pending := int64(k.Produced) - int64(k.Delivered) - int64(k.Failed)
	return uint64(max(inRings+held+pending, 0))
}

// Unaccounted is Received less every category. It is zero when the
// accounting holds (while running, worker counters lag their burst, so
// only a final report is exact).
func (r Report) Unaccounted() int64 {
	return int64(r.Received()) - int64(r.Kafka.Delivered+r.RingDropped()+r.Workers.Malformed+
		r.Kafka.QueueDropped+r.Kafka.Failed+r.InFlight())
}

// Lost is every packet that did not reach Kafka, NIC-side loss included.
func (r Report) Lost() uint64 {
	return r.NICDropped() + r.RingDropped() + r.Workers.Malformed + r.Kafka.QueueDropped + r.Kafka.Failed
}

// Leaked is the mbufs not back in their pools.
func (r Report) Leaked() (n int64) {
	for _, m := range r.Mempools {
		n += m.InUse
	}
	return n
}

// Clean reports whether the capture ended with nothing lost, nothing
// unflushed, nothing unaccounted and every mbuf back in its pool.
func (r Report) Clean() bool {
	leakFree := true
	for _, m := range r.Mempools {
		leakFree = leakFree && m.InUse == 0
	}
	return r.Lost() == 0 && r.Unflushed == 0 && r.Unaccounted() == 0 && r.InFlight() == 0 && leakFree
}

// Report reads every counter now.
func (c *Capture) Report() Report {
	var r Report
	for _, rx := range c.rx {
		r.Queues = append(r.Queues, rx.Stats()...)
	}
	for _, p := range c.ports {
		st, err := p.Stats()
		pr := PortReport{Name: p.Info.Name, PortStats: st}
		if err != nil {
			pr.Err = err.Error()
		}
		r.Ports = append(r.Ports, pr)
	}
	for _, w := range c.workers {
		r.Workers.add(w.Counters())
	}
	for _, p := range c.prods {
		k := p.Counters()
		r.Kafka.Produced += k.Produced
		r.Kafka.QueueDropped += k.QueueDropped
		r.Kafka.Delivered += k.Delivered
		r.Kafka.Failed += k.Failed
		r.Kafka.Bytes += k.Bytes
		r.Kafka.QueueWaits += k.QueueWaits
	}
	for _, ring := range c.rings {
		r.InRings += uint64(ring.Count())
	}
	return r
}

// Log writes the report as one structured line.
func (r Report) Log(log *slog.Logger, msg string) {
	log.Info(msg,
		"received", r.Received(),
		"delivered", r.Kafka.Delivered,
		"ring_dropped", r.RingDropped(),
		"malformed", r.Workers.Malformed,
		"queue_dropped", r.Kafka.QueueDropped,
		"failed", r.Kafka.Failed,
		"in_flight", r.InFlight(),
		"unaccounted", r.Unaccounted(),
		"nic_dropped", r.NICDropped(),
		"unflushed", r.Unflushed,
		"mbufs_leaked", r.Leaked(),
	)
}

// Print writes the report as a table for people.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "%-24s %12s %14s %12s %12s\n", "queue", "rx pkts", "rx bytes", "enqueued", "ring drops")
	for _, q := range r.Queues {
		fmt.Fprintf(w, "%-24s %12d %14d %12d %12d\n", fmt.Sprintf("%s/%d (lcore %d)", q.Port, q.Queue, q.Lcore),
			q.Packets, q.Bytes, q.Enqueued, q.RingDropped)
	}
	fmt.Fprintf(w, "%-24s %12s %12s %12s %12s\n", "port (device counters)", "ipackets", "imissed", "ierrors", "rx_nombuf")
	for _, p := range r.Ports {
		fmt.Fprintf(w, "%-24s %12d %12d %12d %12d\n", p.Name, p.Packets, p.Missed, p.Errors, p.NoMbuf)
	}
	fmt.Fprintf(w, "kafka: produced %d, delivered %d, queue-dropped %d, failed %d (of which unflushed at exit %d)\n",
		r.Kafka.Produced, r.Kafka.Delivered, r.Kafka.QueueDropped, r.Kafka.Failed, r.Unflushed)
	fmt.Fprintf(w, "accounting: received %d = delivered %d + ring-dropped %d + malformed %d + queue-dropped %d + failed %d + in flight %d; unaccounted %d\n",
		r.Received(), r.Kafka.Delivered, r.RingDropped(), r.Workers.Malformed, r.Kafka.QueueDropped, r.Kafka.Failed,
		r.InFlight(), r.Unaccounted())
	for i, m := range r.Mempools {
		fmt.Fprintf(w, "mempool %d: %d mbufs, %d in use after shutdown\n", i, m.Size, m.InUse)
	}
}
