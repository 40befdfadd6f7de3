package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/kafka"
)

const metronConf = "testdata/fastcapa.conf"

// Command lines from apache/metron: the README's usage example, and the
// init script its Ansible role installs (DAEMONOPTS, word-split by the
// shell, with the role's defaults).
var (
	metronReadme = strings.Fields("-c 0x03 --huge-dir /mnt/huge_1GB -- -p 0x01 -t pcap -c /etc/fastcapa.conf")
	metronInitD  = strings.Fields("  --  -p 0x01 -t pcap -c /etc/fastcapa.conf -b 32 -w 256 -d 1024 -q 1 -x 2048 ")
)

// withConf replaces the path given to fastcapa's -c with conf.
func withConf(args []string, conf string) []string {
	out := slices.Clone(args)
	sep := slices.Index(out, "--")
	for i := sep + 1; i+1 < len(out); i++ {
		if out[i] == "-c" {
			out[i+1] = conf
		}
	}
	return out
}

// writeINI writes a Kafka configuration file and returns its path.
func writeINI(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fastcapa.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// withCPUs makes the process look allowed to run on cpus for one test.
func withCPUs(t *testing.T, cpus ...int) {
	t.Helper()
	old := allowedCPUs
	allowedCPUs = func() ([]int, error) { return cpus, nil }
	t.Cleanup(func() { allowedCPUs = old })
}

func TestIsMetronArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{metronReadme, true},
		{metronInitD, true},
		{[]string{"--"}, true},
		{[]string{"-l", "0-3", "--"}, true},
		{nil, false},
		{[]string{"-config", "/etc/fastcapa/fastcapa.yaml"}, false},
		{[]string{"--config", "x.yaml", "--topic", "pcap"}, false},
		{[]string{"-c", "0x03"}, false},
		{[]string{"---"}, false},
	} {
		if got := IsMetronArgs(tc.args); got != tc.want {
			t.Errorf("IsMetronArgs(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestParseMetronArgs(t *testing.T) {
	// want starts from fastcapa's defaults (src/args.h).
	want := func(edit func(*MetronArgs)) MetronArgs {
		m := MetronArgs{PortMask: 0x01, RxBurst: 32, TxBurst: 256, RxDesc: 1024, RingSize: 2048, RxQueues: 1, Topic: "pcap"}
		edit(&m)
		return m
	}
	for _, tc := range []struct {
		name string
		args []string
		want MetronArgs
	}{
		{"metron readme", metronReadme, want(func(m *MetronArgs) {
			m.EAL = []string{"-c", "0x03", "--huge-dir", "/mnt/huge_1GB"}
			m.KafkaConf = "/etc/fastcapa.conf"
		})},
		{"metron init script", metronInitD, want(func(m *MetronArgs) {
			m.EAL = []string{}
			m.KafkaConf = "/etc/fastcapa.conf"
		})},
		{"every option", strings.Fields("-l 0-3 --huge-dir /mnt/huge_1GB -- -p 0x01 -b 64 -w 512 -d 1024 -x 262144 " +
			"-q 1 -t pcap -c /etc/fastcapa.conf -s /var/log/fastcapa-stats.json"), want(func(m *MetronArgs) {
			m.EAL = []string{"-l", "0-3", "--huge-dir", "/mnt/huge_1GB"}
			m.RxBurst, m.TxBurst, m.RingSize = 64, 512, 262144
			m.KafkaConf, m.StatsFile = "/etc/fastcapa.conf", "/var/log/fastcapa-stats.json"
		})},
		{"attached values", strings.Fields("-- -p0x3 -b16 -w128 -d512 -x4096 -q2 -tpackets -c/etc/f.conf -s/tmp/s.json"),
			want(func(m *MetronArgs) {
				m.EAL = []string{}
				m.PortMask, m.RxBurst, m.TxBurst, m.RxDesc, m.RingSize, m.RxQueues = 0x3, 16, 128, 512, 4096, 2
				m.Topic, m.KafkaConf, m.StatsFile = "packets", "/etc/f.conf", "/tmp/s.json"
			})},
		{"mask without 0x", []string{"--", "-p", "3"}, want(func(m *MetronArgs) { m.EAL = []string{}; m.PortMask = 3 })},
		{"mask upper case", []string{"--", "-p", "0XfF"}, want(func(m *MetronArgs) { m.EAL = []string{}; m.PortMask = 0xff })},
		{"mask of 64 ports", []string{"--", "-p", "0xffffffffffffffff"},
			want(func(m *MetronArgs) { m.EAL = []string{}; m.PortMask = 1<<64 - 1 })},
		{"largest burst", []string{"--", "-b", "1024"}, want(func(m *MetronArgs) { m.EAL = []string{}; m.RxBurst = 1024 })},
		{"smallest ring", []string{"--", "-x", "1"}, want(func(m *MetronArgs) { m.EAL = []string{}; m.RingSize = 1 })},
		{"last one wins", strings.Fields("-- -t a -t b"), want(func(m *MetronArgs) { m.EAL = []string{}; m.Topic = "b" })},
		{"nothing after --", []string{"--"}, want(func(m *MetronArgs) { m.EAL = []string{} })},
		{"no -- : all EAL", []string{"-l", "0-1", "-n", "4"}, want(func(m *MetronArgs) { m.EAL = []string{"-l", "0-1", "-n", "4"} })},
		{"help", []string{"--", "-h"}, want(func(m *MetronArgs) { m.EAL = []string{}; m.Help = true })},
		// getopt: -h stops the parse, so what follows is not looked at.
		{"help first", strings.Fields("-- -t a -h -z"), want(func(m *MetronArgs) { m.EAL = []string{}; m.Topic = "a"; m.Help = true })},
		{"help attached", strings.Fields("-- -hz"), want(func(m *MetronArgs) { m.EAL = []string{}; m.Help = true })},
		// EAL options are not looked at here, "-c" and "-h" included.
		{"EAL verbatim", strings.Fields("-c 3 -h --lcores=(0-1)@0 -- -c f.conf"), want(func(m *MetronArgs) {
			m.EAL = []string{"-c", "3", "-h", "--lcores=(0-1)@0"}
			m.KafkaConf = "f.conf"
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMetronArgs(tc.args)
			if err != nil {
				t.Fatalf("ParseMetronArgs(%q): %v", tc.args, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseMetronArgs(%q)\n got %+v\nwant %+v", tc.args, got, tc.want)
			}
		})
	}
}

func TestParseMetronArgsRejects(t *testing.T) {
	for _, tc := range []struct {
		app  string // after "--"
		want string // the error names this
	}{
		{"-z", "-z"},
		{"-p 0x01 -y 3", "-y"},
		{"--port 0x01", "--port"},
		{"-p", "-p"},
		{"-t pcap -c", "-c"},
		{"-p zz", "-p"},
		{"-p 0x", "-p"},
		{"-p -1", "-p"},
		{"-p +1", "-p"},
		{"-p 0", "names no port"},
		{"-p 0x00", "names no port"},
		{"-p 0x1ffffffffffffffff", "64"},
		{"-b 0", "-b"},
		{"-b 1025", "-b"},
		{"-b many", "-b"},
		{"-b 32k", "-b"},
		{"-w 0", "-w"},
		{"-w -5", "-w"},
		{"-d 0", "-d"},
		{"-d 65536", "-d"},
		{"-d 1k", "-d"},
		{"-q 0", "-q"},
		{"-q two", "-q"},
		{"-x 0", "-x"},
		{"-x 3000", "power of two"},
		{"-x 2048.0", "-x"},
		{"-x 4294967296", "-x"},
		{"-t pcap extra", "extra"},
		{"-", `"-"`},
		{"-t pcap -- -p 1", `"--"`},
	} {
		t.Run(tc.app, func(t *testing.T) {
			args := append([]string{"-l", "0-1", "--"}, strings.Fields(tc.app)...)
			_, err := ParseMetronArgs(args)
			if err == nil {
				t.Fatalf("ParseMetronArgs(%q) accepted it", args)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
		})
	}
	// Empty values, which strings.Fields cannot write.
	for _, opt := range []string{"-t", "-c", "-s"} {
		if _, err := ParseMetronArgs([]string{"--", opt, ""}); err == nil || !strings.Contains(err.Error(), opt) {
			t.Errorf("%s \"\": error %v, want one naming %s", opt, err, opt)
		}
	}
}

// TestMetronUsage checks that the help lists every option with the
// default ParseMetronArgs uses.
func TestMetronUsage(t *testing.T) {
	d := metronDefaults()
	for _, opt := range []struct {
		flag, def string
	}{
		{"-p PORT_MASK", fmt.Sprintf("[0x%02x]", d.PortMask)},
		{"-b RX_BURST_SIZE", fmt.Sprintf("[%d]", d.RxBurst)},
		{"-w TX_BURST_SIZE", fmt.Sprintf("[%d]", d.TxBurst)},
		{"-d NB_RX_DESC", fmt.Sprintf("[%d]", d.RxDesc)},
		{"-x TX_RING_SIZE", fmt.Sprintf("[%d]", d.RingSize)},
		{"-q NB_RX_QUEUE", fmt.Sprintf("[%d]", d.RxQueues)},
		{"-t KAFKA_TOPIC", "[" + d.Topic + "]"},
		{"-c KAFKA_CONF", ""},
		{"-s KAFKA_STATS", ""},
		{"-h", ""},
	} {
		re := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(opt.flag) + ` .*` + regexp.QuoteMeta(opt.def) + `$`)
		if !re.MatchString(MetronUsage) {
			t.Errorf("MetronUsage has no line for %s ending in %q", opt.flag, opt.def)
		}
	}
	if !strings.HasPrefix(MetronUsage, "fastcapa [EAL options] -- [APP options]\n") {
		t.Errorf("MetronUsage does not start with fastcapa's synopsis")
	}
}

func TestLoadKafkaINI(t *testing.T) {
	got, err := LoadKafkaINI(metronConf)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"metadata.broker.list":         "127.0.0.1:9092",
		"client.id":                    "fastcapa",
		"compression.codec":            "lz4",
		"queue.buffering.max.messages": "1000000",
		"queue.buffering.max.ms":       "5",
		"batch.num.messages":           "10000",
		"statistics.interval.ms":       "5000",
		"request.required.acks":        "1",
		"message.timeout.ms":           "300000",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoadKafkaINI(%s)\n got %q\nwant %q", metronConf, got, want)
	}
}

func TestLoadKafkaINIForms(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       map[string]string
	}{
		{"metron readme", "[kafka-global]\nmetadata.broker.list = kafka-broker1:9092, kafka-broker2:9092\n",
			map[string]string{"metadata.broker.list": "kafka-broker1:9092, kafka-broker2:9092"}},
		{"comments and blanks", "# top\n\n[kafka-global]\n  # indented\n; semicolon\n\t\nclient.id = a\n   \n",
			map[string]string{"client.id": "a"}},
		{"no blanks around =", "[kafka-global]\nclient.id=a\n", map[string]string{"client.id": "a"}},
		{"blanks trimmed", "  [kafka-global]  \n\t client.id \t=\t a b \t\n", map[string]string{"client.id": "a b"}},
		{"both groups", "[kafka-global]\nclient.id = a\n[kafka-topic]\nrequest.required.acks = -1\n",
			map[string]string{"client.id": "a", "request.required.acks": "-1"}},
		{"group again", "[kafka-global]\na.b = 1\n[kafka-topic]\nc.d = 2\n[kafka-global]\ne.f = 3\n",
			map[string]string{"a.b": "1", "c.d": "2", "e.f": "3"}},
		// As GLib: the value is the rest of the line.
		{"= and # in value", "[kafka-global]\nsasl.oauthbearer.config = principal=x # y\n",
			map[string]string{"sasl.oauthbearer.config": "principal=x # y"}},
		{"empty value", "[kafka-global]\nclient.id =\n", map[string]string{"client.id": ""}},
		{"CRLF", "[kafka-global]\r\nclient.id = a\r\n", map[string]string{"client.id": "a"}},
		{"BOM", "\xef\xbb\xbf[kafka-global]\nclient.id = a\n", map[string]string{"client.id": "a"}},
		{"no final newline", "[kafka-global]\nclient.id = a", map[string]string{"client.id": "a"}},
		{"empty file", "", map[string]string{}},
		{"empty groups", "[kafka-global]\n[kafka-topic]\n", map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadKafkaINI(writeINI(t, tc.text))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLoadKafkaINIRejects(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		line       int      // the error names file:line
		want       []string // and these
	}{
		{"twice in a group", "[kafka-global]\nclient.id = a\n\nclient.id = b\n", 4, []string{"client.id", "twice", "line 2"}},
		{"in both groups", "[kafka-global]\nmessage.timeout.ms = 1\n[kafka-topic]\nmessage.timeout.ms = 2\n", 4,
			[]string{"message.timeout.ms", "[kafka-global] (line 2)", "[kafka-topic]"}},
		{"unknown group", "[kafka-global]\nclient.id = a\n[kafka-producer]\n", 3, []string{"[kafka-producer]"}},
		{"misspelt group", "[kafka_global]\nclient.id = a\n", 1, []string{"[kafka_global]"}},
		{"empty group", "[]\n", 1, []string{"unknown group"}},
		{"text after header", "[kafka-global] brokers\n", 1, []string{"group header"}},
		{"unclosed header", "[kafka-global\n", 1, []string{"group header"}},
		{"outside any group", "# brokers\nmetadata.broker.list = a:9092\n[kafka-global]\n", 2,
			[]string{"metadata.broker.list", "outside any group"}},
		{"no =", "[kafka-global]\nclient.id a\n", 2, []string{`"client.id a"`, "key = value"}},
		{"no = outside a group", "garbage\n", 1, []string{`"garbage"`}},
		{"empty key", "[kafka-global]\n = a\n", 2, []string{"no key"}},
		{"blank in key", "[kafka-global]\nclient id = a\n", 2, []string{`"client id"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeINI(t, tc.text)
			props, err := LoadKafkaINI(path)
			if err == nil {
				t.Fatalf("LoadKafkaINI accepted it: %q", props)
			}
			for _, w := range append([]string{fmt.Sprintf("%s:%d: ", path, tc.line)}, tc.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}

	missing := filepath.Join(t.TempDir(), "nope.conf")
	if _, err := LoadKafkaINI(missing); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: error %v, want one naming %s that is os.ErrNotExist", err, missing)
	}
}

// metronConfig parses a fastcapa command line and builds its Config.
func metronConfig(t *testing.T, args []string) (Config, error) {
	t.Helper()
	m, err := ParseMetronArgs(args)
	if err != nil {
		t.Fatalf("ParseMetronArgs(%q): %v", args, err)
	}
	return m.Config()
}

func TestMetronConfigReadme(t *testing.T) {
	c, err := metronConfig(t, withConf(metronReadme, metronConf))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	yes := true
	wantPorts := []Port{{Name: "0", RxQueues: 1, RxDescriptors: 1024, Promiscuous: &yes, RSS: &yes, Timestamp: "auto", Optional: true}}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"eal.lcores", c.EAL.Lcores, "0-1"},
		{"eal.main_lcore", c.EAL.MainLcore, (*int)(nil)},
		{"eal.file_prefix", c.EAL.FilePrefix, "rte"},
		{"eal.args", c.EAL.Args, []string{"--huge-dir", "/mnt/huge_1GB"}},
		{"ports", c.Ports, wantPorts},
		{"capture.burst", c.Capture.Burst, 32},
		{"capture.worker_burst", c.Capture.WorkerBurst, 256},
		{"kafka.stats_file", c.Kafka.StatsFile, ""},
		{"capture.ring_size", c.Capture.RingSize, 2048},
		{"capture.rx_lcores", c.Capture.RxLcores, []int{1}},
		{"capture.workers_per_ring", c.Capture.WorkersPerRing, 1},
		{"capture.mbufs", c.Capture.Mbufs, Defaults().Capture.Mbufs},
		{"kafka.topic", c.Kafka.Topic, "pcap"},
		{"kafka.key_unit", c.Kafka.KeyUnit, "us"},
		{"bootstrap.servers", c.Kafka.Properties["bootstrap.servers"], "127.0.0.1:9092"},
		{"metadata.broker.list", c.Kafka.Properties["metadata.broker.list"], ""},
		{"topic property", c.Kafka.Properties["request.required.acks"], "1"},
		{"property count", len(c.Kafka.Properties), 9},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %#v, want %#v", tc.name, tc.got, tc.want)
		}
	}
	if unit, err := kafka.ParseKeyUnit(c.Kafka.KeyUnit); err != nil || unit != time.Microsecond {
		t.Errorf("key unit %q is not microseconds", c.Kafka.KeyUnit)
	}
	// DPDK refuses two lcore options: -c became eal.lcores, not an arg.
	args := c.EALArgs()
	if n := countLcoreOptions(args); n != 1 {
		t.Errorf("EALArgs() = %q: %d lcore options, want 1", args, n)
	}
}

// countLcoreOptions counts -l, -c and --lcores in EAL arguments.
func countLcoreOptions(args []string) int {
	n := 0
	for _, a := range args {
		if name, _, ok := ealOption(a); ok && (name == "-l" || name == "-c" || name == "--lcores") {
			n++
		}
	}
	return n
}

func TestMetronConfig(t *testing.T) {
	withCPUs(t, 0, 1, 2, 3, 4, 5, 6, 7)
	bs := writeINI(t, "[kafka-global]\nbootstrap.servers = a:9092,b:9092\n")
	both := writeINI(t, "[kafka-global]\nbootstrap.servers = a:9092\nmetadata.broker.list = a:9092\n")
	for _, tc := range []struct {
		name  string
		args  []string
		check func(t *testing.T, c Config)
	}{
		{"metron init script: DPDK's lcores", withConf(metronInitD, metronConf), func(t *testing.T, c Config) {
			// fastcapa: lcore 0 main, 1 receives, 2-7 transmit.
			expect(t, "eal.lcores", c.EAL.Lcores, "0-7")
			expect(t, "eal.args", c.EAL.Args, []string(nil))
			expect(t, "capture.rx_lcores", c.Capture.RxLcores, []int{1})
			expect(t, "capture.workers_per_ring", c.Capture.WorkersPerRing, 6)
		}},
		{"queues, lcores and ports", strings.Fields("-l 0-7 -n 4 -- -p 0x5 -q 2 -d 2048 -b 64 -c " + metronConf),
			func(t *testing.T, c Config) {
				expect(t, "eal.lcores", c.EAL.Lcores, "0-7")
				expect(t, "eal.args", c.EAL.Args, []string{"-n", "4"})
				expect(t, "port names", []string{c.Ports[0].Name, c.Ports[1].Name}, []string{"0", "2"})
				for _, p := range c.Ports {
					expect(t, "rx_queues", p.RxQueues, 2)
					expect(t, "rx_descriptors", p.RxDescriptors, 2048)
				}
				expect(t, "capture.burst", c.Capture.Burst, 64)
				expect(t, "capture.rx_lcores", c.Capture.RxLcores, []int{1, 2})
				expect(t, "capture.workers_per_ring", c.Capture.WorkersPerRing, 2) // 5 transmit lcores over 2 rings
			}},
		{"more queues than lcores", strings.Fields("-l 0-2 -- -q 4 -c " + metronConf), func(t *testing.T, c Config) {
			expect(t, "capture.rx_lcores", c.Capture.RxLcores, []int{1, 2})
			expect(t, "capture.workers_per_ring", c.Capture.WorkersPerRing, 1)
		}},
		{"attached forms, legacy names", []string{"-l0,2-3", "--master-lcore=3", "--file-prefix=fc1", "-w", "0000:01:00.0",
			"-w0000:02:00.0", "--pci-whitelist=0000:03:00.0", "--pci-blacklist", "0000:04:00.0", "--", "-c", metronConf},
			func(t *testing.T, c Config) {
				expect(t, "eal.lcores", c.EAL.Lcores, "0,2-3")
				expect(t, "eal.main_lcore", *c.EAL.MainLcore, 3)
				expect(t, "eal.file_prefix", c.EAL.FilePrefix, "fc1")
				expect(t, "eal.args", c.EAL.Args, []string{"-a", "0000:01:00.0", "-a", "0000:02:00.0", "-a", "0000:03:00.0",
					"-b", "0000:04:00.0"})
				expect(t, "capture.rx_lcores", c.Capture.RxLcores, []int{0})
				expect(t, "capture.workers_per_ring", c.Capture.WorkersPerRing, 1)
			}},
		{"--main-lcore and --lcores", strings.Fields("--lcores=(0-3)@0 --main-lcore 1 -- -c " + metronConf),
			func(t *testing.T, c Config) {
				expect(t, "eal.lcores", c.EAL.Lcores, "(0-3)@0")
				expect(t, "eal.main_lcore", *c.EAL.MainLcore, 1)
				expect(t, "capture.rx_lcores", c.Capture.RxLcores, []int{0})
				expect(t, "capture.workers_per_ring", c.Capture.WorkersPerRing, 2)
				if args := c.EALArgs(); !slices.Contains(args, "--lcores") || countLcoreOptions(args) != 1 {
					t.Errorf("EALArgs() = %q, want one --lcores", args)
				}
			}},
		{"coremask without 0x", strings.Fields("-c f0 -- -c " + metronConf), func(t *testing.T, c Config) {
			expect(t, "eal.lcores", c.EAL.Lcores, "4-7")
			expect(t, "capture.rx_lcores", c.Capture.RxLcores, []int{5})
		}},
		{"big rings: the pool grows", strings.Fields("-l 0-3 --huge-dir /mnt/huge_1GB -- -p 0x01 -d 1024 -x 262144 -q 1 -t pcap -c " +
			metronConf), func(t *testing.T, c Config) {
			expect(t, "capture.ring_size", c.Capture.RingSize, 262144)
			if need := c.mbufsNeeded(4); c.Capture.Mbufs < need || c.Capture.Mbufs&(c.Capture.Mbufs+1) == 0 {
				t.Errorf("capture.mbufs = %d, want at least %d and not 2^n-1", c.Capture.Mbufs, need)
			}
		}},
		{"bootstrap.servers", strings.Fields("-l 0-1 -- -c " + bs), func(t *testing.T, c Config) {
			expect(t, "properties", c.Kafka.Properties, map[string]string{"bootstrap.servers": "a:9092,b:9092"})
		}},
		{"both broker names, same list", strings.Fields("-l 0-1 -- -c " + both), func(t *testing.T, c Config) {
			expect(t, "properties", c.Kafka.Properties, map[string]string{"bootstrap.servers": "a:9092"})
		}},
		{"topic and stats", strings.Fields("-l 0-1 -- -t packets -s /tmp/stats.json -c " + metronConf),
			func(t *testing.T, c Config) { expect(t, "kafka.topic", c.Kafka.Topic, "packets") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := metronConfig(t, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			expect(t, "kafka.key_unit", c.Kafka.KeyUnit, "us")
			tc.check(t, c)
		})
	}
}

func expect(t *testing.T, name string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", name, got, want)
	}
}

func TestMetronConfigRejects(t *testing.T) {
	withCPUs(t, 0, 1)
	noBroker := writeINI(t, "[kafka-global]\nclient.id = fastcapa\n")
	blankBroker := writeINI(t, "[kafka-global]\nmetadata.broker.list =\n")
	twoBrokers := writeINI(t, "[kafka-global]\nmetadata.broker.list = a:9092\nbootstrap.servers = b:9092\n")
	goProp := writeINI(t, "[kafka-global]\nmetadata.broker.list = a:9092\ngo.batch.producer = true\n")
	badINI := writeINI(t, "[kafka-global]\nmetadata.broker.list: a:9092\n")
	missing := filepath.Join(t.TempDir(), "missing.conf")
	for _, tc := range []struct {
		name  string
		args  string
		want  []string // the error contains these
		field string   // and is a *FieldError for this field, if set
	}{
		{"no -c", "-l 0-1 -- -p 0x01", []string{"-c KAFKA_CONF", "not given"}, ""},
		{"-c missing", "-l 0-1 -- -c " + missing, []string{"-c", missing}, ""},
		{"-c malformed", "-l 0-1 -- -c " + badINI, []string{"-c", badINI + ":2:"}, ""},
		{"no broker", "-l 0-1 -- -c " + noBroker, []string{"-c " + noBroker, "metadata.broker.list"}, ""},
		{"blank broker", "-l 0-1 -- -c " + blankBroker, []string{"-c " + blankBroker, "no broker"}, ""},
		{"two broker lists", "-l 0-1 -- -c " + twoBrokers, []string{"metadata.broker.list", "bootstrap.servers", "differ"}, ""},
		{"go property", "-l 0-1 -- -c " + goProp, []string{"-c " + goProp + ": "}, "kafka.properties.go.batch.producer"},
		{"two lcore options", "-l 0-1 -c 0x3 -- -c " + metronConf, []string{"-l", "-c", "keep one"}, ""},
		{"-l and --lcores", "-l 0-1 --lcores=0-1 -- -c " + metronConf, []string{"-l", "--lcores"}, ""},
		{"bad coremask", "-c 0xZ -- -c " + metronConf, []string{"EAL options", "-c", "coremask"}, ""},
		{"empty coremask", "-c 0x0 -- -c " + metronConf, []string{"EAL options", "no lcore"}, ""},
		{"lcore value missing", "--huge-dir /mnt -l -- -c " + metronConf, []string{"EAL options", "-l"}, ""},
		{"bad lcore list", "-l 0-x -- -c " + metronConf, []string{"EAL options", "0-x"}, ""},
		{"one lcore", "-l 0 -- -c " + metronConf, []string{"EAL options", "no lcore besides the main one"}, ""},
		{"one CPU allowed", "-- -c " + metronConf, []string{"EAL options", `"3"`, "no lcore besides the main one"}, ""},
		{"bad main lcore", "-l 0-1 --master-lcore x -- -c " + metronConf, []string{"--master-lcore"}, ""},
		{"main lcore not in lcores", "-l 0-1 --main-lcore 5 -- -c " + metronConf, []string{"EAL options: "}, "eal.main_lcore"},
		{"worker burst over the limit", "-l 0-1 -- -w 2000 -c " + metronConf, []string{"-w: "}, "capture.worker_burst"},
		{"too few descriptors", "-l 0-1 -- -d 16 -c " + metronConf, []string{"-d: "}, "ports[0].rx_descriptors"},
		{"too many queues", "-l 0-1 -- -q 2000 -c " + metronConf, []string{"-q: "}, "ports[0].rx_queues"},
		{"ring too small", "-l 0-1 -- -x 32 -c " + metronConf, []string{"-x: "}, "capture.ring_size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "one CPU allowed" {
				withCPUs(t, 3) // DPDK's default: the one CPU
			}
			c, err := metronConfig(t, strings.Fields(tc.args))
			if err == nil {
				t.Fatalf("Config() accepted it: %+v", c)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			var fe *FieldError
			if tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field) {
				t.Errorf("error %q: want a *FieldError for %s", err, tc.field)
			}
		})
	}
}

func TestCoremaskLcores(t *testing.T) {
	for in, want := range map[string]string{
		"0x03": "0-1", "3": "0-1", "0X1": "0", "0xf0": "4-7", "0x15": "0,2,4", "0xF0000000000000000000000000000000": "124-127",
		"0x8000000000000001": "0,63",
	} {
		if got, err := coremaskLcores(in); err != nil || got != want {
			t.Errorf("coremaskLcores(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0x", "0x0", "000", "0xg", "-1", "1,2"} {
		if got, err := coremaskLcores(in); err == nil {
			t.Errorf("coremaskLcores(%q) = %q, want an error", in, got)
		}
	}
}

func TestFormatLcores(t *testing.T) {
	for _, tc := range []struct {
		in   []int
		want string
	}{
		{[]int{0}, "0"},
		{[]int{0, 1}, "0-1"},
		{[]int{0, 1, 2, 3, 5, 7, 8}, "0-3,5,7-8"},
		{[]int{2, 4, 6}, "2,4,6"},
	} {
		got := formatLcores(tc.in)
		if got != tc.want {
			t.Errorf("formatLcores(%v) = %q, want %q", tc.in, got, tc.want)
		}
		if ids, err := ParseLcores(got); err != nil || !slices.Equal(ids, tc.in) {
			t.Errorf("ParseLcores(%q) = %v, %v; want %v", got, ids, err, tc.in)
		}
	}
}

// TestAllowedCPUs reads this process's affinity, as DPDK would.
func TestAllowedCPUs(t *testing.T) {
	cpus, err := allowedCPUs()
	if err != nil {
		t.Fatal(err)
	}
	if len(cpus) == 0 || !slices.IsSorted(cpus) || cpus[len(cpus)-1] >= MaxLcore {
		t.Errorf("allowedCPUs() = %v: want ascending CPUs below %d", cpus, MaxLcore)
	}
	if _, err := ParseLcores(formatLcores(cpus)); err != nil {
		t.Errorf("ParseLcores(formatLcores(%v)): %v", cpus, err)
	}
}

// The Metron README's command line, with this package's example Kafka
// file, as the daemon would start DPDK and Kafka.
func ExampleMetronArgs_Config() {
	args := strings.Fields("-c 0x03 --huge-dir /mnt/huge_1GB -- -p 0x01 -t pcap -c testdata/fastcapa.conf")
	if !IsMetronArgs(args) {
		return
	}
	m, err := ParseMetronArgs(args)
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := m.Config()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("eal:", strings.Join(c.EALArgs(), " "))
	fmt.Println("ports:", c.Ports[0].Name, "rx lcores:", c.Capture.RxLcores)
	fmt.Println("brokers:", c.Kafka.Properties["bootstrap.servers"], "key unit:", c.Kafka.KeyUnit)
	// Output:
	// eal: -l 0-1 --file-prefix rte --no-telemetry --huge-dir /mnt/huge_1GB
	// ports: 0 rx lcores: [1]
	// brokers: 127.0.0.1:9092 key unit: us
}
