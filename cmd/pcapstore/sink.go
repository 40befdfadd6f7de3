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
	"time"

	"github.com/fastcapa-go/fastcapa/internal/daemonsig"
	"github.com/fastcapa-go/fastcapa/internal/sdnotify"
	"github.com/fastcapa-go/fastcapa/metrics"
	"github.com/fastcapa-go/fastcapa/objstore"
	"github.com/fastcapa-go/fastcapa/sink"
)

// sinkGCPercent is the sink's GOGC unless the environment sets one.
// confluent-kafka-go allocates every record's key and value; with the
// default 100 the collector ran often over a small live heap. At 400 the
// sink read 10 % more records a second (bench_sink.sh, 4 rounds, every
// round faster: 397k vs 361k records/s), for a heap of a few tens of MB.
const sinkGCPercent = 400

// sinkArgs is the sink's command line: the settings (sink.Flags) and the
// command's own flags.
type sinkArgs struct {
	settings   *sink.Flags
	configPath string
	logLevel   string
	logJSON    bool
	cpuProfile string
}

func runSink(args []string) int {
	daemonsig.IgnorePipe()
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(sinkGCPercent)
	}
	a, code, ok := parseSinkArgs(args)
	if !ok {
		return code
	}
	c, spec, err := a.settings.Load(a.configPath)
	if err != nil {
		return sinkFail("%v", err)
	}
	log, err := newSinkLogger(a.logLevel, a.logJSON)
	if err != nil {
		return sinkFail("-log-level: %v", err)
	}
	spec.Logger = log
	// WATCHDOG=1 from the consume loop (also while stopped for a full
	// disk): a stuck loop lets systemd's watchdog fire.
	spec.Alive = sdnotify.NewWatchdog().Ping
	// Signals from here on, as fastcapa's (internal/daemonsig); the sink appends to no
	// log file (it logs to stderr), so SIGHUP has nothing to reopen.
	ctx, stop := daemonsig.Notify(log, nil)
	defer stop()
	closeUploaders, err := attachUploaders(&spec, &c, log)
	if err != nil {
		return sinkFail("%v", err)
	}
	defer closeUploaders()
	s, err := sink.New(spec)
	if err != nil {
		return sinkFail("%v", err)
	}
	closeMetrics, err := serveSinkMetrics(c.MetricsListen, s, log)
	if err != nil {
		return sinkFail("%v", err)
	}
	defer closeMetrics()
	// READY=1 by the /readyz rule: the targets are open (New) and a
	// broker has answered; STOPPING=1 as the drain begins.
	go sdnotify.NotifyReady(ctx, s.Ready, log)
	go func() {
		<-ctx.Done()
		sdnotify.Notify("STOPPING=1")
	}()
	if a.cpuProfile != "" {
		stopProfile, err := startCPUProfile(a.cpuProfile)
		if err != nil {
			return sinkFail("-cpuprofile: %v", err)
		}
		defer stopProfile()
	}
	return runSinkUntilStopped(ctx, s, spec, log)
}

// parseSinkArgs parses the command line. If !ok, the command exits with
// code: 0 for -h, 2 for a mistake (reported).
func parseSinkArgs(args []string) (a sinkArgs, code int, ok bool) {
	fs := flag.NewFlagSet("pcapstore sink", flag.ContinueOnError)
	fs.StringVar(&a.configPath, "config", "", "YAML file with every setting and several targets (see /etc/fastcapa/sink-main.yaml); the flags below then stay unset, -log-*, -cpuprofile aside")
	fs.StringVar(&a.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&a.logJSON, "log-json", false, "log JSON lines")
	fs.StringVar(&a.cpuProfile, "cpuprofile", "", "write a Go CPU profile here (for performance work)")
	a.settings = sink.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return a, 0, false
		}
		return a, 2, false
	}
	if fs.NArg() > 0 {
		return a, sinkFail("unexpected argument %q: every setting is a flag", fs.Arg(0)), false
	}
	return a, 0, true
}

// sinkFail reports a mistake in the command line or configuration and
// returns its exit status.
func sinkFail(format string, a ...any) int {
	fmt.Fprintf(os.Stderr, "pcapstore sink: "+format+"\n", a...)
	return 2
}

// newSinkLogger logs to stderr, as text or JSON lines, from level on.
func newSinkLogger(level string, json bool) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lv}
	if json {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
}

// attachUploaders gives each target of spec with an object store in c
// its uploader. The returned func closes them.
func attachUploaders(spec *sink.Spec, c *sink.Config, log *slog.Logger) (func(), error) {
	var ups []*objstore.Uploader
	closeAll := func() {
		for _, up := range ups {
			if err := up.Close(); err != nil {
				log.Warn("close uploader", "error", err)
			}
		}
	}
	for i := range spec.Targets {
		os3, ok := c.ObjStore(i)
		if !ok {
			continue
		}
		os3.Logger = log
		up, err := objstore.New(os3)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("target %s: %w", spec.Targets[i].Name, err)
		}
		ups = append(ups, up)
		spec.Targets[i].Upload = func(ctx context.Context, localPath, key string) (string, error) {
			obj, err := up.Upload(ctx, localPath, key)
			if err != nil {
				return "", err
			}
			log.Info("uploaded", "path", localPath, "object", obj.String())
			return obj.Name, nil
		}
	}
	return closeAll, nil
}

// serveSinkMetrics serves s's metrics and readiness on addr ("": none)
// until the returned func is called.
func serveSinkMetrics(addr string, s *sink.Sink, log *slog.Logger) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	srv, err := metrics.Serve(addr, sink.NewCollector(s), s.Ready, log)
	if err != nil {
		return nil, err
	}
	log.Info("metrics", "listen", srv.Addr())
	return func() { srv.Close() }, nil
}

// startCPUProfile writes a Go CPU profile to path until the returned
// func is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// unixNano is t in nanoseconds since the epoch, 0 for the zero time (no
// record consumed), which UnixNano would overflow.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// runSinkUntilStopped runs s until ctx ends (a signal) or it fails, logs
// its final counters and returns the exit status: 0, or 1 if it failed.
func runSinkUntilStopped(ctx context.Context, s *sink.Sink, spec sink.Spec, log *slog.Logger) int {
	for _, tg := range spec.Targets {
		attrs := []any{"name", tg.Name, "dir", tg.Store.Dir, "template", tg.Store.Template, "filter", tg.Filter}
		if tg.Filter != "" {
			attrs = append(attrs, "decap", tg.Decap, "filter_vlan", tg.FilterVLAN)
		}
		if c := tg.OnFinalize; c != nil {
			attrs = append(attrs, "on_finalize", c.Argv, "commit_after_command", c.CommitAfter)
		}
		log.Info("target", attrs...)
	}
	log.Info("sinking", "topic", spec.Topic, "group", spec.Group, "targets", len(spec.Targets))
	runErr := s.Run(ctx)
	k := s.Counters()
	log.Info("final counters", "consumed", k.Consumed, "written", k.Written, "dead_lettered", k.DeadLettered, "skipped", k.Skipped,
		"files", k.Files, "commits", k.Commits, "recovered", k.Recovered, "deleted", k.Deleted, "disk_full_stops", k.DiskFull,
		"skipped_lag", k.SkippedLag,
		"first_record_ns", unixNano(k.FirstRecord), "last_record_ns", unixNano(k.LastRecord))
	for i, tc := range k.Targets {
		attrs := []any{"name", tc.Name, "written", tc.Written, "skipped", tc.Skipped, "filtered", tc.Filtered, "files", tc.Files, "deleted", tc.Deleted}
		if spec.Targets[i].OnFinalize != nil {
			attrs = append(attrs, "on_finalize_done", tc.Commands, "on_finalize_errors", tc.CommandErrors, "on_finalize_pending", tc.CommandsPending)
		}
		log.Info("target counters", attrs...)
	}
	if runErr != nil {
		log.Error("sink stopped", "error", runErr)
		return 1
	}
	return 0
}
