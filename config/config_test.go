package config

import (
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/yamlconf"
)

const examplePath = "fastcapa.example.yaml"

// valid is the smallest configuration that passes Validate: the defaults,
// one port and a broker.
func valid() Config {
	c := Defaults()
	c.Ports = []Port{{Name: "net_pcap0"}}
	c.Kafka.Properties["bootstrap.servers"] = "127.0.0.1:9092"
	return c
}

func TestExampleLoadsAndValidates(t *testing.T) {
	c, err := Load(examplePath)
	if err != nil {
		t.Fatalf("Load(%s): %v", examplePath, err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"eal.lcores", c.EAL.Lcores, "0,1"},
		{"eal.huge_pages", c.EAL.HugePages != nil && !*c.EAL.HugePages, true},
		{"eal.no_pci", c.EAL.NoPCI, true},
		{"eal.vdevs", len(c.EAL.Vdevs), 1},
		{"ports", len(c.Ports), 1},
		{"ports[0].name", c.Ports[0].Name, "net_pcap0"},
		{"ports[0].timestamp", c.Ports[0].Timestamp, "auto"},
		{"capture.ring_size", c.Capture.RingSize, 32768},
		{"kafka.topic", c.Kafka.Topic, "pcap"},
		{"kafka.properties", c.Kafka.Properties, map[string]string{"bootstrap.servers": "127.0.0.1:9092"}},
		{"kafka.queue_full_timeout", c.Kafka.QueueFullTimeout, time.Second},
		{"shutdown.flush_timeout", c.Shutdown.FlushTimeout, 30 * time.Second},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %#v, want %#v", tc.name, tc.got, tc.want)
		}
	}
	// The vdev is the port: its name is what precedes the first comma.
	if name, _, _ := strings.Cut(c.EAL.Vdevs[0], ","); name != c.Ports[0].Name {
		t.Errorf("vdev %q does not name port %q", c.EAL.Vdevs[0], c.Ports[0].Name)
	}
}

// TestExampleDocumentsEveryField walks Config's YAML tags and looks for each
// one in the example, set or commented out, so a new field cannot go
// undocumented.
func TestExampleDocumentsEveryField(t *testing.T) {
	checkDocumented(t, examplePath, reflect.TypeOf(Config{}))
}

// checkDocumented fails for every YAML field of typ (nested structs and
// slices of them included) that the example file at path does not name,
// as "key:" or "# key:" at the start of a line.
func checkDocumented(t *testing.T, path string, typ reflect.Type) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range yamlconf.Undocumented(raw, typ) {
		t.Errorf("%s: field %s is not documented", path, f)
	}
}

func TestDecodeRejectsUnknownFields(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, field string
	}{
		{"top level", "bogus: 1\n", "bogus"},
		{"eal", "eal:\n  huge_page: false\n", "huge_page"},
		{"ports item", "ports:\n  - name: net_pcap0\n    rx_queue: 2\n", "rx_queue"},
		{"capture", "capture:\n  ring_sise: 1024\n", "ring_sise"},
		{"kafka", "kafka:\n  brokers: 127.0.0.1:9092\n", "brokers"},
		{"shutdown", "shutdown:\n  timeout: 5s\n", "timeout"},
		{"log", "log:\n  lvl: debug\n", "lvl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tc.yaml))
			if err == nil {
				t.Fatalf("Decode accepted unknown field %q", tc.field)
			}
			if !strings.Contains(err.Error(), "field "+tc.field+" not found") {
				t.Errorf("error %q does not name field %q", err, tc.field)
			}
		})
	}
}

func TestDecodeRejectsBadTypes(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
	}{
		// yaml.v3 would otherwise read a bare 30 as 30ns.
		{"bare number duration", "shutdown:\n  flush_timeout: 30\n"},
		{"bad duration", "kafka:\n  queue_full_timeout: soon\n"},
		{"string for int", "capture:\n  burst: many\n"},
		{"list for property", "kafka:\n  properties:\n    bootstrap.servers: [a, b]\n"},
		{"map for ports", "ports:\n  name: net_pcap0\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decode(strings.NewReader(tc.yaml)); err == nil {
				t.Fatal("Decode accepted it")
			}
		})
	}
}

func TestDecodeEmptyKeepsDefaults(t *testing.T) {
	c, err := Decode(strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Defaults()) {
		t.Errorf("empty YAML gave %+v, want the defaults", c)
	}
}

// TestKafkaPropertiesScalars checks that librdkafka properties written as
// YAML numbers and booleans reach the string map as written.
func TestKafkaPropertiesScalars(t *testing.T) {
	const y = `
kafka:
  properties:
    bootstrap.servers: a:9092,b:9092
    linger.ms: 5
    enable.idempotence: true
    batch.size: 1000000
    compression.type: lz4
    acks: -1
`
	c, err := Decode(strings.NewReader(y))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"bootstrap.servers":  "a:9092,b:9092",
		"linger.ms":          "5",
		"enable.idempotence": "true",
		"batch.size":         "1000000",
		"compression.type":   "lz4",
		"acks":               "-1",
	}
	if !reflect.DeepEqual(c.Kafka.Properties, want) {
		t.Errorf("properties = %q, want %q", c.Kafka.Properties, want)
	}

	// A null map is still a map, so flags can add to it.
	c, err = Decode(strings.NewReader("kafka:\n  properties: ~\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Kafka.Properties == nil {
		t.Error("properties: ~ left a nil map")
	}
}

func TestValidateRejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"empty lcores", func(c *Config) { c.EAL.Lcores = "" }, "eal.lcores"},
		{"bad lcores", func(c *Config) { c.EAL.Lcores = "0,x" }, "eal.lcores"},
		{"backwards lcores", func(c *Config) { c.EAL.Lcores = "3-1" }, "eal.lcores"},
		{"negative memory", func(c *Config) { c.EAL.MemoryMB = -1 }, "eal.memory_mb"},
		{"in-memory without hugepages", func(c *Config) { c.EAL.InMemory = true; f := false; c.EAL.HugePages = &f }, "eal.in_memory"},
		{"no file prefix", func(c *Config) { c.EAL.FilePrefix = "" }, "eal.file_prefix"},
		{"no ports", func(c *Config) { c.Ports = nil }, "ports"},
		{"unnamed port", func(c *Config) { c.Ports = append(c.Ports, Port{}) }, "ports[1].name"},
		{"duplicate port", func(c *Config) { c.Ports = append(c.Ports, Port{Name: "net_pcap0"}) }, "ports[1].name"},
		{"negative rx_queues", func(c *Config) { c.Ports[0].RxQueues = -1 }, "ports[0].rx_queues"},
		{"too many rx_queues", func(c *Config) { c.Ports[0].RxQueues = 1025 }, "ports[0].rx_queues"},
		{"too few rx_descriptors", func(c *Config) { c.Ports[0].RxDescriptors = 31 }, "ports[0].rx_descriptors"},
		{"too many rx_descriptors", func(c *Config) { c.Ports[0].RxDescriptors = 32769 }, "ports[0].rx_descriptors"},
		{"negative mtu", func(c *Config) { c.Ports[0].MTU = -1 }, "ports[0].mtu"},
		{"huge mtu", func(c *Config) { c.Ports[0].MTU = 65536 }, "ports[0].mtu"},
		{"bad timestamp", func(c *Config) { c.Ports[0].Timestamp = "bogus" }, "ports[0].timestamp"},
		{"zero burst", func(c *Config) { c.Capture.Burst = 0 }, "capture.burst"},
		{"big burst", func(c *Config) { c.Capture.Burst = 1025 }, "capture.burst"},
		{"ring not power of two", func(c *Config) { c.Capture.RingSize = 1000 }, "capture.ring_size"},
		{"ring too small", func(c *Config) { c.Capture.RingSize = 32 }, "capture.ring_size"},
		{"pool smaller than the rings", func(c *Config) { c.Capture.RingSize = 1 << 17 }, "capture.mbufs"},
		{"ring zero", func(c *Config) { c.Capture.RingSize = 0 }, "capture.ring_size"},
		{"zero workers", func(c *Config) { c.Capture.WorkersPerRing = 0 }, "capture.workers_per_ring"},
		{"many workers", func(c *Config) { c.Capture.WorkersPerRing = 65 }, "capture.workers_per_ring"},
		{"few mbufs", func(c *Config) { c.Capture.Mbufs = 1023 }, "capture.mbufs"},
		{"negative mbuf cache", func(c *Config) { c.Capture.MbufCache = -1 }, "capture.mbuf_cache"},
		{"big mbuf cache", func(c *Config) { c.Capture.MbufCache = 513 }, "capture.mbuf_cache"},
		{"small data room", func(c *Config) { c.Capture.MbufDataRoom = 383 }, "capture.mbuf_data_room"},
		{"big data room", func(c *Config) { c.Capture.MbufDataRoom = 65536 }, "capture.mbuf_data_room"},
		{"no topic", func(c *Config) { c.Kafka.Topic = "" }, "kafka.topic"},
		{"bad key unit", func(c *Config) { c.Kafka.KeyUnit = "s" }, "kafka.key_unit"},
		{"no brokers", func(c *Config) { delete(c.Kafka.Properties, "bootstrap.servers") }, "kafka.properties.bootstrap.servers"},
		{"blank brokers", func(c *Config) { c.Kafka.Properties["bootstrap.servers"] = "  " }, "kafka.properties.bootstrap.servers"},
		{"go property", func(c *Config) { c.Kafka.Properties["go.delivery.reports"] = "false" }, "kafka.properties.go.delivery.reports"},
		{"negative queue_full_timeout", func(c *Config) { c.Kafka.QueueFullTimeout = -time.Second }, "kafka.queue_full_timeout"},
		{"zero flush_timeout", func(c *Config) { c.Shutdown.FlushTimeout = 0 }, "shutdown.flush_timeout"},
		{"negative flush_timeout", func(c *Config) { c.Shutdown.FlushTimeout = -time.Second }, "shutdown.flush_timeout"},
		{"bad log level", func(c *Config) { c.Log.Level = "trace" }, "log.level"},
		{"bad log format", func(c *Config) { c.Log.Format = "xml" }, "log.format"},
		{"negative stats_interval", func(c *Config) { c.Log.StatsInterval = -time.Second }, "log.stats_interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.edit(&c)
			err := c.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate() = %v, want a *FieldError for %s", err, tc.field)
			}
			if fe.Field != tc.field {
				t.Errorf("field = %q, want %q (error: %v)", fe.Field, tc.field, err)
			}
			if fe.Msg == "" || !strings.HasPrefix(err.Error(), tc.field+": ") {
				t.Errorf("error %q: want %q followed by what is wrong", err, tc.field+": ")
			}
		})
	}
}

// TestValidateAcceptsBounds sets each checked value to the edge of its
// range, which must pass.
func TestValidateAcceptsBounds(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"as is", func(*Config) {}},
		{"lcore ranges", func(c *Config) { c.EAL.Lcores = "0,2-4,7"; c.Capture.Mbufs = 1 << 18 }},
		{"in memory without prefix", func(c *Config) { c.EAL.FilePrefix = ""; c.EAL.InMemory = true }},
		{"max rx_queues", func(c *Config) { c.Ports[0].RxQueues = 1024; c.Capture.Mbufs = 1 << 21 }},
		{"min rx_descriptors", func(c *Config) { c.Ports[0].RxDescriptors = 32 }},
		{"max rx_descriptors", func(c *Config) { c.Ports[0].RxDescriptors = 32768; c.Capture.Mbufs = 1 << 17 }},
		{"max mtu", func(c *Config) { c.Ports[0].MTU = 65535 }},
		{"tsc", func(c *Config) { c.Ports[0].Timestamp = "tsc" }},
		{"device", func(c *Config) { c.Ports[0].Timestamp = "device" }},
		{"two ports", func(c *Config) { c.Ports = append(c.Ports, Port{Name: "0000:01:00.0"}) }},
		{"min burst", func(c *Config) { c.Capture.Burst = 1 }},
		{"max burst", func(c *Config) { c.Capture.Burst = 1024; c.Capture.Mbufs = 1 << 17 }},
		{"min ring", func(c *Config) { c.Capture.RingSize = 64 }},
		{"max workers", func(c *Config) { c.Capture.WorkersPerRing = 64; c.Capture.Mbufs = 1 << 17 }},
		{"min mbufs", func(c *Config) {
			c.Capture.Mbufs = 1024
			c.Capture.RingSize = 256
			c.Ports[0].RxDescriptors = 256
			c.Capture.MbufCache = 64
		}},
		{"no mbuf cache", func(c *Config) { c.Capture.MbufCache = 0 }},
		{"max mbuf cache", func(c *Config) { c.Capture.MbufCache = 512 }},
		{"min data room", func(c *Config) { c.Capture.MbufDataRoom = 384 }},
		{"max data room", func(c *Config) { c.Capture.MbufDataRoom = 65535 }},
		{"us", func(c *Config) { c.Kafka.KeyUnit = "us" }},
		{"µs", func(c *Config) { c.Kafka.KeyUnit = "µs" }},
		{"ms", func(c *Config) { c.Kafka.KeyUnit = "ms" }},
		{"no queue wait", func(c *Config) { c.Kafka.QueueFullTimeout = 0 }},
		{"json debug", func(c *Config) { c.Log.Level = "debug"; c.Log.Format = "json" }},
		{"stats", func(c *Config) { c.Log.StatsInterval = 10 * time.Second }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.edit(&c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestValidateFillsPortDefaults(t *testing.T) {
	no := false
	c := valid()
	c.Ports = append(c.Ports, Port{Name: "net_pcap1", RxQueues: 4, Promiscuous: &no, RSS: &no, Timestamp: "tsc"})
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	p := c.Ports[0]
	if p.RxQueues != 1 || p.RxDescriptors != 1024 || p.MTU != 0 || !*p.Promiscuous || !*p.RSS || p.Timestamp != "auto" {
		t.Errorf("defaults: got %+v (promiscuous %v, rss %v)", p, *p.Promiscuous, *p.RSS)
	}
	p = c.Ports[1]
	if p.RxQueues != 4 || *p.Promiscuous || *p.RSS || p.Timestamp != "tsc" {
		t.Errorf("explicit values overridden: got %+v (promiscuous %v, rss %v)", p, *p.Promiscuous, *p.RSS)
	}
}

func TestParseLcores(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
	}{
		{"0", []int{0}},
		{"0,1", []int{0, 1}},
		{"0-3", []int{0, 1, 2, 3}},
		{"3,0-1", []int{0, 1, 3}},
		{"0-2,1-3", []int{0, 1, 2, 3}},
		{"5,5", []int{5}},
		{" 0 , 2 ", []int{0, 2}},
		{"2-2", []int{2}},
		{"10,127", []int{10, 127}},
		// --lcores form: lcore ids before '@' count, CPUs do not.
		{"0@0,1@1,2@1", []int{0, 1, 2}},
		{"0@0,(1-2)@(1)", []int{0, 1, 2}},
		{"(0,3)@0,5@(0-1)", []int{0, 3, 5}},
	} {
		got, err := ParseLcores(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseLcores(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"", " ", "x", "0,x", "-1", "1-", "-", "3-1", "01", "+1", "0,,1", "1.5", "0-2-4", "0 - 2", "0x1",
		"x@1", "(0-1", "200@1",
	} {
		if got, err := ParseLcores(in); err == nil {
			t.Errorf("ParseLcores(%q) = %v, want an error", in, got)
		}
	}
}

func TestEALArgsNoHuge(t *testing.T) {
	no := false
	c := valid()
	c.EAL.HugePages = &no
	c.EAL.NoPCI = true
	c.EAL.Vdevs = []string{"net_pcap0,rx_pcap=a.pcap", "net_null0"}
	c.EAL.Args = []string{"--log-level", "pmd.net.pcap:debug"}
	args := c.EALArgs()

	// adjacent reports whether args holds a then b, next to each other.
	adjacent := func(a, b string) bool {
		for i := 0; i+1 < len(args); i++ {
			if args[i] == a && args[i+1] == b {
				return true
			}
		}
		return false
	}
	for _, pair := range [][2]string{
		{"-l", "0,1"},
		{"-m", "512"},
		{"--file-prefix", "fastcapa"},
		{"--vdev", c.EAL.Vdevs[0]},
		{"--vdev", c.EAL.Vdevs[1]},
	} {
		if !adjacent(pair[0], pair[1]) {
			t.Errorf("EALArgs() = %q: no %q %q", args, pair[0], pair[1])
		}
	}
	for _, flag := range []string{"--no-huge", "--no-pci", "--no-telemetry"} {
		if !slices.Contains(args, flag) {
			t.Errorf("EALArgs() = %q: no %s", args, flag)
		}
	}
	if n := len(c.EAL.Args); len(args) < n || !slices.Equal(args[len(args)-n:], c.EAL.Args) {
		t.Errorf("EALArgs() = %q: eal.args %q not last", args, c.EAL.Args)
	}
}

func TestEALArgs(t *testing.T) {
	yes, no, main := true, false, 2
	for _, tc := range []struct {
		name string
		eal  EAL
		want []string
	}{
		{"defaults", Defaults().EAL,
			[]string{"-l", "0,1", "--file-prefix", "fastcapa", "--no-telemetry"}},
		{"huge pages explicit", EAL{Lcores: "0-3", HugePages: &yes, FilePrefix: "p"},
			[]string{"-l", "0-3", "--file-prefix", "p", "--no-telemetry"}},
		{"no huge, own memory", EAL{Lcores: "0,1", HugePages: &no, MemoryMB: 1024, InMemory: true, Telemetry: true},
			[]string{"-l", "0,1", "--no-huge", "-m", "1024", "--in-memory"}},
		{"everything", EAL{Lcores: "1-3", MainLcore: &main, MemoryMB: 2048, FilePrefix: "fc",
			Allow: []string{"0000:01:00.0", "0000:01:00.1"}, Vdevs: []string{"net_null0"}, Args: []string{"--huge-unlink"}},
			[]string{"-l", "1-3", "--main-lcore", "2", "-m", "2048", "--file-prefix", "fc",
				"-a", "0000:01:00.0", "-a", "0000:01:00.1", "--vdev", "net_null0", "--no-telemetry", "--huge-unlink"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{EAL: tc.eal}
			if got := c.EALArgs(); !slices.Equal(got, tc.want) {
				t.Errorf("EALArgs() =\n\t%q\nwant\n\t%q", got, tc.want)
			}
		})
	}
}

func TestEALArgsLcoreMapping(t *testing.T) {
	c := Defaults()
	c.EAL.Lcores = "0@0,(1-2)@1"
	args := c.EALArgs()
	if args[0] != "--lcores" || args[1] != "0@0,(1-2)@1" {
		t.Errorf("EALArgs() = %v, want --lcores with the mapping", args[:2])
	}
	c.EAL.Lcores = "0-2"
	if args := c.EALArgs(); args[0] != "-l" {
		t.Errorf("EALArgs() = %v, want -l for a plain list", args[:2])
	}
}
