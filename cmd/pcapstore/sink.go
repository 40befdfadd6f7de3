package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/fastcapa-go/fastcapa/config"
	"github.com/fastcapa-go/fastcapa/internal/cliflag"
	"github.com/fastcapa-go/fastcapa/metrics"
	"github.com/fastcapa-go/fastcapa/sink"
	"github.com/fastcapa-go/fastcapa/store"
)

func runSink(args []string) int {
	fs := flag.NewFlagSet("pcapstore sink", flag.ContinueOnError)
	var (
		brokers   = fs.String("brokers", "", "Kafka bootstrap servers")
		topic     = fs.String("topic", "pcap", "topic to consume")
		group     = fs.String("group", "pcapstore", "consumer group: more sinks in one group share the partitions")
		dir       = fs.String("dir", "", "directory to write capture files under")
		tmpl      = fs.String("template", "pcap_{topic}_{ts}_{partition}_{uuid}.pcap", "file name template (see store.Spec)")
		format    = fs.String("format", "key", "record format: key (key = timestamp, value = frame; Metron FROM_KEY) or value (Metron FROM_VALUE)")
		keyUnit   = fs.String("key-unit", "ns", "unit of the key's timestamp: ns, us or ms")
		window    = fs.Duration("sanity-window", 0, "dead-letter records whose time is further than this from now (0: accept any)")
		packets   = fs.Int64("max-packets", 0, "rotate after this many packets")
		bytes     = fs.Int64("max-bytes", 1<<30, "rotate at this file size in bytes")
		span      = fs.Duration("max-span", time.Hour, "rotate when a file would span more than this")
		slot      = fs.Duration("slot", 0, "rotate at wall-clock-aligned slots, e.g. 60s on the minute")
		micro     = fs.Bool("micro", false, "write microsecond pcap (default nanosecond)")
		snaplen   = fs.Uint("snaplen", 262144, "pcap snapshot length")
		dead      = fs.String("dead-letter", "", "file for undecodable records (default DIR/deadletter.jsonl)")
		logLevel  = fs.String("log-level", "info", "debug, info, warn or error")
		logJSON   = fs.Bool("log-json", false, "log JSON lines")
		keepBytes = fs.Int64("retain-bytes", 0, "delete the oldest files to keep their total under this many bytes (0: off)")
		keepFree  = fs.Float64("retain-free-pct", 0, "delete the oldest files to keep this percentage of the filesystem free (0: off)")
		keepAge   = fs.Duration("retain-age", 0, "delete files older than this (0: off)")
		cpuProf   = fs.String("cpuprofile", "", "write a Go CPU profile here (for performance work)")
		metricsAt = fs.String("metrics-listen", "127.0.0.1:9471", "host:port for /metrics, /healthz, /readyz (\"\": none)")
	)
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
	if *brokers == "" {
		return fail("-brokers: not set: give the broker list, e.g. 127.0.0.1:9092")
	}
	if *dir == "" {
		return fail("-dir: not set: name the directory to write capture files under")
	}
	unit, err := config.ParseKeyUnit(*keyUnit)
	if err != nil {
		return fail("-key-unit: %v", err)
	}
	dec := sink.Decoder{KeyUnit: int64(unit), Window: *window}
	switch *format {
	case "key":
		dec.Format = sink.FromKey
	case "value":
		dec.Format = sink.FromValue
	default:
		return fail("-format %q: use key or value", *format)
	}
	properties := map[string]string{"bootstrap.servers": *brokers}
	for k, v := range props {
		properties[k] = v
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

	s, err := sink.New(sink.Spec{
		Topic: *topic, Group: *group, Properties: properties, Decoder: dec, DeadLetter: *dead, Logger: log,
		Retention: store.Retention{MaxBytes: *keepBytes, MinFreePct: *keepFree, MaxAge: *keepAge},
		Store: store.Spec{Dir: *dir, Template: *tmpl, MaxPackets: *packets, MaxBytes: *bytes, MaxSpan: *span,
			Slot: *slot, Nanos: !*micro, SnapLen: uint32(*snaplen)},
	})
	if err != nil {
		return fail("%v", err)
	}
	if *metricsAt != "" {
		srv, err := metrics.Serve(*metricsAt, metrics.NewSinkCollector(s), func() error { return nil }, log)
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
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log.Info("sinking", "topic", *topic, "group", *group, "dir", *dir, "template", *tmpl)
	runErr := s.Run(ctx)
	c := s.Counters()
	log.Info("final counters", "consumed", c.Consumed, "written", c.Written, "dead_lettered", c.DeadLettered,
		"files", c.Files, "commits", c.Commits, "recovered", c.Recovered, "deleted", c.Deleted)
	if runErr != nil {
		log.Error("sink stopped", "error", runErr)
		return 1
	}
	return 0
}
