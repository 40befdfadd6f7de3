// Command fastcapa captures packets with DPDK and produces each one to
// Kafka: key the 8-byte big-endian receive timestamp, value the frame;
// outputs send them on other DPDK ports too, or only there (-no-kafka).
//
//	fastcapa -config /etc/fastcapa/fastcapa.yaml
//	fastcapa -vdev net_pcap0,rx_pcap=example.pcap -port net_pcap0 -brokers 127.0.0.1:9092 -no-huge
//
// Exit status: 0 when every packet was delivered (and sent by its
// outputs), 1 when any was lost, left unflushed or dropped by an output, 2
// on a configuration or start-up error. Signals are
// internal/daemonsig's: SIGINT, SIGTERM and SIGQUIT drain and report,
// SIGHUP reopens kafka.stats_file, SIGPIPE never kills it.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/fastcapa-go/fastcapa/config"
	"github.com/fastcapa-go/fastcapa/dpdk"
	"github.com/fastcapa-go/fastcapa/internal/cliflag"
	"github.com/fastcapa-go/fastcapa/internal/daemonsig"
	"github.com/fastcapa-go/fastcapa/internal/sdnotify"
	"github.com/fastcapa-go/fastcapa/metrics"
	"github.com/fastcapa-go/fastcapa/pipeline"
)

func main() {
	daemonsig.IgnorePipe()
	os.Exit(run(os.Args[1:]))
}

// usageHead and usageTail frame the flag list of -h; the package's man
// page is generated from this text by help2man, so its section titles
// ("Options:", "Examples:", ...) become the page's sections.
const usageHead = `Usage: fastcapa [OPTION]...
  or:  fastcapa -config FILE [OPTION]...
Capture packets with DPDK and produce each one to Kafka: the key is the
8-byte big-endian receive timestamp (kafka.key_unit), the value the frame.
Outputs (-tx, outputs) send them on other DPDK ports too, replicated,
tagged, cut or in GRETAP, GRE or VXLAN tunnels; with -no-kafka only there.
Each flag overrides the configuration field named in parentheses; the
result is validated once. A command line with "--" is read as Metron's
fastcapa read it: EAL options, then "--", then its own options
(fastcapa -- -h lists them).

Signals:
  SIGINT, SIGTERM, SIGQUIT  stop capturing, flush Kafka, report and exit
  SIGHUP                    reopen kafka.stats_file
  SIGPIPE                   ignored

Exit status:
  0  every captured packet was delivered, and sent by every output it was for
  1  a packet was lost, left unflushed or dropped by an output
  2  a configuration or start-up error

Options:
`

const usageTail = `
Examples:
  fastcapa -config /etc/fastcapa/fastcapa.yaml
  fastcapa -no-huge -vdev net_pcap0,rx_pcap=sample.pcap -port net_pcap0 \
      -brokers 127.0.0.1:9092 -topic pcap
  fastcapa -vdev net_af_packet0,iface=eth1 -vdev net_af_packet1,iface=eth2 \
      -vdev net_af_packet2,iface=eth3 -port net_af_packet0,vlan=100 \
      -port net_af_packet1,vlan=200 -tx net_af_packet2,insert_vlan -no-kafka
      (fluxcap's aggregation: two taps onto eth3, tagged 100 and 200)

Files:
  /etc/fastcapa/fastcapa.yaml   the configuration fastcapa.service reads;
                                every field is documented in it
  /etc/fastcapa/NAME.yaml       one per fastcapa@NAME.service instance
`

func run(args []string) int {
	if config.IsMetronArgs(args) {
		return runMetron(args)
	}
	fs := flag.NewFlagSet("fastcapa", flag.ContinueOnError)
	var (
		cfgPath    = fs.String("config", "", "YAML configuration file (e.g. /etc/fastcapa/fastcapa.yaml)")
		brokers    = fs.String("brokers", "", "Kafka bootstrap servers (kafka.properties.bootstrap.servers)")
		topic      = fs.String("topic", "", "Kafka topic (kafka.topic)")
		keyUnit    = fs.String("key-unit", "", "key timestamp unit: ns, us or ms (kafka.key_unit)")
		lcores     = fs.String("lcores", "", "EAL lcore list, main lcore first (eal.lcores)")
		filePrefix = fs.String("file-prefix", "", "EAL --file-prefix (eal.file_prefix)")
		noHuge     = fs.Bool("no-huge", false, "run without hugepages (eal.huge_pages: false)")
		noPCI      = fs.Bool("no-pci", false, "do not probe PCI devices (eal.no_pci)")
		memory     = fs.Int("memory", 0, "EAL memory in MB (eal.memory_mb)")
		queues     = fs.Int("rx-queues", 0, "RX queues for each -port (ports[].rx_queues)")
		ringSize   = fs.Int("ring-size", 0, "ring size, a power of two (capture.ring_size)")
		capFilter  = fs.String("filter", "", "capture filter, a tcpdump expression (capture.filter)")
		snaplen    = fs.Int("snaplen", -1, "send at most this many bytes of each frame, the wire length in the orig_len header; 0: whole (capture.snaplen)")
		decap      = fs.Bool("decap", false, "filters see the innermost packet: VLAN, MPLS and tunnels removed (capture.decap)")
		sample     = fs.String("sample", "", "keep 1/N of the packets, or P% at random (capture.sample)")
		partition  = fs.String("partitioner", "", "key, flow (a conversation on one partition) or round_robin (kafka.partitioner)")
		logLevel   = fs.String("log-level", "", "debug, info, warn or error (log.level)")
		logFormat  = fs.String("log-format", "", "text or json (log.format)")
		statsEvery = fs.Duration("stats-interval", 0, "log counters this often, e.g. 10s (log.stats_interval)")
		flushWait  = fs.Duration("flush-timeout", 0, "how long shutdown may flush Kafka (shutdown.flush_timeout)")
		noKafka    = fs.Bool("no-kafka", false, "send the packets to the outputs (-tx) only, not to Kafka, as fluxcap did (kafka.disabled)")
		metricsAt  = fs.String("metrics-listen", "-", "host:port for /metrics, /healthz, /readyz; \"\" for none (metrics.listen)")
		vdevs      cliflag.List
		ports      cliflag.List
		txs        cliflag.List
	)
	fs.Var(&vdevs, "vdev", "EAL virtual device, repeatable (eal.vdevs)")
	fs.Var(&ports, "port", "port to capture by PCI address or vdev name, then any of ports[]' fields as key=value,\n"+
		"e.g. net_af_packet0,vlan=100 or net_tap0,tunnel=gretap,key=7,local=192.0.2.1; repeatable (ports)")
	fs.Var(&txs, "tx", "port to send the captured packets on, then any of outputs[]' fields as key=value,\n"+
		"e.g. net_af_packet2,snaplen=128,strip_vlan or net_tap1,tunnel=vxlan,key=42,remote=...; repeatable (outputs)")
	props := cliflag.Properties{}
	fs.Var(props, "X", "librdkafka property key=value, repeatable (kafka.properties)")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprint(w, usageHead)
		fs.PrintDefaults()
		fmt.Fprint(w, usageTail)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "fastcapa: unexpected argument %q\n", fs.Arg(0))
		return 2
	}

	cfg := config.Defaults()
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			fmt.Fprintf(os.Stderr, "fastcapa: %v\n", err)
			return 2
		}
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.Kafka.Topic, *topic)
	set(&cfg.Kafka.KeyUnit, *keyUnit)
	set(&cfg.EAL.Lcores, *lcores)
	set(&cfg.EAL.FilePrefix, *filePrefix)
	set(&cfg.Log.Level, *logLevel)
	set(&cfg.Log.Format, *logFormat)
	if *brokers != "" {
		cfg.Kafka.Properties["bootstrap.servers"] = *brokers
	}
	for k, v := range props {
		cfg.Kafka.Properties[k] = v
	}
	if *noHuge {
		f := false
		cfg.EAL.HugePages = &f
	}
	if *noKafka {
		cfg.Kafka.Disabled = true
	}
	if *noPCI {
		cfg.EAL.NoPCI = true
	}
	if *memory != 0 {
		cfg.EAL.MemoryMB = *memory
	}
	if *metricsAt != "-" {
		cfg.Metrics.Listen = *metricsAt
	}
	if *statsEvery != 0 {
		cfg.Log.StatsInterval = *statsEvery
	}
	if *flushWait != 0 {
		cfg.Shutdown.FlushTimeout = *flushWait
	}
	if *ringSize != 0 {
		cfg.Capture.RingSize = *ringSize
	}
	set(&cfg.Capture.Filter, *capFilter)
	set(&cfg.Capture.Sample, *sample)
	if *decap {
		cfg.Capture.Decap = true
	}
	set(&cfg.Kafka.Partitioner, *partition)
	if *snaplen >= 0 {
		cfg.Capture.Snaplen = *snaplen
	}
	cfg.EAL.Vdevs = append(cfg.EAL.Vdevs, vdevs...)
	for _, f := range ports {
		p, err := config.ParsePortFlag(f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "fastcapa: %v\n", err)
			return 2
		}
		if p.RxQueues == 0 {
			p.RxQueues = *queues
		}
		cfg.Ports = append(cfg.Ports, p)
	}
	for _, f := range txs {
		o, err := config.ParseOutputFlag(f, len(cfg.Outputs))
		if err != nil {
			fmt.Fprintf(os.Stderr, "fastcapa: %v\n", err)
			return 2
		}
		cfg.Outputs = append(cfg.Outputs, o)
	}
	spec, err := cfg.Spec()
	if err != nil {
		fmt.Fprintf(os.Stderr, "fastcapa: config: %v\n", err)
		return 2
	}
	return serve(cfg, spec)
}

// runMetron takes Metron's fastcapa command line,
// "fastcapa [EAL options] -- -p MASK -t TOPIC -c KAFKA_CONF ...", so a
// Metron site swaps the binary without touching its service files. Keys
// are in microseconds there, as fastcapa sent them, unless
// $FASTCAPA_KEY_UNIT says ns or ms. The metrics endpoint is
// $FASTCAPA_METRICS_LISTEN, else the default ("" turns it off).
func runMetron(args []string) int {
	m, err := config.ParseMetronArgs(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fastcapa: %v\n", err)
		return 2
	}
	if m.Help {
		fmt.Print(config.MetronUsage)
		return 0
	}
	cfg, err := m.Config()
	if err != nil {
		fmt.Fprintf(os.Stderr, "fastcapa: %v\n", err)
		return 2
	}
	env := false
	if l, ok := os.LookupEnv("FASTCAPA_METRICS_LISTEN"); ok {
		cfg.Metrics.Listen, env = l, true
	}
	if u, ok := os.LookupEnv("FASTCAPA_KEY_UNIT"); ok {
		cfg.Kafka.KeyUnit, env = u, true
	}
	spec, err := cfg.Spec()
	if err != nil {
		// m.Config checked the command line: what is left came from the
		// environment.
		if env {
			fmt.Fprintf(os.Stderr, "fastcapa: environment: %v\n", err)
		} else {
			fmt.Fprintf(os.Stderr, "fastcapa: %v\n", err)
		}
		return 2
	}
	return serve(cfg, spec)
}

// serve runs the capture spec, made from cfg, and returns the exit
// status; cfg gives the daemon's own settings (log, metrics).
func serve(cfg config.Config, spec pipeline.Spec) int {
	log := newLogger(cfg.Log)
	if os.Getenv("FASTCAPA_DEBUG_POISON") == "1" {
		// Overwrite packet data as mbufs are freed: a payload read
		// after its mbuf went back to the pool would arrive as 0xEE.
		log.Warn("debug: poisoning mbuf data on free")
		dpdk.SetPoisonOnFree(true)
	}
	// Signals are caught from here on: one during start-up ends the
	// capture as soon as it runs.
	src := &lazySource{}
	ctx, stop := daemonsig.Notify(log, func() { reopen(src.c.Load(), cfg, log) })
	defer stop()

	// The metrics address is bound before the capture starts, so a bad
	// one fails fast; it answers "starting" until then.
	if cfg.Metrics.Listen != "" {
		srv, err := metrics.Serve(cfg.Metrics.Listen, pipeline.NewCollector(src), src.Ready, log)
		if err != nil {
			fmt.Fprintf(os.Stderr, "fastcapa: %v\n", err)
			return 2
		}
		defer srv.Close()
		log.Info("metrics", "listen", srv.Addr(), "paths", "/metrics /healthz /readyz")
	}

	capture, err := pipeline.Start(spec, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fastcapa: %v\n", err)
		return 2
	}
	src.c.Store(capture)
	// READY=1 once every port is up and a broker has answered; a broker
	// that is down only delays it.
	go sdnotify.NotifyReady(ctx, capture.Ready, log)

	out := &stdout{log: log}
	runErr := capture.Run(ctx, pipeline.RunHooks{
		Tick: sdnotify.NewWatchdog().Ping,
		Stats: func(r pipeline.Report) {
			var b bytes.Buffer
			fmt.Fprintf(&b, "\nfastcapa %s\n", time.Now().UTC().Format(time.RFC3339))
			r.Table(&b)
			out.print(b.Bytes())
		},
	})
	if runErr != nil {
		log.Error("capture failed", "error", runErr)
	}
	sdnotify.Notify("STOPPING=1")
	log.Info("shutting down: draining rings and flushing Kafka", "flush_timeout", cfg.Shutdown.FlushTimeout)
	report := capture.Stop()
	var b bytes.Buffer
	report.Print(&b)
	out.print(b.Bytes())
	report.Log(log, "final counters")
	if runErr != nil || !report.Clean() {
		return 1
	}
	return 0
}

// stdout prints the stats tables. Once a write fails (the reader went
// away: "fastcapa | head"), it says so once and prints no more; the
// figures stay in the log.
type stdout struct {
	log    *slog.Logger
	closed bool
}

func (o *stdout) print(b []byte) {
	if o.closed {
		return
	}
	if _, err := os.Stdout.Write(b); err != nil {
		o.closed = true
		o.log.Warn("stdout closed: stats tables no longer printed; the log keeps the counters", "error", err)
	}
}

// reopen reopens kafka.stats_file, on SIGHUP.
func reopen(c *pipeline.Capture, cfg config.Config, log *slog.Logger) {
	path := cfg.Kafka.StatsFile
	switch {
	case path == "":
		log.Info("nothing to reopen: no kafka.stats_file, and logs go to stderr")
	case c == nil:
		log.Info("nothing to reopen yet: starting")
	default:
		if err := c.Reopen(); err != nil {
			log.Error("kafka.stats_file", "error", err)
			return
		}
		log.Info("reopened", "kafka.stats_file", path)
	}
}

// lazySource is the metrics source before and after the capture exists.
type lazySource struct {
	c atomic.Pointer[pipeline.Capture]
}

func (s *lazySource) Report() pipeline.Report {
	if c := s.c.Load(); c != nil {
		return c.Report()
	}
	return pipeline.Report{}
}

func (s *lazySource) Ready() error {
	if c := s.c.Load(); c != nil {
		return c.Ready()
	}
	return errors.New("starting")
}

func newLogger(c config.Log) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lv}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
