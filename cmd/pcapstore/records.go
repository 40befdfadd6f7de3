package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fastcapa-go/fastcapa/records"
)

const recordsUsage = `usage: pcapstore records -out DIR [-watch 10s] [OPTION]... PATH...
  writes a packet record per packet and a flow record per flow of the
  captures under PATH (files, or directories walked as pcapstore query
  walks them) as Parquet under DIR/packets and DIR/flows, in Hive
  partitions date=YYYY-MM-DD/hour=HH. DIR/.records-state.json says which
  captures are read: a later run reads only new ones, and after a crash
  or a stop it goes on without losing or repeating a record. The README's
  "Packet and flow records" section documents the columns.
`

// runRecords is pcapstore records: flags → records.RunFiles.
func runRecords(args []string) int {
	flags := flag.NewFlagSet("pcapstore records", flag.ContinueOnError)
	out := flags.String("out", "", "output `directory` (required)")
	packets := flags.Bool("packets", true, "write packet records")
	flows := flags.Bool("flows", true, "write flow records")
	idle := flags.Duration("idle", time.Minute, "a flow without a packet for this long (packet time) ends")
	active := flags.Duration("active", 30*time.Minute, "a flow lasting this long is written and goes on in a next record")
	rowGroup := flags.Int64("row-group", 128<<10, "rows per Parquet row group (bounds memory per open file)")
	watch := flags.Duration("watch", 0, "keep running: look for new captures this often (0: read what is there and stop)")
	checkpoint := flags.Duration("checkpoint", time.Minute, "publish the records written and save the state this often, at most")
	verbose := flags.Bool("v", false, "log each file published and each checkpoint")
	flags.Usage = func() {
		fmt.Fprint(os.Stderr, recordsUsage)
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *out == "" || flags.NArg() == 0 {
		flags.Usage()
		return 2
	}
	if !*packets && !*flows {
		fmt.Fprintln(os.Stderr, "pcapstore records: -packets=false and -flows=false: nothing to write")
		return 2
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	abs, err := filepath.Abs(*out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pcapstore records: %v\n", err)
		return 2
	}
	start := time.Now()
	if *watch > 0 {
		log.Info("watching for captures", "paths", flags.Args(), "every", *watch, "out", *out)
	}
	res, err := records.RunFiles(ctx, records.FilesSpec{
		Paths:      flags.Args(),
		Exclude:    []string{abs},
		Log:        log,
		Watch:      *watch,
		Checkpoint: *checkpoint,
		Writer: records.WriterSpec{
			Dir:          *out,
			Packets:      *packets,
			Flows:        *flows,
			Stem:         records.NewStem(start),
			Timeouts:     records.Timeouts{Idle: *idle, Active: *active},
			RowGroupRows: *rowGroup,
		},
	})
	for _, f := range res.Failed {
		fmt.Fprintf(os.Stderr, "pcapstore records: %s: %v\n", f.Path, f.Err)
	}
	fmt.Fprintf(os.Stderr, "pcapstore records: %d captures read (%d read before), %d failed, %d skipped; %d packets (%d without IP), %d flows; %d Parquet files in %s\n",
		res.Files, res.Done, len(res.Failed), len(res.Skipped), res.Packets, res.NonIP, res.Flows, res.Written, time.Since(start).Round(time.Millisecond))
	switch {
	case err != nil:
		fmt.Fprintf(os.Stderr, "pcapstore records: %v\n", err)
		return 1
	case len(res.Failed) > 0:
		return 1
	case ctx.Err() != nil && *watch == 0:
		fmt.Fprintln(os.Stderr, "pcapstore records: stopped before the end; run it again to go on")
		return 1
	}
	return 0
}
