package pipeline

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fastcapa-go/fastcapa/dpdk"
	"github.com/fastcapa-go/fastcapa/kafka"
)

type fakeSource struct {
	r     Report
	ready error
}

func (f fakeSource) Report() Report { return f.r }
func (f fakeSource) Ready() error   { return f.ready }

// report is a capture of queues ports × queues, each RX lcore with
// workers workers.
func report(ports, queues, workers int) Report {
	var r Report
	for p := range ports {
		name := "net_pcap" + string(rune('0'+p%10))
		r.Ports = append(r.Ports, PortReport{Name: name, PortStats: dpdk.PortStats{Packets: 100, Missed: 3}})
		for q := range queues {
			r.Queues = append(r.Queues, dpdk.RxQueueStats{Port: name, Queue: uint16(q), Lcore: uint(1 + q),
				Packets: 110, Bytes: 6400, Enqueued: 98, RingDropped: 2, Filtered: 10})
		}
	}
	for l := range queues {
		r.Rings = append(r.Rings, RingReport{Lcore: uint(1 + l), Count: 5, Capacity: 32767})
		for w := range workers {
			r.WorkerStats = append(r.WorkerStats, WorkerReport{ID: l*workers + w, Lcore: uint(1 + l),
				Worker: WorkerCounters{Dequeued: 90}, Kafka: kafka.Counters{Produced: 90, Delivered: 80, Failed: 1},
				InKafka: 9, Brokers: []kafka.BrokerStats{{Name: "127.0.0.1:9092/0", RTTAvg: time.Millisecond, RTTP99: 3 * time.Millisecond}}})
		}
	}
	r.Routes = []RouteReport{{Name: "web", Topic: "pcap-web", Received: 110, Filtered: 80, Sampled: 20, Kafka: kafka.Counters{Delivered: 10}},
		{Name: "rest", Topic: "pcap", Received: 110, Filtered: 30, Kafka: kafka.Counters{Delivered: 80}}}
	return r
}

func TestCollectorPassesLint(t *testing.T) {
	c := NewCollector(fakeSource{r: report(2, 2, 2)})
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestCollectorValues(t *testing.T) {
	c := NewCollector(fakeSource{r: report(1, 2, 1), ready: errors.New("starting")})
	want := `
# HELP fastcapa_ring_dropped_packets_total Packets freed because the ring was full.
# TYPE fastcapa_ring_dropped_packets_total counter
fastcapa_ring_dropped_packets_total{lcore="1",port="net_pcap0",queue="0"} 2
fastcapa_ring_dropped_packets_total{lcore="2",port="net_pcap0",queue="1"} 2
# HELP fastcapa_filtered_packets_total Packets no route's filter matched (the capture filter rejected), freed before the ring.
# TYPE fastcapa_filtered_packets_total counter
fastcapa_filtered_packets_total{lcore="1",port="net_pcap0",queue="0"} 10
fastcapa_filtered_packets_total{lcore="2",port="net_pcap0",queue="1"} 10
# HELP fastcapa_kafka_broker_rtt_p99_seconds Produce request round trip, window 99th percentile.
# TYPE fastcapa_kafka_broker_rtt_p99_seconds gauge
fastcapa_kafka_broker_rtt_p99_seconds{broker="127.0.0.1:9092/0",worker="0"} 0.003
fastcapa_kafka_broker_rtt_p99_seconds{broker="127.0.0.1:9092/0",worker="1"} 0.003
# HELP fastcapa_ready 1 when packets can be delivered now (every port's link up, every producer reaching a broker; as /readyz), else 0.
# TYPE fastcapa_ready gauge
fastcapa_ready 0
# HELP fastcapa_route_sampled_out_packets_total Packets the route's filter matched and its sampling did not keep.
# TYPE fastcapa_route_sampled_out_packets_total counter
fastcapa_route_sampled_out_packets_total{route="rest",topic="pcap"} 0
fastcapa_route_sampled_out_packets_total{route="web",topic="pcap-web"} 20
# HELP fastcapa_route_delivered_messages_total The route's messages a broker acknowledged.
# TYPE fastcapa_route_delivered_messages_total counter
fastcapa_route_delivered_messages_total{route="rest",topic="pcap"} 80
fastcapa_route_delivered_messages_total{route="web",topic="pcap-web"} 10
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"fastcapa_ring_dropped_packets_total", "fastcapa_filtered_packets_total", "fastcapa_kafka_broker_rtt_p99_seconds",
		"fastcapa_ready", "fastcapa_route_sampled_out_packets_total", "fastcapa_route_delivered_messages_total"); err != nil {
		t.Error(err)
	}
}

// BenchmarkScrape: one collection of a capture of 4 ports × 8 queues, 8
// RX lcores with 2 workers each (the Report is prebuilt: this measures
// the metrics side only).
func BenchmarkScrape(b *testing.B) {
	c := NewCollector(fakeSource{r: report(4, 8, 2)})
	b.ReportAllocs()
	for b.Loop() {
		if n := testutil.CollectAndCount(c); n == 0 {
			b.Fatal("no metrics")
		}
	}
}
