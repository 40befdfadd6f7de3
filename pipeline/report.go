package pipeline

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/fastcapa-go/fastcapa/dpdk"
	"github.com/fastcapa-go/fastcapa/kafka"
)

// Report says where every packet went. Every packet an RX lcore took from
// a device is in exactly one of: Delivered, Filtered (rejected by the
// capture filter), RingDropped, Malformed, QueueDropped, Failed, or still
// in flight while running.
//
// The in-flight figures are measured where the packets are (ring counts,
// the bursts workers hold, librdkafka's queue length), not derived from
// the other counters, so a packet that vanished without being counted
// shows as Unaccounted. Live, those are read one after another while
// packets move, so a live report can be off by a few bursts; the final
// report, taken when every stage has stopped, is exact.
type Report struct {
	Queues    []dpdk.RxQueueStats
	Ports     []PortReport
	Workers   WorkerCounters
	Kafka     kafka.Counters
	InRings   uint64 // in rings now (rte_ring_count)
	InHand    uint64 // in the bursts workers hold now
	InKafka   uint64 // in librdkafka's queues now
	Unflushed int    // purged from librdkafka at shutdown (counted in Failed)
	Mempools  []dpdk.MempoolAudit

	// The same, per ring and per worker, for metrics.
	Rings       []RingReport
	WorkerStats []WorkerReport
}

// RingReport is one RX lcore's ring now.
type RingReport struct {
	Lcore    uint
	Count    uint64
	Capacity uint64
}

// WorkerReport is one worker and its producer.
type WorkerReport struct {
	ID      int
	Lcore   uint // the RX lcore whose ring it drains
	Worker  WorkerCounters
	Kafka   kafka.Counters
	InKafka uint64
	Brokers []kafka.BrokerStats
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

// Filtered is the packets the capture filter rejected, freed by the RX
// lcores before their rings.
func (r Report) Filtered() (n uint64) {
	for _, q := range r.Queues {
		n += q.Filtered
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

// NICDropped is the device-side loss: imissed + ierrors + rx_nombuf, and
// on net_af_packet ports the kernel's drops on the packet sockets.
func (r Report) NICDropped() (n uint64) {
	for _, p := range r.Ports {
		n += p.Missed + p.Errors + p.NoMbuf + p.KernelDrops
	}
	return n
}

// InFlight is what is neither delivered nor dropped yet: in a ring, in a
// worker's hands, or queued in librdkafka.
func (r Report) InFlight() uint64 { return r.InRings + r.InHand + r.InKafka }

// Unaccounted is Received less every category and what is in flight. In a
// final report it is zero unless a packet went missing uncounted (or was
// counted twice: then it is negative).
func (r Report) Unaccounted() int64 {
	return int64(r.Received()) - int64(r.Kafka.Delivered+r.Filtered()+r.RingDropped()+r.Workers.Malformed+
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
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.final != nil {
		return *c.final
	}
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
	for i, w := range c.workers {
		p := c.prods[i]
		wr := WorkerReport{ID: w.spec.ID, Lcore: c.ringLcore[w.spec.Ring], Worker: w.Counters(),
			Kafka: p.Counters(), InKafka: uint64(p.InFlight()), Brokers: p.Brokers()}
		r.WorkerStats = append(r.WorkerStats, wr)
		r.Workers.add(wr.Worker)
		r.InHand += w.Holding()
		k := wr.Kafka
		r.Kafka.Produced += k.Produced
		r.Kafka.QueueDropped += k.QueueDropped
		r.Kafka.Delivered += k.Delivered
		r.Kafka.Failed += k.Failed
		r.Kafka.Bytes += k.Bytes
		r.Kafka.QueueWaits += k.QueueWaits
		r.InKafka += wr.InKafka
	}
	for _, ring := range c.rings {
		rr := RingReport{Lcore: c.ringLcore[ring], Count: uint64(ring.Count()), Capacity: uint64(ring.Capacity())}
		r.Rings = append(r.Rings, rr)
		r.InRings += rr.Count
	}
	return r
}

// Log writes a final report as one structured line.
func (r Report) Log(log *slog.Logger, msg string) {
	log.Info(msg, r.attrs()...)
}

// LogLive writes a report taken while running. It leaves out
// unaccounted, which only a final report gives exactly.
func (r Report) LogLive(log *slog.Logger, msg string) {
	a := r.attrs()
	for i := 0; i < len(a); i += 2 {
		if a[i] == "unaccounted" {
			a = append(a[:i], a[i+2:]...)
			break
		}
	}
	log.Info(msg, a...)
}

func (r Report) attrs() []any {
	return []any{
		"received", r.Received(),
		"delivered", r.Kafka.Delivered,
		"filtered", r.Filtered(),
		"ring_dropped", r.RingDropped(),
		"malformed", r.Workers.Malformed,
		"queue_dropped", r.Kafka.QueueDropped,
		"failed", r.Kafka.Failed,
		"in_flight", r.InFlight(),
		"unaccounted", r.Unaccounted(),
		"nic_dropped", r.NICDropped(),
		"unflushed", r.Unflushed,
		"mbufs_leaked", r.Leaked(),
	}
}

// Table writes the summary fastcapa users know: per stage, packets in,
// queued in it now, out to the next stage, and dropped there.
//
//	[nic] the devices: in = ipackets, out = taken by RX lcores, drops = imissed + ierrors + rx_nombuf + kernel drops (net_af_packet)
//	[rx]  RX lcores and rings: queued = in rings, out = taken by workers, filtered = rejected by the capture filter, drops = ring full
//	[tx]  workers: queued = in their bursts, out = handed to librdkafka, drops = malformed + queue-dropped
//	[kaf] librdkafka: queued = not yet acknowledged, out = delivered, drops = failed
func (r Report) Table(w io.Writer) {
	var nicIn uint64
	for _, p := range r.Ports {
		nicIn += p.Packets
	}
	fmt.Fprintf(w, "      %14s %14s %14s %14s %14s\n", "in", "queued", "out", "filtered", "drops")
	row := func(name string, in, queued, out, filtered, drops uint64) {
		fmt.Fprintf(w, "%-5s %14d %14d %14d %14d %14d\n", name, in, queued, out, filtered, drops)
	}
	row("[nic]", nicIn, 0, r.Received(), 0, r.NICDropped())
	row("[rx]", r.Received(), r.InRings, r.Workers.Dequeued, r.Filtered(), r.RingDropped())
	row("[tx]", r.Workers.Dequeued, r.InHand, r.Kafka.Produced, 0, r.Workers.Malformed+r.Kafka.QueueDropped)
	row("[kaf]", r.Kafka.Produced, r.InKafka, r.Kafka.Delivered, 0, r.Kafka.Failed)
}

// Print writes the final report for people: the stage table, then per
// queue and per port detail and the accounting.
func (r Report) Print(w io.Writer) {
	r.Table(w)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-24s %12s %14s %12s %12s %12s\n", "queue", "rx pkts", "rx bytes", "filtered", "enqueued", "ring drops")
	for _, q := range r.Queues {
		fmt.Fprintf(w, "%-24s %12d %14d %12d %12d %12d\n", fmt.Sprintf("%s/%d (lcore %d)", q.Port, q.Queue, q.Lcore),
			q.Packets, q.Bytes, q.Filtered, q.Enqueued, q.RingDropped)
	}
	fmt.Fprintf(w, "%-24s %12s %12s %12s %12s %12s\n", "port (device counters)", "ipackets", "imissed", "ierrors", "rx_nombuf",
		"kernel drops")
	for _, p := range r.Ports {
		fmt.Fprintf(w, "%-24s %12d %12d %12d %12d %12d\n", p.Name, p.Packets, p.Missed, p.Errors, p.NoMbuf, p.KernelDrops)
	}
	fmt.Fprintf(w, "kafka: produced %d, delivered %d, queue-dropped %d, failed %d (of which unflushed at exit %d)\n",
		r.Kafka.Produced, r.Kafka.Delivered, r.Kafka.QueueDropped, r.Kafka.Failed, r.Unflushed)
	fmt.Fprintf(w, "accounting: received %d = delivered %d + filtered %d + ring-dropped %d + malformed %d + queue-dropped %d + failed %d + in flight %d; unaccounted %d\n",
		r.Received(), r.Kafka.Delivered, r.Filtered(), r.RingDropped(), r.Workers.Malformed, r.Kafka.QueueDropped, r.Kafka.Failed,
		r.InFlight(), r.Unaccounted())
	for i, m := range r.Mempools {
		fmt.Fprintf(w, "mempool %d: %d mbufs, %d in use after shutdown\n", i, m.Size, m.InUse)
	}
}
