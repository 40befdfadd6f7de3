package sink

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fastcapa-go/fastcapa/metrics"
)

// MetricsSource is what the sink's collector reads at scrape time: a
// Sink.
type MetricsSource interface {
	Counters() Counters
	Lag() []PartitionLag
}

// Collector exports a sink's counters to Prometheus, pcapstore_*, when
// scraped.
type Collector struct {
	src                                                  MetricsSource
	consumed, deadLettered, commits, recovered, diskFull metrics.Metric
	stopped                                              metrics.Metric
	written, filtered, files, deleted, uploaded, upErrs  metrics.Metric // per target
	skipped                                              metrics.Metric // per target
	ixErrs                                               metrics.Metric // per target
	cmds, cmdErrs, cmdPending                            metrics.Metric // per target
	lag, skippedLag                                      metrics.Metric // per partition
}

// NewCollector makes a collector over a sink.
func NewCollector(src MetricsSource) *Collector {
	c, g := prometheus.CounterValue, prometheus.GaugeValue
	const p = "pcapstore_"
	m := func(name, help string, kind prometheus.ValueType, labels ...string) metrics.Metric {
		return metrics.NewMetric(p+name, help, kind, labels...)
	}
	return &Collector{
		src:          src,
		consumed:     m("records_consumed_total", "Records read from Kafka (again after a disk-full stop).", c),
		deadLettered: m("records_dead_lettered_total", "Records that could not be decoded, written to the dead-letter file.", c),
		commits:      m("offset_commits_total", "Offset commits after files were finalized.", c),
		recovered:    m("packets_recovered_total", "Packets published from temporary files left by a crash (they are consumed again).", c),
		diskFull:     m("disk_full_stops_total", "Times the sink stopped consuming because a target's disk was full.", c),
		stopped:      m("stopped", "1 while the sink is stopped for a full disk.", g),
		written:      m("packets_written_total", "Packets written to the target's capture files.", c, "target"),
		skipped:      m("records_skipped_total", "Records consumed again (after a commit that did not land, or a disk-full stop) that the target holds already in a finalized file: not written again.", c, "target"),
		filtered:     m("packets_filtered_total", "Packets the target's filter did not keep.", c, "target"),
		files:        m("files_finalized_total", "Capture files fsynced and renamed to their final name.", c, "target"),
		deleted:      m("files_deleted_total", "Capture files deleted by retention.", c, "target"),
		uploaded:     m("files_uploaded_total", "Capture files stored in the target's object store.", c, "target"),
		upErrs:       m("upload_errors_total", "Failed upload attempts (each is tried again).", c, "target"),
		ixErrs:       m("index_errors_total", "Finalized files left without a sidecar index (queries scan them whole).", c, "target"),
		cmds:         m("on_finalize_done_total", "Finalized files whose on_finalize command exited 0.", c, "target"),
		cmdErrs:      m("on_finalize_errors_total", "on_finalize attempts that failed or timed out (each is tried again).", c, "target"),
		cmdPending:   m("on_finalize_pending_files", "Finalized files whose on_finalize command has not exited 0 yet.", g, "target"),
		lag:          m("consumer_lag_records", "Records in the partition after the last one consumed.", g, "partition"),
		skippedLag:   m("records_skipped_lag_total", "Records the lag policy (max_lag_records, max_lag_age) skipped: never stored.", c, "partition"),
	}
}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range []metrics.Metric{c.consumed, c.deadLettered, c.commits, c.recovered, c.diskFull, c.stopped,
		c.written, c.skipped, c.filtered, c.files, c.deleted, c.uploaded, c.upErrs, c.ixErrs, c.cmds, c.cmdErrs, c.cmdPending, c.lag, c.skippedLag} {
		ch <- m.Desc
	}
}

// Collect sends the sink's counters.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	k := c.src.Counters()
	stopped := uint64(0)
	if k.Stopped {
		stopped = 1
	}
	for _, x := range []struct {
		m metrics.Metric
		v uint64
	}{{c.consumed, k.Consumed}, {c.deadLettered, k.DeadLettered}, {c.commits, k.Commits},
		{c.recovered, k.Recovered}, {c.diskFull, k.DiskFull}, {c.stopped, stopped}} {
		ch <- x.m.Const(float64(x.v))
	}
	for _, t := range k.Targets {
		for _, x := range []struct {
			m metrics.Metric
			v uint64
		}{{c.written, t.Written}, {c.skipped, t.Skipped}, {c.filtered, t.Filtered}, {c.files, t.Files}, {c.deleted, t.Deleted},
			{c.uploaded, t.Uploaded}, {c.upErrs, t.UploadErrors}, {c.ixErrs, t.IndexErrors},
			{c.cmds, t.Commands}, {c.cmdErrs, t.CommandErrors}, {c.cmdPending, t.CommandsPending}} {
			ch <- x.m.Const(float64(x.v), t.Name)
		}
	}
	for _, l := range c.src.Lag() {
		ch <- c.lag.Const(float64(l.Lag), strconv.Itoa(int(l.Partition)))
		ch <- c.skippedLag.Const(float64(l.SkippedLag), strconv.Itoa(int(l.Partition)))
	}
}
