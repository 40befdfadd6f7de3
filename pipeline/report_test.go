package pipeline

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/dpdk"
	"github.com/fastcapa-go/fastcapa/kafka"
)

// single fills in what Capture.Report adds for a capture of one simple
// route: every packet enqueued or dequeued is one copy, and the route's
// counts are the totals.
func single(r Report) Report {
	var received uint64
	rt := RouteReport{Name: "default", Malformed: r.Workers.Malformed, Kafka: r.Kafka}
	for i := range r.Queues {
		q := &r.Queues[i]
		q.Copies = q.Enqueued
		received += q.Packets
		rt.Filtered += q.Filtered
		rt.Sampled += q.Sampled
		rt.RingDropped += q.RingDropped
		rt.Released += q.Released
	}
	rt.Received = received
	r.Workers.Copies = r.Workers.Dequeued
	r.Routes = []RouteReport{rt}
	return r
}

func TestReportAccounting(t *testing.T) {
	q := func(pkts, enq, drop uint64) dpdk.RxQueueStats {
		return dpdk.RxQueueStats{Packets: pkts, Enqueued: enq, RingDropped: drop}
	}
	for _, c := range []struct {
		name        string
		r           Report
		inFlight    uint64
		unaccounted int64
		lost        uint64
		clean       bool
	}{
		{"all delivered",
			Report{Queues: []dpdk.RxQueueStats{q(10, 10, 0), q(5, 5, 0)},
				Workers: WorkerCounters{Dequeued: 15}, Kafka: kafka.Counters{Produced: 15, Delivered: 15},
				Mempools: []dpdk.MempoolAudit{{Size: 100}}},
			0, 0, 0, true},
		{"every kind of loss",
			Report{Queues: []dpdk.RxQueueStats{q(20, 17, 3)},
				Workers: WorkerCounters{Dequeued: 17, Malformed: 1},
				Kafka:   kafka.Counters{Produced: 14, QueueDropped: 2, Delivered: 12, Failed: 2}},
			0, 0, 8, false},
		{"in flight everywhere",
			Report{Queues: []dpdk.RxQueueStats{q(30, 30, 0)},
				Workers: WorkerCounters{Dequeued: 25}, Kafka: kafka.Counters{Produced: 20, Delivered: 18},
				InRings: 5, InHand: 5, InKafka: 2},
			12, 0, 0, false},
		// Sampled-out packets are accounted for, not lost.
		{"sampled",
			Report{Queues: []dpdk.RxQueueStats{{Packets: 10, Enqueued: 2, Filtered: 3, Sampled: 5}},
				Workers: WorkerCounters{Dequeued: 2}, Kafka: kafka.Counters{Produced: 2, Delivered: 2}},
			0, 0, 0, true},
		{"in hand, not yet produced",
			Report{Queues: []dpdk.RxQueueStats{q(30, 30, 0)},
				Workers: WorkerCounters{Dequeued: 30}, Kafka: kafka.Counters{Produced: 20, Delivered: 18},
				InHand: 10, InKafka: 2},
			12, 0, 0, false},
		// A worker that dropped a packet without counting it: nothing
		// is left anywhere, so the final report says 1 unaccounted.
		{"a packet counted nowhere",
			Report{Queues: []dpdk.RxQueueStats{q(10, 10, 0)},
				Workers: WorkerCounters{Dequeued: 10}, Kafka: kafka.Counters{Produced: 9, Delivered: 9}},
			0, 1, 0, false},
		{"a packet lost in a ring",
			Report{Queues: []dpdk.RxQueueStats{q(10, 10, 0)},
				Workers: WorkerCounters{Dequeued: 9}, Kafka: kafka.Counters{Produced: 9, Delivered: 9}},
			0, 1, 0, false},
		{"counted twice",
			Report{Queues: []dpdk.RxQueueStats{q(10, 10, 0)},
				Workers: WorkerCounters{Dequeued: 10}, Kafka: kafka.Counters{Produced: 11, Delivered: 11}},
			0, -1, 0, false},
		{"leaked mbuf",
			Report{Queues: []dpdk.RxQueueStats{q(1, 1, 0)},
				Workers: WorkerCounters{Dequeued: 1}, Kafka: kafka.Counters{Produced: 1, Delivered: 1},
				Mempools: []dpdk.MempoolAudit{{Size: 100, InUse: 1}}},
			0, 0, 0, false},
		// Packets the capture filter rejected are accounted for, not
		// lost, and the capture is clean.
		{"filtered",
			Report{Queues: []dpdk.RxQueueStats{{Packets: 10, Enqueued: 4, Filtered: 6}},
				Workers: WorkerCounters{Dequeued: 4}, Kafka: kafka.Counters{Produced: 4, Delivered: 4}},
			0, 0, 0, true},
		{"device loss",
			Report{Queues: []dpdk.RxQueueStats{q(1, 1, 0)}, Ports: []PortReport{{PortStats: dpdk.PortStats{Missed: 4}}},
				Workers: WorkerCounters{Dequeued: 1}, Kafka: kafka.Counters{Produced: 1, Delivered: 1}},
			0, 0, 4, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.r = single(c.r)
			if got := c.r.InFlight(); got != c.inFlight {
				t.Errorf("InFlight() = %d, want %d", got, c.inFlight)
			}
			if got := c.r.Unaccounted(); got != c.unaccounted {
				t.Errorf("Unaccounted() = %d, want %d", got, c.unaccounted)
			}
			if got := c.r.Lost(); got != c.lost {
				t.Errorf("Lost() = %d, want %d", got, c.lost)
			}
			if got := c.r.Clean(); got != c.clean {
				t.Errorf("Clean() = %v, want %v", got, c.clean)
			}
		})
	}
}

// TestReportRoutes: with two routes, each is its own balance (every
// packet received is offered to both); a message one route lost without
// a count shows as unaccounted though the other route's surplus would
// hide it in a sum of packets.
func TestReportRoutes(t *testing.T) {
	// 10 packets: route a's filter matches 4; route b's 7, of which its
	// sampling keeps 5. 3 packets are kept by both: 6 enqueued, 9 copies.
	report := func(bDelivered uint64) Report {
		return Report{
			Queues:  []dpdk.RxQueueStats{{Packets: 10, Enqueued: 6, Filtered: 2, Sampled: 2, Copies: 9}},
			Workers: WorkerCounters{Dequeued: 6, Copies: 9},
			Kafka:   kafka.Counters{Produced: 9, Delivered: 4 + bDelivered},
			Routes: []RouteReport{
				{Name: "a", Received: 10, Filtered: 6, Kafka: kafka.Counters{Produced: 4, Delivered: 4}},
				{Name: "b", Received: 10, Filtered: 3, Sampled: 2, Kafka: kafka.Counters{Produced: 5, Delivered: bDelivered}},
			},
		}
	}
	if r := report(5); r.Unaccounted() != 0 || !r.Clean() {
		t.Errorf("every copy placed: unaccounted %d, clean %v", r.Unaccounted(), r.Clean())
	}
	if r := report(4); r.Unaccounted() != 1 || r.Clean() {
		t.Errorf("route b lost one: unaccounted %d, clean %v", r.Unaccounted(), r.Clean())
	}
	var b bytes.Buffer
	report(5).Print(&b)
	for _, want := range []string{
		"accounting, route a: received 10 = delivered 4 + filtered 6 + sampled 0 + ring-dropped 0 + released 0 + malformed 0 + queue-dropped 0 + failed 0 + in flight 0",
		"accounting, route b: received 10 = delivered 5 + filtered 3 + sampled 2 + ring-dropped 0 + released 0 + malformed 0 + queue-dropped 0 + failed 0 + in flight 0",
		"accounting: unaccounted 0",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("Print lacks %q:\n%s", want, b.String())
		}
	}
}

// TestReportReleased: without Kafka, what the routes kept is released
// after the outputs: not lost, and part of the balance, so a packet the
// counters miss shows as unaccounted.
func TestReportReleased(t *testing.T) {
	r := single(Report{Queues: []dpdk.RxQueueStats{{Port: "p0", Packets: 100, Filtered: 5, Released: 95}},
		Ports: []PortReport{{Name: "p0", PortStats: dpdk.PortStats{Packets: 100}}}})
	r.Outputs = []OutputReport{{Port: "p1", OutputStats: dpdk.OutputStats{Name: "tap", Offered: 95, Sent: 95}}}
	if !r.Clean() || r.Unaccounted() != 0 || r.Lost() != 0 || r.Released() != 95 {
		t.Errorf("clean %v, unaccounted %d, lost %d, released %d", r.Clean(), r.Unaccounted(), r.Lost(), r.Released())
	}
	var b bytes.Buffer
	r.Print(&b)
	if want := "received 100 = delivered 0 + filtered 5 + sampled 0 + ring-dropped 0 + released 95"; !strings.Contains(b.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, b.String())
	}
	r.Routes[0].Released--
	if r.Clean() || r.Unaccounted() != 1 {
		t.Errorf("a packet missing from released: clean %v, unaccounted %d", r.Clean(), r.Unaccounted())
	}
}

// TestReportOutputs: an output's drops make a report unclean (its
// skipped packets do not), the table gets a row per output and the
// queues' tunnel receivers, and the rates line gives packets and
// megabits per second and drops per second for inputs and outputs.
func TestReportOutputs(t *testing.T) {
	r := single(Report{Queues: []dpdk.RxQueueStats{{Port: "p0", Packets: 1000, Bytes: 1e6, Enqueued: 990,
		Tunnel: dpdk.TunnelStats{Decapsulated: 990, WrongKey: 10}}},
		Ports:   []PortReport{{Name: "p0", PortStats: dpdk.PortStats{Packets: 1000}}},
		Workers: WorkerCounters{Dequeued: 990}, Kafka: kafka.Counters{Produced: 990, Delivered: 990}})
	r.Routes[0].Received -= r.TunnelDropped()
	r.Outputs = []OutputReport{{Port: "p1", OutputStats: dpdk.OutputStats{Name: "mirror", Offered: 990, Sent: 980, Skipped: 10,
		Bytes: 980e3}}}
	if !r.Clean() || r.Unaccounted() != 0 || r.TunnelDropped() != 10 {
		t.Errorf("clean %v, unaccounted %d, tunnel dropped %d", r.Clean(), r.Unaccounted(), r.TunnelDropped())
	}
	r.Outputs[0].Sent, r.Outputs[0].QueueFull = 970, 10
	if r.Clean() || r.OutputDropped() != 10 {
		t.Errorf("an output's queue_full left the report clean (dropped %d)", r.OutputDropped())
	}
	var b bytes.Buffer
	r.Print(&b)
	for _, want := range []string{"mirror", "queue full", "tunnel receiver", "wrong key"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	var logs bytes.Buffer
	prev := Report{Queues: []dpdk.RxQueueStats{{Port: "p0"}}, Ports: r.Ports, Outputs: []OutputReport{{}}}
	r.LogRates(slog.New(slog.NewJSONHandler(&logs, nil)), prev, 2*time.Second)
	for _, want := range []string{`"name":"p0","pps":500,"mbps":4,"drop_pps":0`, `"name":"mirror","pps":485,"mbps":3.92,"drop_pps":5`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("rates line %s lacks %s", logs.String(), want)
		}
	}
}
