package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"

	"github.com/fastcapa-go/fastcapa/config"
	"github.com/fastcapa-go/fastcapa/filter"
	"github.com/fastcapa-go/fastcapa/internal/cliflag"
	"github.com/fastcapa-go/fastcapa/internal/daemonsig"
	"github.com/fastcapa-go/fastcapa/metrics"
	"github.com/fastcapa-go/fastcapa/objstore"
	"github.com/fastcapa-go/fastcapa/sink"
)

// compileFilter gives the sink package filter's compiler: Ethernet
// frames, the target's expression, VLAN frames matched inside if asked.
func compileFilter(expr string, vlan bool) (sink.Matcher, error) {
	f, err := filter.New(filter.Spec{Expr: expr, LinkType: filter.LinkTypeEthernet, MatchVLAN: vlan})
	if errors.Is(err, filter.ErrMatchVLAN) {
		return nil, fmt.Errorf("%w (set filter_vlan: false, or -filter-vlan=false)", err)
	}
	if err != nil {
		return nil, err // not a Matcher holding a nil *Filter
	}
	return f, nil
}

// sinkGCPercent is the sink's GOGC unless the environment sets one.
// confluent-kafka-go allocates every record's key and value; with the
// default 100 the collector ran often over a small live heap. At 400 the
// sink read 10 % more records a second (bench_sink.sh, 4 rounds, every
// round faster: 397k vs 361k records/s), for a heap of a few tens of MB.
const sinkGCPercent = 400

func runSink(args []string) int {
	daemonsig.IgnorePipe()
	sink.CompileFilter = compileFilter
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(sinkGCPercent)
	}
	fs := flag.NewFlagSet("pcapstore sink", flag.ContinueOnError)
	c, t := config.SinkDefaults(), config.TargetDefaults()
	var (
		cfgPath  = fs.String("config", "", "YAML file with every setting and several targets (see pcapstore.example.yaml); the flags below then stay unset, -log-*, -cpuprofile aside")
		micro    = fs.Bool("micro", false, "write microsecond pcap (default nanosecond)")
		logLevel = fs.String("log-level", "info", "debug, info, warn or error")
		logJSON  = fs.Bool("log-json", false, "log JSON lines")
		cpuProf  = fs.String("cpuprofile", "", "write a Go CPU profile here (for performance work)")
	)
	fs.StringVar(&c.Brokers, "brokers", "", "Kafka bootstrap servers")
	fs.StringVar(&c.Topic, "topic", c.Topic, "topic to consume")
	fs.StringVar(&c.Group, "group", c.Group, "consumer group: more sinks in one group share the partitions")
	fs.StringVar(&c.Format, "format", c.Format, "record format: key (key = timestamp, value = frame; Metron FROM_KEY) or value (Metron FROM_VALUE)")
	fs.StringVar(&c.KeyUnit, "key-unit", c.KeyUnit, "unit of the key's timestamp: ns, us or ms")
	fs.DurationVar(&c.SanityWindow, "sanity-window", 0, "dead-letter records whose time is further than this from now (0: accept any)")
	fs.StringVar(&c.DeadLetter, "dead-letter", "", "file for records no capture file can hold, with the reason (default DIR/deadletter.jsonl)")
	fs.Int64Var(&c.ResumeFree, "resume-free", c.ResumeFree, "after a disk-full stop, resume when the disk has this many bytes free")
	fs.StringVar(&c.MetricsListen, "metrics-listen", c.MetricsListen, "host:port for /metrics, /healthz, /readyz (\"\": none)")
	fs.StringVar(&t.Dir, "dir", "", "directory to write capture files under")
	fs.StringVar(&t.Template, "template", t.Template, "file name template (see store.Spec)")
	fs.StringVar(&t.Filter, "filter", "", "keep only the packets this tcpdump expression matches")
	fs.BoolVar(&t.FilterVLAN, "filter-vlan", t.FilterVLAN, "match VLAN-tagged frames on their inner packet too")
	fs.Int64Var(&t.MaxPackets, "max-packets", 0, "rotate after this many packets")
	fs.Int64Var(&t.MaxBytes, "max-bytes", t.MaxBytes, "rotate at this file size in bytes")
	fs.DurationVar(&t.MaxSpan, "max-span", t.MaxSpan, "rotate when a file would span more than this")
	fs.DurationVar(&t.Slot, "slot", 0, "rotate at wall-clock-aligned slots, e.g. 60s on the minute")
	fs.StringVar(&t.TimeZone, "time-zone", "", "time zone of {hhmmss} and strftime verbs (default UTC)")
	fs.StringVar(&t.FileFormat, "file-format", t.FileFormat, "pcap or pcapng")
	fs.StringVar(&t.Compression, "compression", t.Compression, "none, gzip, zstd or lz4 (the suffix is appended to the name)")
	fs.IntVar(&t.CompressionLevel, "compression-level", 0, "the compressor's level (0: its default)")
	pipeCmd := fs.String("pipe-cmd", "", "command each file's bytes are piped through, its output the file (words split on spaces, no shell: use -config for more)")
	fs.StringVar(&t.PipeSuffix, "pipe-suffix", "", "suffix appended to -pipe-cmd's file names, e.g. .xz")
	snaplen := fs.Uint("snaplen", uint(t.SnapLen), "pcap snapshot length")
	fs.Int64Var(&t.Retain.Bytes, "retain-bytes", 0, "delete the oldest files to keep their total under this many bytes (0: off)")
	fs.Float64Var(&t.Retain.FreePct, "retain-free-pct", 0, "delete the oldest files to keep this percentage of the filesystem free (0: off)")
	fs.DurationVar(&t.Retain.Age, "retain-age", 0, "delete files older than this (0: off)")
	props := cliflag.Properties{}
	fs.Var(props, "X", "librdkafka consumer property key=value, repeatable")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "pcapstore sink: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q: every setting is a flag", fs.Arg(0))
	}
	if *cfgPath != "" {
		var set []string
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "config", "log-level", "log-json", "cpuprofile":
			default:
				set = append(set, "-"+f.Name)
			}
		})
		if len(set) > 0 {
			return fail("%s: with -config, give these in the file", strings.Join(set, ", "))
		}
		var err error
		if c, err = config.LoadSink(*cfgPath); err != nil {
			return fail("%v", err)
		}
	} else {
		if t.Dir == "" {
			return fail("-dir: not set: name the directory to write capture files under (or give -config)")
		}
		if *micro {
			t.Timestamps = "us"
		}
		t.SnapLen = uint32(*snaplen)
		t.PipeCmd = strings.Fields(*pipeCmd)
		c.Kafka = props
		c.Targets = []config.SinkTarget{t}
	}
	spec, err := c.Spec()
	if err != nil {
		var fe *config.FieldError
		if *cfgPath == "" && errors.As(err, &fe) {
			return fail("%s: %s", flagOf(fe.Field), fe.Msg)
		}
		return fail("%v", err)
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*logLevel)); err != nil {
		return fail("-log-level: %v", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	log := slog.New(slog.NewTextHandler(os.Stderr, opts))
	if *logJSON {
		log = slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	spec.Logger = log
	// Signals from here on, as fastcapa's (internal/daemonsig); the sink appends to no
	// log file (it logs to stderr), so SIGHUP has nothing to reopen.
	ctx, stop := daemonsig.Notify(log, nil)
	defer stop()
	for i := range spec.Targets {
		os3, ok := c.ObjStore(i)
		if !ok {
			continue
		}
		os3.Logger = log
		up, err := objstore.New(os3)
		if err != nil {
			return fail("target %s: %v", spec.Targets[i].Name, err)
		}
		defer up.Close()
		spec.Targets[i].Upload = func(ctx context.Context, localPath, key string) error {
			obj, err := up.Upload(ctx, localPath, key)
			if err == nil {
				log.Info("uploaded", "path", localPath, "object", obj.String())
			}
			return err
		}
	}

	s, err := sink.New(spec)
	if err != nil {
		return fail("%v", err)
	}
	if c.MetricsListen != "" {
		srv, err := metrics.Serve(c.MetricsListen, metrics.NewSinkCollector(s), s.Ready, log)
		if err != nil {
			return fail("%v", err)
		}
		defer srv.Close()
		log.Info("metrics", "listen", srv.Addr())
	}
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			return fail("-cpuprofile: %v", err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	for _, tg := range spec.Targets {
		log.Info("target", "name", tg.Name, "dir", tg.Store.Dir, "template", tg.Store.Template, "filter", tg.Filter)
	}
	log.Info("sinking", "topic", c.Topic, "group", c.Group, "targets", len(spec.Targets))
	runErr := s.Run(ctx)
	k := s.Counters()
	log.Info("final counters", "consumed", k.Consumed, "written", k.Written, "dead_lettered", k.DeadLettered, "skipped", k.Skipped,
		"files", k.Files, "commits", k.Commits, "recovered", k.Recovered, "deleted", k.Deleted, "disk_full_stops", k.DiskFull,
		"first_record_ns", k.FirstRecord.UnixNano(), "last_record_ns", k.LastRecord.UnixNano())
	for _, tc := range k.Targets {
		log.Info("target counters", "name", tc.Name, "written", tc.Written, "skipped", tc.Skipped, "filtered", tc.Filtered, "files", tc.Files, "deleted", tc.Deleted)
	}
	if runErr != nil {
		log.Error("sink stopped", "error", runErr)
		return 1
	}
	return 0
}

// flagOf names the flag that sets a config.Sink field of the one target.
func flagOf(field string) string {
	field = strings.TrimPrefix(field, "targets[0].")
	switch {
	case field == "timestamps":
		return "-micro"
	case field == "resume_free_bytes":
		return "-resume-free"
	case strings.HasPrefix(field, "kafka."):
		return "-X " + strings.TrimPrefix(field, "kafka.")
	}
	return "-" + strings.NewReplacer("_", "-", ".", "-").Replace(field)
}
