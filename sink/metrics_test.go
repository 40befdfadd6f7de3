package sink

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

type fakeCounters struct {
	k   Counters
	lag []PartitionLag
}

func (f fakeCounters) Counters() Counters  { return f.k }
func (f fakeCounters) Lag() []PartitionLag { return f.lag }

// counters are a sink's with two targets, stopped for a full disk.
var counters = fakeCounters{
	k: Counters{Consumed: 100, DeadLettered: 2, Commits: 7, DiskFull: 1, Stopped: true,
		Targets: []TargetCounters{{Name: "all", Written: 98, Files: 3}, {Name: "dns", Written: 10, Filtered: 88, UploadErrors: 4, CommandsPending: 3}}},
	lag: []PartitionLag{{Partition: 0, Lag: 5}, {Partition: 3, Lag: 0, SkippedLag: 12000}},
}

func TestCollectorPassesLint(t *testing.T) {
	problems, err := testutil.CollectAndLint(NewCollector(counters))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestCollectorValues(t *testing.T) {
	want := `
# HELP pcapstore_records_consumed_total Records read from Kafka (again after a disk-full stop).
# TYPE pcapstore_records_consumed_total counter
pcapstore_records_consumed_total 100
# HELP pcapstore_stopped 1 while the sink is stopped for a full disk.
# TYPE pcapstore_stopped gauge
pcapstore_stopped 1
# HELP pcapstore_packets_filtered_total Packets the target's filter did not keep.
# TYPE pcapstore_packets_filtered_total counter
pcapstore_packets_filtered_total{target="all"} 0
pcapstore_packets_filtered_total{target="dns"} 88
# HELP pcapstore_upload_errors_total Failed upload attempts (each is tried again).
# TYPE pcapstore_upload_errors_total counter
pcapstore_upload_errors_total{target="all"} 0
pcapstore_upload_errors_total{target="dns"} 4
# HELP pcapstore_on_finalize_pending_files Finalized files whose on_finalize command has not exited 0 yet.
# TYPE pcapstore_on_finalize_pending_files gauge
pcapstore_on_finalize_pending_files{target="all"} 0
pcapstore_on_finalize_pending_files{target="dns"} 3
# HELP pcapstore_consumer_lag_records Records in the partition after the last one consumed.
# TYPE pcapstore_consumer_lag_records gauge
pcapstore_consumer_lag_records{partition="0"} 5
pcapstore_consumer_lag_records{partition="3"} 0
# HELP pcapstore_records_skipped_lag_total Records the lag policy (max_lag_records, max_lag_age) skipped: never stored.
# TYPE pcapstore_records_skipped_lag_total counter
pcapstore_records_skipped_lag_total{partition="0"} 0
pcapstore_records_skipped_lag_total{partition="3"} 12000
`
	if err := testutil.CollectAndCompare(NewCollector(counters), strings.NewReader(want),
		"pcapstore_records_consumed_total", "pcapstore_stopped", "pcapstore_packets_filtered_total",
		"pcapstore_upload_errors_total", "pcapstore_on_finalize_pending_files", "pcapstore_consumer_lag_records", "pcapstore_records_skipped_lag_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(NewCollector(counters)); n != 6+2*11+2*2 {
		t.Errorf("%d metrics, want 6 sink-wide, 11 per target, 2 per partition", n)
	}
}
