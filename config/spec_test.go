package config

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/dpdk"
	"github.com/fastcapa-go/fastcapa/filter"
	"github.com/fastcapa-go/fastcapa/pipeline"
)

// TestSpecTyped: every field of a configuration reaches the
// pipeline.Spec parsed into its typed value, the per-port defaults
// filled in.
func TestSpecTyped(t *testing.T) {
	c := valid()
	f := false
	c.EAL.Lcores = "0-3"
	c.EAL.Vdevs = []string{"net_af_packet0,iface=eth1"}
	c.Ports = []Port{
		{Name: "net_af_packet0", RxQueues: 2, RxDescriptors: 512, MTU: 9000, Promiscuous: &f, Timestamp: "tsc"},
		{Name: "1", Optional: true},
	}
	c.Capture.RxLcores = []int{2, 3}
	c.Capture.Burst = 64
	c.Capture.WorkersPerRing = 2
	c.Capture.RingSize = 4096
	c.Capture.Mbufs = 100000
	c.Kafka.Topic = "pkts"
	c.Kafka.KeyUnit = "us"
	c.Kafka.StatsFile = "/tmp/stats.json"
	c.Kafka.QueueFullTimeout = 3 * time.Second
	c.Log.StatsInterval = 5 * time.Second
	c.Shutdown.FlushTimeout = 7 * time.Second

	got, err := c.Spec()
	if err != nil {
		t.Fatalf("Spec: %v", err)
	}
	want := pipeline.Spec{
		EAL: pipeline.EALSpec{Args: c.EALArgs(), Lcores: "0-3", VdevChoices: c.VdevChoices()},
		Ports: []pipeline.PortSpec{
			{PortSpec: dpdk.PortSpec{Name: "net_af_packet0", RxQueues: 2, RxDescriptors: 512, MTU: 9000,
				Promiscuous: false, RSS: true, Timestamp: dpdk.TimestampTSC}},
			{PortSpec: dpdk.PortSpec{Name: "1", RxQueues: 1, RxDescriptors: 1024, Promiscuous: true, RSS: true,
				Timestamp: dpdk.TimestampAuto}, Optional: true},
		},
		RxLcores:       []uint{2, 3},
		Burst:          64,
		WorkerBurst:    64,
		RingSize:       4096,
		WorkersPerRing: 2,
		Mempool:        dpdk.MempoolSpec{Mbufs: 100000, Cache: 256, DataRoom: 2176},
		Kafka: pipeline.KafkaSpec{Topic: "pkts", KeyUnit: time.Microsecond,
			Properties:       map[string]string{"bootstrap.servers": "127.0.0.1:9092"},
			QueueFullTimeout: 3 * time.Second, StatsFile: "/tmp/stats.json"},
		StatsInterval: 5 * time.Second,
		FlushTimeout:  7 * time.Second,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Spec() =\n%+v\nwant\n%+v", got, want)
	}
	if len(got.EAL.VdevChoices) == 0 {
		t.Error("no vdev choice for a net_af_packet vdev without ring geometry")
	}
}

// TestSpecParses: each key unit and timestamp mode by name, and a worker
// burst that is not the RX burst.
func TestSpecParses(t *testing.T) {
	for _, tc := range []struct {
		unit, ts    string
		workerBurst int
		wantUnit    time.Duration
		wantTS      dpdk.TimestampMode
		wantWB      int
	}{
		{"ns", "auto", 0, time.Nanosecond, dpdk.TimestampAuto, 32},
		{"us", "tsc", 16, time.Microsecond, dpdk.TimestampTSC, 16},
		{"µs", "device", 0, time.Microsecond, dpdk.TimestampDevice, 32},
		{"ms", "auto", 1024, time.Millisecond, dpdk.TimestampAuto, 1024},
	} {
		c := valid()
		c.Kafka.KeyUnit, c.Ports[0].Timestamp, c.Capture.WorkerBurst = tc.unit, tc.ts, tc.workerBurst
		sp, err := c.Spec()
		if err != nil {
			t.Errorf("%s/%s: %v", tc.unit, tc.ts, err)
			continue
		}
		if sp.Kafka.KeyUnit != tc.wantUnit || sp.Ports[0].Timestamp != tc.wantTS || sp.WorkerBurst != tc.wantWB {
			t.Errorf("%s/%s/%d: key unit %v, timestamp %v, worker burst %d; want %v, %v, %d", tc.unit, tc.ts,
				tc.workerBurst, sp.Kafka.KeyUnit, sp.Ports[0].Timestamp, sp.WorkerBurst, tc.wantUnit, tc.wantTS, tc.wantWB)
		}
	}
}

// TestSpecRejects: Spec refuses what Validate refuses, naming the field.
func TestSpecRejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mod   func(*Config)
		field string
	}{
		{"bad timestamp", func(c *Config) { c.Ports[0].Timestamp = "ptp" }, "ports[0].timestamp"},
		{"bad timestamp, second port", func(c *Config) {
			c.Ports = append(c.Ports, Port{Name: "net_pcap1", Timestamp: "Device"})
		}, "ports[1].timestamp"},
		{"bad key unit", func(c *Config) { c.Kafka.KeyUnit = "s" }, "kafka.key_unit"},
		{"burst", func(c *Config) { c.Capture.Burst = MaxBurst + 1 }, "capture.burst"},
		{"rx lcore", func(c *Config) { c.Capture.RxLcores = []int{5} }, "capture.rx_lcores[0]"},
		{"no port", func(c *Config) { c.Ports = nil }, "ports"},
		{"filter", func(c *Config) { c.Capture.Filter = "tcp port" }, "capture.filter"},
		{"filter, kernel-only", func(c *Config) { c.Capture.Filter = "inbound" }, "capture.filter"},
		{"filter, loops", func(c *Config) { c.Capture.Filter = "ip6 protochain 6" }, "capture.filter"},
	} {
		c := valid()
		tc.mod(&c)
		_, err := c.Spec()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: Spec() error %v, want a *FieldError for %s", tc.name, err, tc.field)
		}
	}
}

// TestSpecFilter: capture.filter reaches the Spec as libpcap's program
// for Ethernet (what tcpdump compiles for the expression); none gives no
// filter, so the RX loop runs unchanged; a bad one is one line naming
// the field, with libpcap's message.
func TestSpecFilter(t *testing.T) {
	c := valid()
	sp, err := c.Spec()
	if err != nil || sp.Filter != nil {
		t.Fatalf("no filter: Spec() = %+v, %v; want no filter", sp.Filter, err)
	}
	c.Capture.Filter = "tcp dst port 80 and not host 10.0.0.1"
	if sp, err = c.Spec(); err != nil {
		t.Fatal(err)
	}
	f, err := filter.New(filter.Spec{Expr: c.Capture.Filter})
	if err != nil {
		t.Fatal(err)
	}
	if sp.Filter == nil || sp.Filter.Expr != c.Capture.Filter || !reflect.DeepEqual(sp.Filter.Program, f.Program()) {
		t.Errorf("Spec().Filter = %+v, want %q compiled (%d instructions)", sp.Filter, c.Capture.Filter, len(f.Program()))
	}
	c.Capture.Filter = "tcp prot 80"
	_, err = c.Spec()
	want := `capture.filter: filter "tcp prot 80": can't parse filter expression: syntax error`
	if err == nil || err.Error() != want {
		t.Errorf("bad filter: %v, want %q", err, want)
	}
}
