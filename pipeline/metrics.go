package pipeline

import (
	"runtime"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fastcapa-go/fastcapa/dpdk"
	"github.com/fastcapa-go/fastcapa/metrics"
)

// MetricsSource is what the capture's collector reads at scrape time: a
// Capture, or what stands for one while it starts.
type MetricsSource interface {
	Report() Report
	Ready() error
}

// Collector turns a capture's Report into Prometheus metrics, fastcapa_*,
// when scraped.
type Collector struct {
	src MetricsSource

	buildInfo metrics.Metric

	rxPackets, rxBytes, ringDropped, filtered, sampled, decapsulated metrics.Metric
	ringPackets, ringCapacity                                        metrics.Metric
	lcorePolls, lcoreBusyPolls, lcoreSleeps, lcoreSlept              metrics.Metric

	routeFiltered, routeSampled, routeRingDropped, routeReleased, routeMalformed metrics.Metric
	routeProduced, routeQueueDropped, routeDelivered, routeFailed                metrics.Metric

	nicPackets, nicBytes, nicMissed, nicErrors, nicNoMbuf, nicKernelDropped metrics.Metric
	nicTxPackets, nicTxErrors                                               metrics.Metric

	tunnelDecapsulated, tunnelDropped                                   metrics.Metric
	outOffered, outSent, outBytes, outTruncated, outSkipped, outDropped metrics.Metric

	workerPackets, malformed                          metrics.Metric
	produced, producedBytes, queueDropped, queueWaits metrics.Metric
	delivered, failed, queued                         metrics.Metric
	rttAvg, rttP99, queueLatencyAvg, queueLatencyP99  metrics.Metric
	ready                                             metrics.Metric
}

// NewCollector makes a collector over src.
func NewCollector(src MetricsSource) *Collector {
	c, g := prometheus.CounterValue, prometheus.GaugeValue
	pq := []string{"port", "queue", "lcore"}
	newMetric := func(name, help string, kind prometheus.ValueType, labels ...string) metrics.Metric {
		return metrics.NewMetric("fastcapa_"+name, help, kind, labels...)
	}
	return &Collector{
		src:       src,
		buildInfo: newMetric("build_info", "Build of this fastcapa; the value is 1.", g, "version", "goversion", "dpdk"),

		rxPackets:    newMetric("rx_packets_total", "Packets the RX lcores took from the queue.", c, pq...),
		rxBytes:      newMetric("rx_bytes_total", "Bytes (frame lengths) the RX lcores took from the queue.", c, pq...),
		ringDropped:  newMetric("ring_dropped_packets_total", "Packets freed because the ring was full.", c, pq...),
		filtered:     newMetric("filtered_packets_total", "Packets no route's filter matched (the capture filter rejected), freed before the ring.", c, pq...),
		decapsulated: newMetric("decapsulated_packets_total", "Packets whose innermost packet the routes' filters saw (capture.decap).", c, pq...),
		sampled:      newMetric("sampled_out_packets_total", "Packets a route's filter matched but no route's sampling kept, freed before the ring.", c, pq...),

		routeFiltered:     newMetric("route_filtered_packets_total", "Packets the route's filter did not match.", c, "route", "topic"),
		routeSampled:      newMetric("route_sampled_out_packets_total", "Packets the route's filter matched and its sampling did not keep.", c, "route", "topic"),
		routeRingDropped:  newMetric("route_ring_dropped_packets_total", "Packets the route kept that a full ring dropped.", c, "route", "topic"),
		routeReleased:     newMetric("route_released_packets_total", "Packets the route kept with Kafka off (kafka.disabled): sent to the outputs, then freed.", c, "route", "topic"),
		routeMalformed:    newMetric("route_malformed_packets_total", "Packets the route kept that were not sent: mbuf segments shorter than the frame.", c, "route", "topic"),
		routeProduced:     newMetric("route_produced_messages_total", "The route's messages librdkafka accepted.", c, "route", "topic"),
		routeQueueDropped: newMetric("route_queue_dropped_messages_total", "The route's messages dropped because librdkafka's queue stayed full.", c, "route", "topic"),
		routeDelivered:    newMetric("route_delivered_messages_total", "The route's messages a broker acknowledged.", c, "route", "topic"),
		routeFailed:       newMetric("route_failed_messages_total", "The route's messages whose delivery failed, or purged at shutdown.", c, "route", "topic"),
		lcorePolls:        newMetric("rx_lcore_polls_total", "Passes of the RX lcore over its queues.", c, "lcore"),
		lcoreBusyPolls:    newMetric("rx_lcore_busy_polls_total", "Passes of the RX lcore that found packets.", c, "lcore"),
		lcoreSleeps:       newMetric("rx_lcore_sleeps_total", "Sleeps of the RX lcore while idle (capture.idle_polls).", c, "lcore"),
		lcoreSlept:        newMetric("rx_lcore_sleep_seconds_total", "Time the RX lcore asked to sleep while idle.", c, "lcore"),
		ringPackets:       newMetric("ring_packets", "Packets waiting in the RX lcore's ring.", g, "lcore"),
		ringCapacity:      newMetric("ring_capacity_packets", "Packets the RX lcore's ring can hold.", g, "lcore"),

		nicPackets: newMetric("nic_received_packets_total", "Packets the device received (ipackets).", c, "port"),
		nicBytes:   newMetric("nic_received_bytes_total", "Bytes the device received (ibytes).", c, "port"),
		nicMissed:  newMetric("nic_missed_packets_total", "Packets the device dropped for lack of a free descriptor (imissed).", c, "port"),
		nicErrors:  newMetric("nic_errors_total", "Erroneous packets the device received (ierrors).", c, "port"),
		nicNoMbuf:  newMetric("nic_mbuf_allocation_failures_total", "Receive mbuf allocation failures (rx_nombuf).", c, "port"),
		nicKernelDropped: newMetric("nic_kernel_dropped_packets_total",
			"Frames the kernel dropped on a net_af_packet port's packet sockets, their ring being full (PACKET_STATISTICS tp_drops).", c, "port"),
		nicTxPackets: newMetric("nic_transmitted_packets_total", "Packets the device transmitted (opackets).", c, "port"),
		nicTxErrors:  newMetric("nic_transmit_errors_total", "Packets the device accepted and failed to transmit (oerrors).", c, "port"),

		tunnelDecapsulated: newMetric("tunnel_decapsulated_packets_total", "Packets a tunnel receiver took out of their tunnel.", c, pq...),
		tunnelDropped: newMetric("tunnel_dropped_packets_total",
			"Packets a tunnel receiver freed, by reason: other (not its tunnel), wrong_key, malformed.", c, append(pq, "reason")...),
		outOffered:   newMetric("output_offered_packets_total", "Packets of the output's routes offered to it.", c, "output", "port"),
		outSent:      newMetric("output_sent_packets_total", "Packets the output's TX queues accepted.", c, "output", "port"),
		outBytes:     newMetric("output_sent_bytes_total", "Bytes of the frames sent, outer headers included.", c, "output", "port"),
		outTruncated: newMetric("output_truncated_packets_total", "Packets sent cut to the output's MTU.", c, "output", "port"),
		outSkipped:   newMetric("output_skipped_packets_total", "Packets not sent because their VLAN is not the output's (keep_vlan).", c, "output", "port"),
		outDropped: newMetric("output_dropped_packets_total",
			"Packets not sent, by reason: queue_full, too_big, no_mbuf, malformed.", c, "output", "port", "reason"),

		workerPackets: newMetric("worker_packets_total", "Packets a worker took from its ring.", c, "worker", "lcore"),
		malformed:     newMetric("malformed_packets_total", "Packets not sent: mbuf segments shorter than the frame.", c, "worker", "lcore"),
		produced:      newMetric("kafka_produced_messages_total", "Messages librdkafka accepted.", c, "worker"),
		producedBytes: newMetric("kafka_produced_bytes_total", "Value bytes librdkafka accepted.", c, "worker"),
		queueDropped:  newMetric("kafka_queue_dropped_messages_total", "Packets dropped because librdkafka's queue stayed full.", c, "worker"),
		queueWaits:    newMetric("kafka_queue_full_waits_total", "Times a worker waited for room in librdkafka's queue.", c, "worker"),
		delivered:     newMetric("kafka_delivered_messages_total", "Messages a broker acknowledged.", c, "worker"),
		failed:        newMetric("kafka_failed_messages_total", "Messages whose delivery failed, or purged at shutdown.", c, "worker"),
		queued:        newMetric("kafka_queued_messages", "Messages in librdkafka, not yet delivered or failed.", g, "worker"),

		rttAvg:          newMetric("kafka_broker_rtt_average_seconds", "Produce request round trip, window average (librdkafka statistics).", g, "worker", "broker"),
		rttP99:          newMetric("kafka_broker_rtt_p99_seconds", "Produce request round trip, window 99th percentile.", g, "worker", "broker"),
		queueLatencyAvg: newMetric("kafka_queue_latency_average_seconds", "Time a message waits in librdkafka before it is sent, window average.", g, "worker", "broker"),
		queueLatencyP99: newMetric("kafka_queue_latency_p99_seconds", "Time a message waits in librdkafka before it is sent, 99th percentile.", g, "worker", "broker"),
		ready:           newMetric("ready", "1 when packets can be delivered now (every port's link up, every producer reaching a broker; as /readyz), else 0.", g),
	}
}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range []metrics.Metric{c.buildInfo, c.rxPackets, c.rxBytes, c.ringDropped, c.filtered, c.sampled, c.decapsulated, c.lcorePolls, c.lcoreBusyPolls, c.lcoreSleeps, c.lcoreSlept, c.ringPackets, c.ringCapacity,
		c.routeFiltered, c.routeSampled, c.routeRingDropped, c.routeReleased, c.routeMalformed, c.routeProduced, c.routeQueueDropped,
		c.routeDelivered, c.routeFailed,
		c.nicPackets, c.nicBytes, c.nicMissed, c.nicErrors, c.nicNoMbuf, c.nicKernelDropped, c.nicTxPackets, c.nicTxErrors,
		c.tunnelDecapsulated, c.tunnelDropped, c.outOffered, c.outSent, c.outBytes, c.outTruncated, c.outSkipped, c.outDropped,
		c.workerPackets, c.malformed,
		c.produced, c.producedBytes, c.queueDropped, c.queueWaits, c.delivered, c.failed, c.queued,
		c.rttAvg, c.rttP99, c.queueLatencyAvg, c.queueLatencyP99, c.ready} {
		ch <- m.Desc
	}
}

// Collect reads one report and sends it as metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	r := c.src.Report()
	emit := func(m metrics.Metric, v float64, labels ...string) {
		ch <- m.Const(v, labels...)
	}
	emit(c.buildInfo, 1, metrics.Version(), runtime.Version(), "22.11")
	for _, q := range r.Queues {
		l := []string{q.Port, strconv.Itoa(int(q.Queue)), strconv.Itoa(int(q.Lcore))}
		emit(c.rxPackets, float64(q.Packets), l...)
		emit(c.rxBytes, float64(q.Bytes), l...)
		emit(c.ringDropped, float64(q.RingDropped), l...)
		emit(c.filtered, float64(q.Filtered), l...)
		emit(c.sampled, float64(q.Sampled), l...)
		emit(c.decapsulated, float64(q.Decapsulated), l...)
		if t := q.Tunnel; t != (dpdk.TunnelStats{}) {
			emit(c.tunnelDecapsulated, float64(t.Decapsulated), l...)
			emit(c.tunnelDropped, float64(t.Other), append(l, "other")...)
			emit(c.tunnelDropped, float64(t.WrongKey), append(l, "wrong_key")...)
			emit(c.tunnelDropped, float64(t.Malformed), append(l, "malformed")...)
		}
	}
	for _, o := range r.Outputs {
		l := []string{o.Name, o.Port}
		emit(c.outOffered, float64(o.Offered), l...)
		emit(c.outSent, float64(o.Sent), l...)
		emit(c.outBytes, float64(o.Bytes), l...)
		emit(c.outTruncated, float64(o.Truncated), l...)
		emit(c.outSkipped, float64(o.Skipped), l...)
		for _, d := range []struct {
			reason string
			n      uint64
		}{{"queue_full", o.QueueFull}, {"too_big", o.TooBig}, {"no_mbuf", o.NoMbuf}, {"malformed", o.Malformed}} {
			emit(c.outDropped, float64(d.n), append(l, d.reason)...)
		}
	}
	for _, rt := range r.Routes {
		l := []string{rt.Name, rt.Topic}
		emit(c.routeFiltered, float64(rt.Filtered), l...)
		emit(c.routeSampled, float64(rt.Sampled), l...)
		emit(c.routeRingDropped, float64(rt.RingDropped), l...)
		emit(c.routeReleased, float64(rt.Released), l...)
		emit(c.routeMalformed, float64(rt.Malformed), l...)
		emit(c.routeProduced, float64(rt.Kafka.Produced), l...)
		emit(c.routeQueueDropped, float64(rt.Kafka.QueueDropped), l...)
		emit(c.routeDelivered, float64(rt.Kafka.Delivered), l...)
		emit(c.routeFailed, float64(rt.Kafka.Failed), l...)
	}
	for _, l := range r.Lcores {
		lc := strconv.Itoa(int(l.Lcore))
		emit(c.lcorePolls, float64(l.Polls), lc)
		emit(c.lcoreBusyPolls, float64(l.BusyPolls), lc)
		emit(c.lcoreSleeps, float64(l.Sleeps), lc)
		emit(c.lcoreSlept, l.Slept.Seconds(), lc)
	}
	for _, g := range r.Rings {
		l := strconv.Itoa(int(g.Lcore))
		emit(c.ringPackets, float64(g.Count), l)
		emit(c.ringCapacity, float64(g.Capacity), l)
	}
	for _, p := range r.Ports {
		emit(c.nicPackets, float64(p.Packets), p.Name)
		emit(c.nicBytes, float64(p.Bytes), p.Name)
		emit(c.nicMissed, float64(p.Missed), p.Name)
		emit(c.nicErrors, float64(p.Errors), p.Name)
		emit(c.nicNoMbuf, float64(p.NoMbuf), p.Name)
		emit(c.nicKernelDropped, float64(p.KernelDrops), p.Name)
		emit(c.nicTxPackets, float64(p.OPackets), p.Name)
		emit(c.nicTxErrors, float64(p.OErrors), p.Name)
	}
	for _, w := range r.WorkerStats {
		id := strconv.Itoa(w.ID)
		lc := strconv.Itoa(int(w.Lcore))
		emit(c.workerPackets, float64(w.Worker.Dequeued), id, lc)
		emit(c.malformed, float64(w.Worker.Malformed), id, lc)
		emit(c.produced, float64(w.Kafka.Produced), id)
		emit(c.producedBytes, float64(w.Kafka.Bytes), id)
		emit(c.queueDropped, float64(w.Kafka.QueueDropped), id)
		emit(c.queueWaits, float64(w.Kafka.QueueWaits), id)
		emit(c.delivered, float64(w.Kafka.Delivered), id)
		emit(c.failed, float64(w.Kafka.Failed), id)
		emit(c.queued, float64(w.InKafka), id)
		for _, b := range w.Brokers {
			emit(c.rttAvg, b.RTTAvg.Seconds(), id, b.Name)
			emit(c.rttP99, b.RTTP99.Seconds(), id, b.Name)
			emit(c.queueLatencyAvg, b.QueueLatencyAvg.Seconds(), id, b.Name)
			emit(c.queueLatencyP99, b.QueueLatencyP99.Seconds(), id, b.Name)
		}
	}
	ready := 0.0
	if c.src.Ready() == nil {
		ready = 1
	}
	emit(c.ready, ready)
}
