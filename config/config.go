package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fastcapa-go/fastcapa/dpdk"
	"github.com/fastcapa-go/fastcapa/internal/yamlconf"
)

// Config is the whole daemon configuration. See fastcapa.example.yaml for
// every field with its meaning and default.
type Config struct {
	EAL      EAL      `yaml:"eal"`
	Ports    []Port   `yaml:"ports"`
	Capture  Capture  `yaml:"capture"`
	Kafka    Kafka    `yaml:"kafka"`
	Routes   []Route  `yaml:"routes"`
	Outputs  []Output `yaml:"outputs"`
	Shutdown Shutdown `yaml:"shutdown"`
	Log      Log      `yaml:"log"`
	Metrics  Metrics  `yaml:"metrics"`
}

// Metrics is the HTTP endpoint for Prometheus and health checks.
type Metrics struct {
	Listen string `yaml:"listen"` // host:port; "" turns it off
}

// EAL is how DPDK's environment is started.
type EAL struct {
	Lcores     string   `yaml:"lcores"`      // -l: "0-3", "0,2,4"; --lcores with CPU mappings: "0@0,(1-2)@1"
	MainLcore  *int     `yaml:"main_lcore"`  // --main-lcore; default the first of Lcores
	MemoryMB   int      `yaml:"memory_mb"`   // -m; 0: DPDK decides (hugepages) or 512 (no_huge)
	HugePages  *bool    `yaml:"huge_pages"`  // false: --no-huge
	InMemory   bool     `yaml:"in_memory"`   // --in-memory
	FilePrefix string   `yaml:"file_prefix"` // --file-prefix
	Allow      []string `yaml:"allow"`       // -a: PCI addresses to probe; empty: all bound ones
	NoPCI      bool     `yaml:"no_pci"`      // --no-pci
	Vdevs      []string `yaml:"vdevs"`       // --vdev
	Telemetry  bool     `yaml:"telemetry"`   // keep DPDK's telemetry socket
	Args       []string `yaml:"args"`        // passed to rte_eal_init verbatim, last
}

// Port is one port to capture from.
type Port struct {
	Name          string `yaml:"name"` // PCI address or vdev name
	RxQueues      int    `yaml:"rx_queues"`
	RxDescriptors int    `yaml:"rx_descriptors"`
	MTU           int    `yaml:"mtu"`
	Promiscuous   *bool  `yaml:"promiscuous"`
	RSS           *bool  `yaml:"rss"`
	Timestamp     string `yaml:"timestamp"` // auto, tsc, device
	// VLAN is the tag outputs with insert_vlan put in this port's frames
	// (0: none).
	VLAN int `yaml:"vlan"`
	// Tunnel makes the port a tunnel receiver.
	Tunnel *TunnelIn `yaml:"tunnel"`
	// Optional ports that do not exist are skipped with a warning, as
	// Metron's fastcapa skipped port mask bits naming no port.
	Optional bool `yaml:"-"`
}

// Capture sizes the path from RX queues to workers.
type Capture struct {
	RxLcores       []int `yaml:"rx_lcores"` // default: every EAL worker lcore
	Burst          int   `yaml:"burst"`
	WorkerBurst    int   `yaml:"worker_burst"` // 0: burst
	RingSize       int   `yaml:"ring_size"`
	WorkersPerRing int   `yaml:"workers_per_ring"`
	// IdlePolls empty polls in a row make an RX lcore sleep between
	// polls, doubling from 1 µs to IdleSleep, until a packet comes; 0:
	// busy polling.
	IdlePolls    int           `yaml:"idle_polls"`
	IdleSleep    time.Duration `yaml:"idle_sleep"`
	Mbufs        int           `yaml:"mbufs"` // per NUMA socket in use
	MbufCache    int           `yaml:"mbuf_cache"`
	MbufDataRoom int           `yaml:"mbuf_data_room"`
	// Filter is a tcpdump expression (pcap-filter(7)) the RX lcores run
	// over every packet before the ring; "": keep every packet.
	Filter string `yaml:"filter"`
	// Snaplen is the most bytes of each frame sent to Kafka; a longer one
	// is cut and its wire length sent in the orig_len record header. 0:
	// whole frames.
	Snaplen int `yaml:"snaplen"`
	// Sample keeps "1/N" of the packets, or "P%" of them at random; "":
	// all. The default route's; a route may set its own.
	Sample string `yaml:"sample"`
	// Decap shows every route's filter the innermost packet (VLAN and
	// QinQ tags, MPLS, GRE, ERSPAN, VXLAN, Geneve, GTP-U removed);
	// SendInner, with Decap, sends that inner packet instead of the frame.
	Decap     bool `yaml:"decap"`
	SendInner bool `yaml:"send_inner"`
}

// Route is one destination of the captured packets: which (filter,
// sampling) and how they are sent (topic, key unit, snaplen,
// partitioner). Without routes there is one, "default", from capture and
// kafka; with them, capture.filter is and-ed with each route's filter.
type Route struct {
	Name string `yaml:"name"`
	// Filter is a tcpdump expression; "": every packet.
	Filter string `yaml:"filter"`
	// Unmatched: the route matches the packets no other route's filter
	// matched (its own filter, if any, too).
	Unmatched   bool   `yaml:"unmatched"`
	Sample      string `yaml:"sample"`      // default: capture.sample
	Topic       string `yaml:"topic"`       // default: kafka.topic
	KeyUnit     string `yaml:"key_unit"`    // default: kafka.key_unit
	Snaplen     *int   `yaml:"snaplen"`     // default: capture.snaplen
	Partitioner string `yaml:"partitioner"` // default: kafka.partitioner
	Partitions  int    `yaml:"partitions"`  // default: kafka.partitions
}

// Kafka is where packets go.
type Kafka struct {
	// Disabled runs fastcapa without Kafka, as fluxcap ran: what the
	// routes keep goes to outputs only (which must then be given), and
	// nothing below is used.
	Disabled         bool              `yaml:"disabled"`
	Topic            string            `yaml:"topic"`
	KeyUnit          string            `yaml:"key_unit"` // ns, us, ms
	Properties       map[string]string `yaml:"properties"`
	QueueFullTimeout time.Duration     `yaml:"queue_full_timeout"`
	// StatsFile, if set, gets librdkafka's JSON statistics appended, one
	// object a line (statistics.interval.ms sets how often).
	StatsFile string `yaml:"stats_file"`
	// Partitioner chooses each message's partition: key (librdkafka's,
	// on the key), flow (both directions of a conversation on one
	// partition) or round_robin. Partitions is the topic's partition
	// count for flow and round_robin; 0: asked of the broker at start.
	Partitioner string `yaml:"partitioner"`
	Partitions  int    `yaml:"partitions"`
}

// Shutdown bounds the drain on SIGINT/SIGTERM.
type Shutdown struct {
	FlushTimeout time.Duration `yaml:"flush_timeout"`
}

// Log sets the daemon's own log.
type Log struct {
	Level         string        `yaml:"level"`  // debug, info, warn, error
	Format        string        `yaml:"format"` // text, json
	StatsInterval time.Duration `yaml:"stats_interval"`
}

// Defaults returns a configuration with every default filled in and no
// port, vdev or broker chosen.
func Defaults() Config {
	return Config{
		EAL: EAL{Lcores: "0,1", FilePrefix: "fastcapa"},
		Capture: Capture{
			Burst: 32,
			// Half the pool: the ring, not the pool, runs out first
			// (see the mbufs check in Validate).
			RingSize:       32768,
			WorkersPerRing: 1,
			IdlePolls:      0, // busy polling: see fastcapa.example.yaml
			IdleSleep:      50 * time.Microsecond,
			// 2^n rather than 2^n-1: the pool's backing ring then has
			// room to take, and so reveal, an mbuf freed twice.
			Mbufs:        65536,
			MbufCache:    256,
			MbufDataRoom: 2048 + 128,
		},
		Kafka: Kafka{
			Topic:            "pcap",
			KeyUnit:          "ns",
			Partitioner:      "key",
			Properties:       map[string]string{},
			QueueFullTimeout: time.Second,
		},
		Shutdown: Shutdown{FlushTimeout: 30 * time.Second},
		Log:      Log{Level: "info", Format: "text", StatsInterval: 10 * time.Second},
		Metrics:  Metrics{Listen: "127.0.0.1:9470"},
	}
}

// PortDefaults fills a port's unset fields.
func (p *Port) applyDefaults() {
	if p.RxQueues == 0 {
		p.RxQueues = 1
	}
	if p.RxDescriptors == 0 {
		p.RxDescriptors = 1024
	}
	if p.Promiscuous == nil {
		t := true
		p.Promiscuous = &t
	}
	if p.RSS == nil {
		t := true
		p.RSS = &t
	}
	if p.Timestamp == "" {
		p.Timestamp = "auto"
	}
}

// Load reads a YAML file over the defaults. Unknown fields are errors.
func Load(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, err
	}
	defer f.Close()
	c, err := Decode(f)
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Decode reads YAML over the defaults. Unknown fields are errors.
func Decode(r io.Reader) (Config, error) {
	c := Defaults()
	if err := yamlconf.Decode(r, &c); err != nil {
		return c, err
	}
	if c.Kafka.Properties == nil {
		c.Kafka.Properties = map[string]string{}
	}
	return c, nil
}

// Validate fills per-port defaults and checks every field. It returns the
// first problem as a *FieldError.
func (c *Config) Validate() error {
	lcores, err := ParseLcores(c.EAL.Lcores)
	if err != nil {
		return fieldError("eal.lcores", "%v: give a list such as \"0,1\" or \"0-3\"", err)
	}
	inLcores := func(l int) bool {
		for _, x := range lcores {
			if x == l {
				return true
			}
		}
		return false
	}
	if m := c.EAL.MainLcore; m != nil && !inLcores(*m) {
		return fieldError("eal.main_lcore", "%d is not in eal.lcores %q", *m, c.EAL.Lcores)
	}
	for i, l := range c.Capture.RxLcores {
		if !inLcores(l) {
			return fieldError(fmt.Sprintf("capture.rx_lcores[%d]", i), "%d is not in eal.lcores %q", l, c.EAL.Lcores)
		}
	}
	if c.EAL.MemoryMB < 0 {
		return fieldError("eal.memory_mb", "%d is negative", c.EAL.MemoryMB)
	}
	if c.EAL.InMemory && c.EAL.HugePages != nil && !*c.EAL.HugePages {
		return fieldError("eal.in_memory", "DPDK cannot run --in-memory without hugepages (--no-huge implies legacy memory): drop one")
	}
	if c.EAL.FilePrefix == "" && !c.EAL.InMemory {
		return fieldError("eal.file_prefix", "empty: name it (e.g. fastcapa) or set in_memory: true")
	}
	if len(c.Ports) == 0 {
		return fieldError("ports", "none: name at least one port by PCI address or vdev name (--port)")
	}
	seen := map[string]bool{}
	for i := range c.Ports {
		p := &c.Ports[i]
		p.applyDefaults()
		f := fmt.Sprintf("ports[%d]", i)
		switch {
		case p.Name == "":
			return fieldError(f+".name", "empty: give a PCI address (0000:01:00.0) or a vdev name (net_pcap0)")
		case seen[p.Name]:
			return fieldError(f+".name", "%q is listed twice", p.Name)
		case p.RxQueues < 1 || p.RxQueues > 1024:
			return fieldError(f+".rx_queues", "%d: use 1 to 1024", p.RxQueues)
		case p.RxDescriptors < 32 || p.RxDescriptors > 32768:
			return fieldError(f+".rx_descriptors", "%d: use 32 to 32768", p.RxDescriptors)
		case p.MTU < 0 || p.MTU > 65535:
			return fieldError(f+".mtu", "%d: use 0 (device default) to 65535", p.MTU)
		}
		if _, err := dpdk.ParseTimestampMode(p.Timestamp); err != nil {
			return fieldError(f+".timestamp", "%v", err)
		}
		if p.VLAN < 0 || p.VLAN > 4094 {
			return fieldError(f+".vlan", "%d: use 1 to 4094, or 0 for none", p.VLAN)
		}
		if _, err := p.Tunnel.spec(f + ".tunnel"); err != nil {
			return err
		}
		seen[p.Name] = true
	}
	cp := c.Capture
	switch {
	case cp.Burst < 1 || cp.Burst > MaxBurst:
		return fieldError("capture.burst", "%d: use 1 to %d", cp.Burst, MaxBurst)
	case cp.WorkerBurst < 0 || cp.WorkerBurst > MaxBurst:
		return fieldError("capture.worker_burst", "%d: use 0 (same as burst) to %d", cp.WorkerBurst, MaxBurst)
	case cp.RingSize < 64 || cp.RingSize > 1<<28 || cp.RingSize&(cp.RingSize-1) != 0:
		return fieldError("capture.ring_size", "%d is not a power of two from 64 to 2^28: use e.g. 65536", cp.RingSize)
	case cp.WorkersPerRing < 1 || cp.WorkersPerRing > 64:
		return fieldError("capture.workers_per_ring", "%d: use 1 to 64", cp.WorkersPerRing)
	case cp.IdlePolls < 0 || cp.IdlePolls > 1<<30:
		return fieldError("capture.idle_polls", "%d: use 0 (busy polling) or a number of polls such as 1024", cp.IdlePolls)
	case cp.IdlePolls > 0 && (cp.IdleSleep < time.Microsecond || cp.IdleSleep > time.Millisecond):
		return fieldError("capture.idle_sleep", "%v: use 1µs to 1ms (what a device's RX ring holds at line rate)", cp.IdleSleep)
	case cp.Mbufs < 1024 || cp.Mbufs > 1<<28:
		return fieldError("capture.mbufs", "%d: use 1024 to 2^28", cp.Mbufs)
	case cp.MbufCache < 0 || cp.MbufCache > 512:
		return fieldError("capture.mbuf_cache", "%d: use 0 to 512", cp.MbufCache)
	case cp.MbufDataRoom < 256+128 || cp.MbufDataRoom > 65535:
		return fieldError("capture.mbuf_data_room", "%d: use 384 to 65535 (2176 holds a 2048 B segment and headroom)", cp.MbufDataRoom)
	}
	routes, err := c.routeSpecs()
	if err != nil {
		return err
	}
	if _, err := c.outputSpecs(routes); err != nil {
		return err
	}
	if cp.SendInner && !cp.Decap {
		return fieldError("capture.send_inner", "true without capture.decap: set decap: true too")
	}
	if need := c.mbufsNeeded(len(lcores)); cp.Mbufs < need {
		return fieldError("capture.mbufs", "%d cannot hold full rings (%d x %d), every rx descriptor and the lcore caches: "+
			"that needs %d; raise mbufs or lower capture.ring_size or rx_descriptors", cp.Mbufs, c.rings(len(lcores)),
			cp.RingSize-1, need)
	}
	k := c.Kafka
	if k.Disabled {
		if len(c.Outputs) == 0 {
			return fieldError("kafka.disabled", "true without outputs: fastcapa would send every packet nowhere; give outputs (-tx)")
		}
	} else if strings.TrimSpace(k.Properties["bootstrap.servers"]) == "" {
		return fieldError("kafka.properties.bootstrap.servers", "not set: give the broker list, e.g. 127.0.0.1:9092 (--brokers)")
	}
	for key := range k.Properties {
		if strings.HasPrefix(key, "go.") {
			return fieldError("kafka.properties."+key, "Go client settings are fixed by fastcapa; remove it")
		}
	}
	if k.QueueFullTimeout < 0 {
		return fieldError("kafka.queue_full_timeout", "%v is negative", k.QueueFullTimeout)
	}
	if c.Shutdown.FlushTimeout <= 0 {
		return fieldError("shutdown.flush_timeout", "%v: give a positive duration such as 30s", c.Shutdown.FlushTimeout)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fieldError("log.level", "%q: use debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fieldError("log.format", "%q: use text or json", c.Log.Format)
	}
	if c.Log.StatsInterval < 0 {
		return fieldError("log.stats_interval", "%v is negative", c.Log.StatsInterval)
	}
	if l := c.Metrics.Listen; l != "" {
		if _, port, err := net.SplitHostPort(l); err != nil || port == "" {
			return fieldError("metrics.listen", "%q is not host:port: use e.g. 127.0.0.1:9470, or \"\" to turn metrics off", l)
		}
	}
	return nil
}

// MaxBurst is the largest burst an RX lcore or a worker moves at once.
const MaxBurst = dpdk.MaxBurst

// WorkerBurstOrDefault is the packets a worker dequeues at once.
func (c Capture) WorkerBurstOrDefault() int {
	if c.WorkerBurst > 0 {
		return c.WorkerBurst
	}
	return c.Burst
}

// rings is how many RX lcores, so rings, there will be: capture.rx_lcores,
// or every lcore but the main one.
func (c *Config) rings(lcores int) int {
	if n := len(c.Capture.RxLcores); n > 0 {
		return n
	}
	return max(lcores-1, 1)
}

// mbufsNeeded is the mbufs that can be held at once with every ring full:
// the rings, every RX descriptor, the per-lcore caches (up to 1.5 times
// their size) and a burst per RX lcore and worker. With fewer, the pool
// runs dry before a ring fills, and a device then loses packets as
// rx_nombuf (or, net_pcap's infinite_rx, without counting them) instead
// of fastcapa counting ring drops. Counted as if every port shared one
// NUMA socket's pool.
func (c *Config) mbufsNeeded(lcores int) int {
	cp := c.Capture
	rings := c.rings(lcores)
	workers := rings * cp.WorkersPerRing
	n := rings*(cp.RingSize-1) + rings*(cp.MbufCache*3/2+cp.Burst) + workers*(cp.MbufCache*3/2+cp.WorkerBurstOrDefault())
	if c.Kafka.Disabled { // RX lcores, and no ring or worker
		n = rings * (cp.MbufCache*3/2 + cp.Burst)
	}
	for _, p := range c.Ports {
		n += p.RxQueues * p.RxDescriptors
	}
	// A frame an output sends as it is stays the pool's until the
	// device has sent it: a TX ring full of them per output and lcore.
	for _, o := range c.Outputs {
		n += rings * or0(o.TxDescriptors, 1024)
	}
	return n
}

func or0(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// MaxLcore is RTE_MAX_LCORE in Debian's DPDK 22.11 build.
const MaxLcore = 128

// ParseLcores expands an lcore list into its lcores: "0,2-4" (EAL's -l),
// or with CPU mappings "0@0,(1-2)@1" (EAL's --lcores), of which only the
// lcore ids before each '@' count.
func ParseLcores(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty")
	}
	set := map[int]bool{}
	for _, elem := range splitTop(s) {
		ids, _, _ := strings.Cut(elem, "@")
		ids = strings.TrimSpace(ids)
		if strings.HasPrefix(ids, "(") && strings.HasSuffix(ids, ")") {
			ids = ids[1 : len(ids)-1]
		}
		for _, part := range strings.Split(ids, ",") {
			part = strings.TrimSpace(part)
			lo, hi, isRange := strings.Cut(part, "-")
			if !isRange {
				hi = lo
			}
			a, errA := strconv.Atoi(lo)
			b, errB := strconv.Atoi(hi)
			if errA != nil || errB != nil || strconv.Itoa(a) != lo || strconv.Itoa(b) != hi {
				return nil, fmt.Errorf("%q is not an lcore number or range", part)
			}
			if a < 0 || b < a {
				return nil, fmt.Errorf("bad range %q", part)
			}
			if b >= MaxLcore {
				return nil, fmt.Errorf("lcore %d: DPDK's limit is %d (map higher cores with \"lcore@cpu\")", b, MaxLcore-1)
			}
			for l := a; l <= b; l++ {
				set[l] = true
			}
		}
	}
	out := make([]int, 0, len(set))
	for l := range set {
		out = append(out, l)
	}
	sort.Ints(out)
	return out, nil
}

// splitTop splits s at the commas outside parentheses.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// EALArgs builds rte_eal_init's arguments, with the vdev arguments
// fastcapa adds (VdevChoices).
func (c *Config) EALArgs() []string {
	e := c.EAL
	args := []string{"-l", e.Lcores}
	if strings.ContainsAny(e.Lcores, "@()") {
		args[0] = "--lcores" // with CPU mappings
	}
	if e.MainLcore != nil {
		args = append(args, "--main-lcore", fmt.Sprint(*e.MainLcore))
	}
	noHuge := e.HugePages != nil && !*e.HugePages
	if noHuge {
		args = append(args, "--no-huge")
	}
	mem := e.MemoryMB
	if mem == 0 && noHuge {
		mem = 512
	}
	if mem > 0 {
		args = append(args, "-m", fmt.Sprint(mem))
	}
	if e.InMemory {
		args = append(args, "--in-memory")
	}
	if e.FilePrefix != "" {
		args = append(args, "--file-prefix", e.FilePrefix)
	}
	if e.NoPCI {
		args = append(args, "--no-pci")
	}
	for _, a := range e.Allow {
		args = append(args, "-a", a)
	}
	vdevs, extra := c.eachVdev(func(v string) string {
		v, _ = c.completeVdev(v)
		return v
	})
	for _, v := range vdevs {
		args = append(args, "--vdev", v)
	}
	if !e.Telemetry {
		args = append(args, "--no-telemetry")
	}
	return append(args, extra...)
}
