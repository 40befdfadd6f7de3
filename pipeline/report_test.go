package pipeline

import (
	"testing"

	"github.com/fastcapa-go/fastcapa/dpdk"
	"github.com/fastcapa-go/fastcapa/kafka"
)

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
