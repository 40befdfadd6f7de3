package pipeline

import (
	"fmt"
	"io"
	"log/slog"
	"syscall"
	"time"

	"github.com/fastcapa-go/fastcapa/dpdk"
	"github.com/fastcapa-go/fastcapa/kafka"
)

// Report says where every packet went. Every packet an RX lcore took from
// a device is offered to every route, and for each route it is in
// exactly one of: Delivered, Filtered (the route's filter did not match),
// Sampled (the route's sampling did not keep it), RingDropped, Malformed,
// QueueDropped, Failed, or still in flight while running (RouteReport).
// With one route, that is every packet in exactly one.
//
// The in-flight figures are measured where the packets are (ring counts,
// the bursts workers hold, librdkafka's queue length), not derived from
// the other counters, so a packet that vanished without being counted
// shows as Unaccounted. Live, those are read one after another while
// packets move, so a live report can be off by a few bursts; the final
// report, taken when every stage has stopped, is exact.
type Report struct {
	Queues    []dpdk.RxQueueStats
	Lcores    []dpdk.LcoreStats // each RX lcore's polls and sleeps
	Ports     []PortReport
	Workers   WorkerCounters
	Kafka     kafka.Counters
	InRings   uint64 // in rings now (rte_ring_count)
	InHand    uint64 // in the bursts workers hold now
	InKafka   uint64 // in librdkafka's queues now
	Unflushed int    // purged from librdkafka at shutdown (counted in Failed)
	// CPU is the process's user + system CPU time, in the final report:
	// what the whole run cost (CPU per delivered packet in make bench).
	CPU      time.Duration
	Mempools []dpdk.MempoolAudit

	// Routes are the counts of each route, in the spec's order.
	Routes []RouteReport
	// Outputs are the counts of each output, summed over the RX lcores,
	// in the spec's order.
	Outputs []OutputReport

	// The same, per ring and per worker, for metrics.
	Rings       []RingReport
	WorkerStats []WorkerReport
}

// RouteReport is where the packets offered to one route went: Received
// (every packet received is offered to every route) = Filtered + Sampled
// + RingDropped + Released + Malformed + Kafka.QueueDropped +
// Kafka.Delivered + Kafka.Failed + in flight.
type RouteReport struct {
	Name, Topic string
	Received    uint64
	Filtered    uint64 // the route's filter did not match
	Sampled     uint64 // matched; the route's sampling did not keep it
	RingDropped uint64
	// Released is what the route kept without Kafka (Spec.NoKafka): sent
	// to the outputs, then freed.
	Released  uint64
	Malformed uint64
	Kafka     kafka.Counters // the route's messages
}

// Counted is the packets the route's counters place: all but those in
// flight.
func (r RouteReport) Counted() uint64 {
	return r.Filtered + r.Sampled + r.RingDropped + r.Released + r.Malformed + r.Kafka.QueueDropped + r.Kafka.Delivered + r.Kafka.Failed
}

// OutputReport is one output's counts and its port.
type OutputReport struct {
	dpdk.OutputStats
	Port string
}

// OutputDropped is what the outputs were offered and did not send (but
// for what was not their VLAN).
func (r Report) OutputDropped() (n uint64) {
	for _, o := range r.Outputs {
		n += o.Dropped()
	}
	return n
}

// TunnelDropped is what tunnel receivers freed before the routes saw
// it: not their tunnel's, a wrong key, malformed.
func (r Report) TunnelDropped() (n uint64) {
	for _, q := range r.Queues {
		n += q.Tunnel.Dropped()
	}
	return n
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

// Filtered is the packets no route's filter matched, freed by the RX
// lcores before their rings.
func (r Report) Filtered() (n uint64) {
	for _, q := range r.Queues {
		n += q.Filtered
	}
	return n
}

// Sampled is the packets a route's filter matched that no route's
// sampling kept, freed by the RX lcores before their rings.
func (r Report) Sampled() (n uint64) {
	for _, q := range r.Queues {
		n += q.Sampled
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

// Released is the packets kept without Kafka (Spec.NoKafka): sent to the
// outputs, then freed.
func (r Report) Released() (n uint64) {
	for _, q := range r.Queues {
		n += q.Released
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

// Unaccounted is, summed over the routes, Received less every category,
// less what is in flight: the copies in rings (enqueued less dequeued,
// while rte_ring_count says the rings hold any), in workers' hands
// (dequeued less handed on, while a worker holds a burst) and in
// librdkafka. In a final report, where every stage is measured empty, it
// is zero unless a packet went missing uncounted (or was counted twice:
// then it is negative). With one route it is the packets' own balance.
func (r Report) Unaccounted() int64 {
	var n int64
	for _, rt := range r.Routes {
		n += int64(rt.Received) - int64(rt.Counted())
	}
	return n - int64(r.inFlightCopies())
}

// inFlightCopies is what Unaccounted takes as in flight: messages, one
// per route of each packet.
func (r Report) inFlightCopies() uint64 {
	var enq uint64
	for _, q := range r.Queues {
		enq += q.Copies
	}
	var n uint64
	if r.InRings > 0 {
		n += enq - r.Workers.Copies
	}
	if r.InHand > 0 {
		handed := uint64(0)
		for _, rt := range r.Routes {
			handed += rt.Malformed + rt.Kafka.Produced + rt.Kafka.QueueDropped
		}
		n += r.Workers.Copies - handed
	}
	return n + r.InKafka
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
	return r.Lost() == 0 && r.OutputDropped() == 0 && r.Unflushed == 0 && r.Unaccounted() == 0 && r.InFlight() == 0 && leakFree
}

// Report reads every counter now.
func (c *Capture) Report() Report {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.final != nil {
		return *c.final
	}
	var r Report
	routeKafka := make([]kafka.Counters, len(c.spec.Routes))
	for _, o := range c.spec.Outputs {
		r.Outputs = append(r.Outputs, OutputReport{OutputStats: dpdk.OutputStats{Name: o.Name}, Port: o.PortName})
	}
	for _, rx := range c.rx {
		r.Queues = append(r.Queues, rx.Stats()...)
		r.Lcores = append(r.Lcores, rx.LcoreStats())
		for i, s := range rx.OutputStats() {
			r.Outputs[i].Add(s)
		}
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
		r.Kafka.Add(wr.Kafka)
		r.InKafka += wr.InKafka
		for j, k := range p.DestinationCounters() {
			routeKafka[j].Add(k)
		}
	}
	// what a tunnel receiver freed never reached the routes
	received := r.Received() - r.TunnelDropped()
	for j, rs := range c.spec.Routes {
		rr := RouteReport{Name: rs.Name, Topic: rs.Topic, Received: received, Kafka: routeKafka[j]}
		for _, q := range r.Queues {
			rr.Filtered += q.Routes[j].Filtered
			rr.Sampled += q.Routes[j].Sampled
			rr.RingDropped += q.Routes[j].RingDropped
			rr.Released += q.Routes[j].Released
		}
		if j < len(r.Workers.RouteMalformed) {
			rr.Malformed = r.Workers.RouteMalformed[j]
		}
		r.Routes = append(r.Routes, rr)
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
		"sampled", r.Sampled(),
		"ring_dropped", r.RingDropped(),
		"released", r.Released(),
		"malformed", r.Workers.Malformed,
		"queue_dropped", r.Kafka.QueueDropped,
		"failed", r.Kafka.Failed,
		"in_flight", r.InFlight(),
		"unaccounted", r.Unaccounted(),
		"nic_dropped", r.NICDropped(),
		"tunnel_dropped", r.TunnelDropped(),
		"unflushed", r.Unflushed,
		"mbufs_leaked", r.Leaked(),
		"cpu_ms", r.CPU.Milliseconds(),
		"routes", r.routeLogs(),
		"outputs", r.outputLogs(),
	}
}

// outputLog is an output's counts in the log's structured lines.
type outputLog struct {
	Output    string `json:"output"`
	Port      string `json:"port"`
	Offered   uint64 `json:"offered"`
	Sent      uint64 `json:"sent"`
	Bytes     uint64 `json:"bytes"`
	Truncated uint64 `json:"truncated"`
	Skipped   uint64 `json:"skipped"`
	TooBig    uint64 `json:"too_big"`
	NoMbuf    uint64 `json:"no_mbuf"`
	QueueFull uint64 `json:"queue_full"`
	Malformed uint64 `json:"malformed"`
}

func (r Report) outputLogs() []outputLog {
	out := make([]outputLog, len(r.Outputs))
	for i, o := range r.Outputs {
		out[i] = outputLog{Output: o.Name, Port: o.Port, Offered: o.Offered, Sent: o.Sent, Bytes: o.Bytes, Truncated: o.Truncated,
			Skipped: o.Skipped, TooBig: o.TooBig, NoMbuf: o.NoMbuf, QueueFull: o.QueueFull, Malformed: o.Malformed}
	}
	return out
}

func (r Report) tunnelDecapsulated() (n uint64) {
	for _, q := range r.Queues {
		n += q.Tunnel.Decapsulated
	}
	return n
}

// processCPU is this process's user + system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// routeLog is a route's counts in the log's structured lines.
type routeLog struct {
	Route        string `json:"route"`
	Topic        string `json:"topic"`
	Received     uint64 `json:"received"`
	Delivered    uint64 `json:"delivered"`
	Filtered     uint64 `json:"filtered"`
	Sampled      uint64 `json:"sampled"`
	RingDropped  uint64 `json:"ring_dropped"`
	Released     uint64 `json:"released"`
	Malformed    uint64 `json:"malformed"`
	QueueDropped uint64 `json:"queue_dropped"`
	Failed       uint64 `json:"failed"`
	InFlight     int64  `json:"in_flight"`
}

func (r Report) routeLogs() []routeLog {
	out := make([]routeLog, len(r.Routes))
	for i, rt := range r.Routes {
		out[i] = routeLog{Route: rt.Name, Topic: rt.Topic, Received: rt.Received, Delivered: rt.Kafka.Delivered,
			Filtered: rt.Filtered, Sampled: rt.Sampled, RingDropped: rt.RingDropped, Released: rt.Released,
			Malformed: rt.Malformed, QueueDropped: rt.Kafka.QueueDropped, Failed: rt.Kafka.Failed, InFlight: int64(rt.Received) - int64(rt.Counted())}
	}
	return out
}

// Table writes the summary fastcapa users know: per stage, packets in,
// queued in it now, out to the next stage, and dropped there.
//
//	[nic] the devices: in = ipackets, out = taken by RX lcores, drops = imissed + ierrors + rx_nombuf + kernel drops (net_af_packet)
//	[rx]  RX lcores and rings: queued = in rings, out = taken by workers (or, without Kafka, released after the outputs), filtered = kept by no route (filters, sampling), drops = ring full
//	[tx]  workers: in = messages to send (a packet once per route keeping it), queued = packets in their bursts, out = handed to librdkafka, drops = malformed + queue-dropped
//	[kaf] librdkafka: queued = not yet acknowledged, out = delivered, drops = failed
//
// With several routes, or sampling, a row per route follows.
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
	row("[rx]", r.Received(), r.InRings, r.Workers.Dequeued+r.Released(), r.Filtered()+r.Sampled(), r.RingDropped())
	var malformed uint64
	for _, rt := range r.Routes {
		malformed += rt.Malformed
	}
	row("[tx]", r.Workers.Copies, r.InHand, r.Kafka.Produced, 0, malformed+r.Kafka.QueueDropped)
	row("[kaf]", r.Kafka.Produced, r.InKafka, r.Kafka.Delivered, 0, r.Kafka.Failed)
	if len(r.Routes) > 1 || r.Sampled() > 0 {
		r.routeTable(w)
	}
	if len(r.Outputs) > 0 {
		r.outputTable(w)
	}
}

// outputTable writes a row per output: what its routes gave it, what it
// sent (and of that, cut to its MTU), what was not its VLAN, and its
// drops by reason.
func (r Report) outputTable(w io.Writer) {
	fmt.Fprintf(w, "\n%-16s %-16s %12s %12s %12s %12s %12s %12s %12s %12s\n", "output", "port", "offered", "sent", "truncated",
		"skipped", "too big", "no mbuf", "queue full", "malformed")
	for _, o := range r.Outputs {
		fmt.Fprintf(w, "%-16s %-16s %12d %12d %12d %12d %12d %12d %12d %12d\n", o.Name, o.Port, o.Offered, o.Sent, o.Truncated,
			o.Skipped, o.TooBig, o.NoMbuf, o.QueueFull, o.Malformed)
	}
}

// routeTable writes a row per route: what it was offered, what it let
// go (filtered, sampled), lost (ring, malformed, queue, failed) and
// delivered.
func (r Report) routeTable(w io.Writer) {
	fmt.Fprintf(w, "\n%-16s %-16s %12s %12s %12s %12s %12s %12s\n", "route", "topic", "received", "filtered", "sampled",
		"delivered", "drops", "in flight")
	for _, rt := range r.Routes {
		drops := rt.RingDropped + rt.Malformed + rt.Kafka.QueueDropped + rt.Kafka.Failed
		fmt.Fprintf(w, "%-16s %-16s %12d %12d %12d %12d %12d %12d\n", rt.Name, rt.Topic, rt.Received, rt.Filtered,
			rt.Sampled, rt.Kafka.Delivered, drops, int64(rt.Received)-int64(rt.Counted()))
	}
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
	if t := r.TunnelDropped(); t > 0 || r.tunnelDecapsulated() > 0 {
		fmt.Fprintf(w, "%-24s %12s %12s %12s %12s\n", "tunnel receiver", "decapsulated", "other", "wrong key", "malformed")
		for _, q := range r.Queues {
			fmt.Fprintf(w, "%-24s %12d %12d %12d %12d\n", fmt.Sprintf("%s/%d", q.Port, q.Queue), q.Tunnel.Decapsulated,
				q.Tunnel.Other, q.Tunnel.WrongKey, q.Tunnel.Malformed)
		}
	}
	fmt.Fprintf(w, "%-24s %12s %12s %12s %12s %12s %12s %12s\n", "port (device counters)", "ipackets", "imissed", "ierrors", "rx_nombuf",
		"kernel drops", "opackets", "oerrors")
	for _, p := range r.Ports {
		fmt.Fprintf(w, "%-24s %12d %12d %12d %12d %12d %12d %12d\n", p.Name, p.Packets, p.Missed, p.Errors, p.NoMbuf, p.KernelDrops,
			p.OPackets, p.OErrors)
	}
	fmt.Fprintf(w, "kafka: produced %d, delivered %d, queue-dropped %d, failed %d (of which unflushed at exit %d)\n",
		r.Kafka.Produced, r.Kafka.Delivered, r.Kafka.QueueDropped, r.Kafka.Failed, r.Unflushed)
	if len(r.Routes) == 1 {
		rt := r.Routes[0]
		fmt.Fprintf(w, "accounting: received %d = delivered %d + filtered %d + sampled %d + ring-dropped %d + released %d + malformed %d + queue-dropped %d + failed %d + in flight %d; unaccounted %d\n",
			rt.Received, rt.Kafka.Delivered, rt.Filtered, rt.Sampled, rt.RingDropped, rt.Released, rt.Malformed,
			rt.Kafka.QueueDropped, rt.Kafka.Failed, r.InFlight(), r.Unaccounted())
		r.printMempools(w)
		return
	}
	for _, rt := range r.Routes {
		fmt.Fprintf(w, "accounting, route %s: received %d = delivered %d + filtered %d + sampled %d + ring-dropped %d + released %d + malformed %d + queue-dropped %d + failed %d + in flight %d\n",
			rt.Name, rt.Received, rt.Kafka.Delivered, rt.Filtered, rt.Sampled, rt.RingDropped, rt.Released, rt.Malformed,
			rt.Kafka.QueueDropped, rt.Kafka.Failed, int64(rt.Received)-int64(rt.Counted()))
	}
	fmt.Fprintf(w, "accounting: unaccounted %d\n", r.Unaccounted())
	r.printMempools(w)
}

func (r Report) printMempools(w io.Writer) {
	for i, m := range r.Mempools {
		fmt.Fprintf(w, "mempool %d: %d mbufs, %d in use after shutdown\n", i, m.Size, m.InUse)
	}
}

// rate is one input's or output's traffic per second between two
// reports: fluxcap -io's view.
type rate struct {
	Name    string  `json:"name"`
	Pps     float64 `json:"pps"`
	Mbps    float64 `json:"mbps"`
	DropPps float64 `json:"drop_pps"`
}

// LogRates writes, per input port and per output, packets, megabits and
// drops per second since prev, taken dt earlier: for an input, what its
// queues took and what was lost on the way (the device, the kernel, full
// rings); for an output, what it sent and what it dropped.
func (r Report) LogRates(log *slog.Logger, prev Report, dt time.Duration) {
	s := dt.Seconds()
	if s <= 0 {
		return
	}
	per := func(a, b uint64) float64 { return float64(a-b) / s }
	type in struct{ pkts, bytes, drops uint64 }
	sum := func(rep Report) map[string]*in {
		m := map[string]*in{}
		for _, q := range rep.Queues {
			if m[q.Port] == nil {
				m[q.Port] = &in{}
			}
			m[q.Port].pkts += q.Packets
			m[q.Port].bytes += q.Bytes
			m[q.Port].drops += q.RingDropped
		}
		for _, p := range rep.Ports {
			if m[p.Name] != nil {
				m[p.Name].drops += p.Missed + p.Errors + p.NoMbuf + p.KernelDrops
			}
		}
		return m
	}
	now, before := sum(r), sum(prev)
	var inputs, outputs []rate
	for _, p := range r.Ports {
		a, b := now[p.Name], before[p.Name]
		if a == nil {
			continue
		}
		if b == nil {
			b = &in{}
		}
		inputs = append(inputs, rate{Name: p.Name, Pps: per(a.pkts, b.pkts), Mbps: per(a.bytes, b.bytes) * 8 / 1e6,
			DropPps: per(a.drops, b.drops)})
	}
	for i, o := range r.Outputs {
		var b OutputReport
		if i < len(prev.Outputs) {
			b = prev.Outputs[i]
		}
		outputs = append(outputs, rate{Name: o.Name, Pps: per(o.Sent, b.Sent), Mbps: per(o.Bytes, b.Bytes) * 8 / 1e6,
			DropPps: per(o.Dropped(), b.Dropped())})
	}
	log.Info("rates", "seconds", s, "inputs", inputs, "outputs", outputs)
}
