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

	"github.com/fastcapa-go/fastcapa/internal/cliflag"
	"github.com/fastcapa-go/fastcapa/objstore"
	"github.com/fastcapa-go/fastcapa/records"
	"github.com/fastcapa-go/fastcapa/sink"
)

const recordsUsage = `usage: pcapstore records -out DIR [-watch 10s] [OPTION]... PATH...
       pcapstore records -out DIR -brokers HOST:PORT [-topic pcap] [-group G] [OPTION]...
  writes a packet record per packet and a flow record per flow of the
  captures under PATH (files, or directories walked as pcapstore query
  walks them) as Parquet under DIR/packets and DIR/flows, in Hive
  partitions date=YYYY-MM-DD/hour=HH. DIR/.records-state.json says which
  captures are read: a later run reads only new ones, and after a crash
  or a stop it goes on without losing or repeating a record. The README's
  "Packet and flow records" section documents the columns.
  With -brokers it consumes the packet topic instead, in a consumer group,
  until stopped (SIGINT, SIGTERM), its records read as pcapstore sink
  reads them; the state then holds each partition's offset too.
`

// runRecords is pcapstore records: flags → records.RunFiles.
func runRecords(args []string) int {
	flags := flag.NewFlagSet("pcapstore records", flag.ContinueOnError)
	out := flags.String("out", "", "output `directory` (required)")
	packets := flags.Bool("packets", true, "write packet records")
	flows := flags.Bool("flows", true, "write flow records")
	idle := flags.Duration("idle", time.Minute, "a flow without a packet for this long (packet time) ends")
	active := flags.Duration("active", 30*time.Minute, "a flow lasting this long is written and goes on in a next record")
	closeDelay := flags.Duration("close", 5*time.Second, "a TCP flow closed (both FINs, or a RST) ends after this long without a packet")
	rowGroup := flags.Int64("row-group", 128<<10, "rows per Parquet row group (bounds memory per open file)")
	watch := flags.Duration("watch", 0, "keep running: look for new captures this often (0: read what is there and stop)")
	checkpoint := flags.Duration("checkpoint", time.Minute, "publish the records written and save the state this often, at most")
	verbose := flags.Bool("v", false, "log each file published and each checkpoint")
	brokers := flags.String("brokers", "", "Kafka bootstrap servers: consume the topic instead of reading captures")
	topic := flags.String("topic", sink.DefaultTopic, "packet topic (with -brokers)")
	group := flags.String("group", "pcapstore-records", "consumer group (with -brokers)")
	format := flags.String("format", "key", "record format: key (Metron FROM_KEY) or value (FROM_VALUE)")
	keyUnit := flags.String("key-unit", "ns", "unit of the key's timestamp: ns, us or ms")
	window := flags.Duration("sanity-window", 0, "dead-letter records whose time is further than this from now (0: any)")
	deadLetter := flags.String("dead-letter", "", "file for records refused (default DIR/deadletter.jsonl)")
	flowTopic := flags.String("flow-topic", "", "also send each flow record as JSON to this Kafka topic (the README says its shape)")
	flowBrokers := flags.String("flow-brokers", "", "bootstrap servers of -flow-topic (default -brokers)")
	s3Endpoint := flags.String("s3-endpoint", "", "also upload each published file to this S3-compatible store (host:port), credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	s3Bucket := flags.String("s3-bucket", "", "bucket of -s3-endpoint")
	s3Prefix := flags.String("s3-prefix", "", "key prefix in -s3-bucket (the files keep their packets/date=…/hour=… paths under it)")
	s3Region := flags.String("s3-region", "", "region of -s3-endpoint")
	s3TLS := flags.Bool("s3-tls", true, "HTTPS to -s3-endpoint")
	props := cliflag.Properties{}
	flags.Var(props, "X", "librdkafka consumer property key=value, repeatable")
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
	if *out == "" || (flags.NArg() == 0) == (*brokers == "") {
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
	ws := records.WriterSpec{
		Dir:          *out,
		Packets:      *packets,
		Flows:        *flows,
		Stem:         records.NewStem(start),
		Timeouts:     records.Timeouts{Idle: *idle, Active: *active, Close: *closeDelay},
		RowGroupRows: *rowGroup,
	}
	var ft *records.FlowTopic
	if *flowTopic != "" {
		fb := *flowBrokers
		if fb == "" {
			fb = *brokers
		}
		if fb == "" {
			fmt.Fprintln(os.Stderr, "pcapstore records: -flow-topic needs -flow-brokers (or -brokers)")
			return 2
		}
		var err error
		if ft, err = records.NewFlowTopic(*flowTopic, map[string]string{"bootstrap.servers": fb}, log); err != nil {
			fmt.Fprintf(os.Stderr, "pcapstore records: %v\n", err)
			return 2
		}
		defer ft.Close()
	}
	var upload func(ctx context.Context, localPath, key string) error
	if *s3Endpoint != "" {
		up, err := objstore.New(objstore.Spec{Endpoint: *s3Endpoint, TLS: *s3TLS, Region: *s3Region, Bucket: *s3Bucket,
			Prefix: *s3Prefix, Credentials: objstore.Credentials{FromEnv: true}, Logger: log})
		if err != nil {
			fmt.Fprintf(os.Stderr, "pcapstore records: %v\n", err)
			return 2
		}
		defer up.Close()
		upload = func(ctx context.Context, localPath, key string) error {
			obj, err := up.Upload(ctx, localPath, key)
			if err == nil {
				log.Debug("uploaded", "file", localPath, "object", obj.String())
			}
			return err
		}
	}
	if *brokers != "" {
		dec, err := sink.NewDecoder(*format, *keyUnit, *window)
		if err != nil {
			fmt.Fprintf(os.Stderr, "pcapstore records: %v\n", err)
			return 2
		}
		properties := map[string]string{"bootstrap.servers": *brokers}
		for k, v := range props {
			properties[k] = v
		}
		log.Info("consuming", "topic", *topic, "group", *group, "brokers", *brokers, "out", *out)
		res, err := records.RunKafka(ctx, records.KafkaSpec{Topic: *topic, Group: *group, Properties: properties,
			Decoder: dec, DeadLetter: *deadLetter, Writer: ws, Checkpoint: *checkpoint, Log: log, FlowTopic: ft, Upload: upload})
		rate := 0.0
		if d := res.Last.Sub(res.First).Seconds(); res.Consumed > 1 && d > 0 {
			rate = float64(res.Consumed-1) / d
		}
		fmt.Fprintf(os.Stderr, "pcapstore records: %d records consumed (%.0f records/s from the first to the last), %d dead-lettered; %d packets (%d without IP), %d flows; %d Parquet files in %s\n",
			res.Consumed, rate, res.DeadLettered, res.Packets, res.NonIP, res.Flows, res.Written, time.Since(start).Round(time.Millisecond))
		if err != nil {
			fmt.Fprintf(os.Stderr, "pcapstore records: %v\n", err)
			return 1
		}
		if res.Unuploaded > 0 {
			fmt.Fprintf(os.Stderr, "pcapstore records: %d files not uploaded yet: the next run uploads them\n", res.Unuploaded)
			return 1
		}
		return 0
	}
	if *watch > 0 {
		log.Info("watching for captures", "paths", flags.Args(), "every", *watch, "out", *out)
	}
	res, err := records.RunFiles(ctx, records.FilesSpec{
		Paths:      flags.Args(),
		Exclude:    []string{abs},
		Log:        log,
		Watch:      *watch,
		Checkpoint: *checkpoint,
		FlowTopic:  ft,
		Upload:     upload,
		Writer:     ws,
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
	case res.Unuploaded > 0:
		fmt.Fprintf(os.Stderr, "pcapstore records: %d files not uploaded yet: the next run uploads them\n", res.Unuploaded)
		return 1
	case ctx.Err() != nil && *watch == 0:
		fmt.Fprintln(os.Stderr, "pcapstore records: stopped before the end; run it again to go on")
		return 1
	}
	return 0
}
