package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fastcapa-go/fastcapa/sink"
)

// SinkSource is what the sink collector reads at scrape time.
type SinkSource interface {
	Counters() sink.Counters
	Lag() []sink.PartitionLag
}

// SinkCollector exports a pcapstore sink's counters.
type SinkCollector struct {
	src                                                                 SinkSource
	consumed, written, deadLettered, files, commits, recovered, deleted metric
	lag                                                                 metric
}

// NewSinkCollector makes a collector over a sink.
func NewSinkCollector(src SinkSource) *SinkCollector {
	c := prometheus.CounterValue
	const p = "pcapstore_"
	m := func(name, help string, kind prometheus.ValueType, labels ...string) metric {
		return metric{prometheus.NewDesc(p+name, help, labels, nil), kind}
	}
	return &SinkCollector{
		src:          src,
		consumed:     m("records_consumed_total", "Records read from Kafka.", c),
		written:      m("packets_written_total", "Packets written to capture files.", c),
		deadLettered: m("records_dead_lettered_total", "Records that could not be decoded, written to the dead-letter file.", c),
		files:        m("files_finalized_total", "Capture files fsynced and renamed to their final name.", c),
		commits:      m("offset_commits_total", "Offset commits after files were finalized.", c),
		recovered:    m("packets_recovered_total", "Packets published from temporary files left by a crash (they are consumed again).", c),
		deleted:      m("files_deleted_total", "Capture files deleted by retention.", c),
		lag:          m("consumer_lag_records", "Records in the partition after the last one consumed.", prometheus.GaugeValue, "partition"),
	}
}

// Describe sends every metric's description.
func (c *SinkCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range []metric{c.consumed, c.written, c.deadLettered, c.files, c.commits, c.recovered, c.deleted, c.lag} {
		ch <- m.desc
	}
}

// Collect sends the sink's counters.
func (c *SinkCollector) Collect(ch chan<- prometheus.Metric) {
	k := c.src.Counters()
	for _, x := range []struct {
		m metric
		v uint64
	}{{c.consumed, k.Consumed}, {c.written, k.Written}, {c.deadLettered, k.DeadLettered}, {c.files, k.Files},
		{c.commits, k.Commits}, {c.recovered, k.Recovered}, {c.deleted, k.Deleted}} {
		ch <- prometheus.MustNewConstMetric(x.m.desc, x.m.kind, float64(x.v))
	}
	for _, l := range c.src.Lag() {
		ch <- prometheus.MustNewConstMetric(c.lag.desc, c.lag.kind, float64(l.Lag), strconv.Itoa(int(l.Partition)))
	}
}
