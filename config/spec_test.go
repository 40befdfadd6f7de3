package config

import (
	"errors"
	"fmt"
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
		IdleSleep:      50 * time.Microsecond,
		Mempool:        dpdk.MempoolSpec{Mbufs: 100000, Cache: 256, DataRoom: 2176},
		Routes:         []pipeline.RouteSpec{{Name: "default", Topic: "pkts", KeyUnit: time.Microsecond}},
		Kafka: pipeline.KafkaSpec{
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
		if sp.Routes[0].KeyUnit != tc.wantUnit || sp.Ports[0].Timestamp != tc.wantTS || sp.WorkerBurst != tc.wantWB {
			t.Errorf("%s/%s/%d: key unit %v, timestamp %v, worker burst %d; want %v, %v, %d", tc.unit, tc.ts,
				tc.workerBurst, sp.Routes[0].KeyUnit, sp.Ports[0].Timestamp, sp.WorkerBurst, tc.wantUnit, tc.wantTS, tc.wantWB)
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
	if err != nil || sp.Routes[0].Filter != nil {
		t.Fatalf("no filter: Spec() = %+v, %v; want no filter", sp.Routes, err)
	}
	c.Capture.Filter = "tcp dst port 80 and not host 10.0.0.1"
	if sp, err = c.Spec(); err != nil {
		t.Fatal(err)
	}
	f, err := filter.New(filter.Spec{Expr: c.Capture.Filter})
	if err != nil {
		t.Fatal(err)
	}
	if rf := sp.Routes[0].Filter; rf == nil || rf.Expr != c.Capture.Filter || !reflect.DeepEqual(rf.Program, f.Program()) {
		t.Errorf("Spec().Routes[0].Filter = %+v, want %q compiled (%d instructions)", rf, c.Capture.Filter, len(f.Program()))
	}
	c.Capture.Filter = "tcp prot 80"
	_, err = c.Spec()
	want := `capture.filter: filter "tcp prot 80": can't parse filter expression: syntax error`
	if err == nil || err.Error() != want {
		t.Errorf("bad filter: %v, want %q", err, want)
	}
}

// TestSpecRoutes: routes take their defaults from capture and kafka,
// capture.filter is and-ed with each route's filter (the program is
// libpcap's for the combined expression), sampling and partitioners are
// read, and each mistake is one error naming the route and the field.
func TestSpecRoutes(t *testing.T) {
	seven := 7
	c := valid()
	c.Capture.Filter = "not port 22"
	c.Capture.Snaplen = 96
	c.Kafka.Partitioner = "flow"
	c.Routes = []Route{
		{Name: "web", Filter: "tcp port 80", Topic: "web", Sample: "1/10"},
		{Name: "dns", Filter: "udp port 53", Topic: "dns", KeyUnit: "ms", Snaplen: &seven, Sample: "12.5%",
			Partitioner: "round_robin", Partitions: 8},
		{Name: "rest", Unmatched: true},
	}
	sp, err := c.Spec()
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		expr     string
		topic    string
		unit     time.Duration
		snaplen  int
		every    uint32
		fraction float64
		part     pipeline.Partitioner
		parts    int
	}{
		{"(not port 22) and (tcp port 80)", "web", time.Nanosecond, 96, 10, 0, pipeline.PartitionFlow, 0},
		{"(not port 22) and (udp port 53)", "dns", time.Millisecond, 7, 0, 0.125, pipeline.PartitionRoundRobin, 8},
		{"not port 22", "pcap", time.Nanosecond, 96, 0, 0, pipeline.PartitionFlow, 0},
	}
	for i, w := range want {
		r := sp.Routes[i]
		f, err := filter.New(filter.Spec{Expr: w.expr})
		if err != nil {
			t.Fatal(err)
		}
		if r.Filter == nil || r.Filter.Expr != w.expr || !reflect.DeepEqual(r.Filter.Program, f.Program()) ||
			r.Topic != w.topic || r.KeyUnit != w.unit || r.Snaplen != w.snaplen || r.Every != w.every ||
			r.Fraction != w.fraction || r.Partitioner != w.part || r.Partitions != w.parts || r.Name != c.Routes[i].Name {
			t.Errorf("route %d = %+v, want %+v", i, r, w)
		}
	}
	if !sp.Routes[2].Unmatched || sp.Routes[0].Unmatched {
		t.Errorf("unmatched: %v %v", sp.Routes[0].Unmatched, sp.Routes[2].Unmatched)
	}

	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"bad filter", func(c *Config) { c.Routes[1].Filter = "udp prot 53" },
			`routes[1] (dns).filter: filter "(not port 22) and (udp prot 53)": can't parse filter expression: syntax error`},
		{"same topic", func(c *Config) { c.Routes[1].Topic = "web" },
			`routes[1] (dns).topic: "web" is also route web's topic: a packet both keep would be stored twice; give each route its own topic, or merge their filters`},
		{"default topic twice", func(c *Config) { c.Routes[0].Topic = "" },
			`routes[2] (rest).topic: "pcap" is also route web's topic: a packet both keep would be stored twice; give each route its own topic, or merge their filters`},
		{"same name", func(c *Config) { c.Routes[2].Name = "web" }, `routes[2].name: "web" is also routes[0]'s name`},
		{"no name", func(c *Config) { c.Routes[0].Name = "" },
			`routes[0].name: "": name the route with letters, digits, '.', '_' or '-'`},
		{"bad sample", func(c *Config) { c.Routes[0].Sample = "1/0" },
			`routes[0] (web).sample: "1/0": write 1/N with N a whole number from 1 to 4294967295, or a percentage such as 12.5%`},
		{"bad percentage", func(c *Config) { c.Routes[0].Sample = "150%" },
			`routes[0] (web).sample: "150%": a percentage is above 0 and at most 100, e.g. 12.5%`},
		{"bad capture sample", func(c *Config) { c.Capture.Sample = "half" },
			`capture.sample: "half": write 1/N (keep one packet in N) or P% (keep each with probability P/100)`},
		{"bad partitioner", func(c *Config) { c.Routes[0].Partitioner = "hash" },
			`routes[0] (web).partitioner: partitioner "hash": use key, flow or round_robin`},
		{"bad snaplen", func(c *Config) { n := -1; c.Routes[0].Snaplen = &n },
			`routes[0] (web).snaplen: -1: use 0 (whole frames) or 1 to 262144 (tcpdump's largest)`},
		{"too many", func(c *Config) {
			for i := 0; i < 30; i++ {
				c.Routes = append(c.Routes, Route{Name: fmt.Sprint("r", i), Topic: fmt.Sprint("t", i)})
			}
		}, `routes: 33 routes: at most 32`},
	} {
		c := valid()
		c.Capture.Filter = "not port 22"
		c.Routes = []Route{{Name: "web", Filter: "tcp port 80", Topic: "web"}, {Name: "dns", Filter: "udp port 53", Topic: "dns"},
			{Name: "rest", Unmatched: true}}
		tc.mod(&c)
		if _, err := c.Spec(); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v\nwant %s", tc.name, err, tc.want)
		}
	}
}

// TestParseSample: every form sampling is written in.
func TestParseSample(t *testing.T) {
	for _, tc := range []struct {
		in       string
		every    uint32
		fraction float64
		bad      bool
	}{
		{"", 0, 0, false}, {"1/1", 0, 0, false}, {"1/10", 10, 0, false}, {" 1/ 3 ", 3, 0, false},
		{"100%", 0, 0, false}, {"50%", 0, 0.5, false}, {"0.1%", 0, 0.001, false},
		{"0%", 0, 0, true}, {"1/0", 0, 0, true}, {"2/10", 0, 0, true}, {"10", 0, 0, true}, {"1/-3", 0, 0, true},
		{"1/4294967296", 0, 0, true}, {"NaN%", 0, 0, true},
	} {
		e, f, err := parseSample(tc.in)
		if e != tc.every || f != tc.fraction || (err != nil) != tc.bad {
			t.Errorf("parseSample(%q) = %d, %g, %v", tc.in, e, f, err)
		}
	}
}
