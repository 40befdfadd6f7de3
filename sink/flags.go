package sink

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/fastcapa-go/fastcapa/internal/cliflag"
	"github.com/fastcapa-go/fastcapa/internal/yamlconf"
)

// Flags is `pcapstore sink`'s command line: a Config with one target,
// each setting a flag, or a YAML file (-config, which the command
// defines) and then none of these flags.
type Flags struct {
	fs    *flag.FlagSet
	names map[string]bool // the flags RegisterFlags defined

	c          Config
	t          TargetConfig
	micro      bool
	snaplen    uint
	pipeCmd    string
	onFinalize string
	props      cliflag.Properties
}

// RegisterFlags defines a flag for each setting on fs, defaulting to
// ConfigDefaults and TargetConfigDefaults, and returns what they set.
func RegisterFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs, names: map[string]bool{}, c: ConfigDefaults(), t: TargetConfigDefaults(), props: cliflag.Properties{}}
	before := map[string]bool{}
	fs.VisitAll(func(fl *flag.Flag) { before[fl.Name] = true })

	c, t := &f.c, &f.t
	fs.StringVar(&c.Brokers, "brokers", c.Brokers, "Kafka bootstrap servers")
	fs.StringVar(&c.Topic, "topic", c.Topic, "topic to consume")
	fs.StringVar(&c.Group, "group", c.Group, "consumer group: more sinks in one group share the partitions")
	fs.StringVar(&c.Start, "start", c.Start, "where to start a partition: UNCOMMITTED_EARLIEST (the committed offset, else the earliest),\n"+
		"UNCOMMITTED_LATEST (committed, else the latest), EARLIEST or LATEST (committed offsets ignored); Metron's kafka.pcap.start")
	fs.Int64Var(&c.MaxLagRecords, "max-lag-records", c.MaxLagRecords, "when a partition is more records than this behind, skip to its latest offset, counting what is skipped (0: never, lossless)")
	fs.DurationVar(&c.MaxLagAge, "max-lag-age", c.MaxLagAge, "when the last record consumed is older than this (its Kafka timestamp) with more behind it, skip to the latest offset, counting (0: never)")
	fs.StringVar(&c.Format, "format", c.Format, "record format: key (key = timestamp, value = frame; Metron FROM_KEY) or value (Metron FROM_VALUE)")
	fs.StringVar(&c.KeyUnit, "key-unit", c.KeyUnit, "unit of the key's timestamp: ns, us or ms")
	fs.DurationVar(&c.SanityWindow, "sanity-window", c.SanityWindow, "dead-letter records whose time is further than this from now (0: accept any)")
	fs.StringVar(&c.DeadLetter, "dead-letter", c.DeadLetter, "file for records no capture file can hold, with the reason (default DIR/deadletter.jsonl)")
	fs.Int64Var(&c.ResumeFree, "resume-free", c.ResumeFree, "after a disk-full stop, resume when the disk has this many bytes free")
	fs.StringVar(&c.MetricsListen, "metrics-listen", c.MetricsListen, "host:port for /metrics, /healthz, /readyz (\"\": none)")
	fs.Var(f.props, "X", "librdkafka consumer property key=value, repeatable")
	fs.StringVar(&t.Dir, "dir", t.Dir, "directory to write capture files under")
	fs.StringVar(&t.Template, "template", t.Template, "file name template (see store.Spec)")
	fs.StringVar(&t.Filter, "filter", t.Filter, "keep only the packets this tcpdump expression matches")
	fs.BoolVar(&t.FilterVLAN, "filter-vlan", t.FilterVLAN, "match VLAN-tagged frames on their inner packet too")
	fs.BoolVar(&t.Decap, "decap", t.Decap, "match -filter on each frame's innermost packet, through VLAN, MPLS, GRE, ERSPAN, VXLAN, Geneve, GTP-U\n"+
		"(the file keeps the frame whole; -decap=false: the filter sees the frame as tcpdump does)")
	fs.Int64Var(&t.MaxPackets, "max-packets", t.MaxPackets, "rotate after this many packets")
	fs.Int64Var(&t.MaxBytes, "max-bytes", t.MaxBytes, "rotate at this file size in bytes")
	fs.DurationVar(&t.MaxSpan, "max-span", t.MaxSpan, "rotate when a file would span more than this")
	fs.DurationVar(&t.Slot, "slot", t.Slot, "rotate at wall-clock-aligned slots, e.g. 60s on the minute")
	fs.StringVar(&t.TimeZone, "time-zone", t.TimeZone, "time zone of {hhmmss} and strftime verbs (default UTC)")
	fs.StringVar(&t.FileFormat, "file-format", t.FileFormat, "pcap or pcapng")
	fs.StringVar(&t.Compression, "compression", t.Compression, "none, gzip, zstd or lz4 (the suffix is appended to the name)")
	fs.IntVar(&t.CompressionLevel, "compression-level", t.CompressionLevel, "the compressor's level (0: its default)")
	fs.StringVar(&f.pipeCmd, "pipe-cmd", "", "command each file's bytes are piped through, its output the file (words split on spaces, no shell: use -config for more)")
	fs.StringVar(&t.PipeSuffix, "pipe-suffix", t.PipeSuffix, "suffix appended to -pipe-cmd's file names, e.g. .xz")
	fs.StringVar(&f.onFinalize, "on-finalize", "", "command run for each finished file; {path}, {name}, {key}, {dir}, {index}, {target} replaced\n"+
		"(words split on spaces, no shell: use -config for more), e.g. 'rclone copyto {path} remote:bucket/{key}'")
	fs.DurationVar(&t.OnFinalizeTimeout, "on-finalize-timeout", t.OnFinalizeTimeout, "kill an -on-finalize attempt after this long, and try again (0: no limit)")
	fs.IntVar(&t.OnFinalizeConcurrency, "on-finalize-concurrency", t.OnFinalizeConcurrency, "how many files' -on-finalize commands run at once")
	fs.StringVar(&t.CommitAfter, "commit-after", t.CommitAfter, "commit a file's offsets once it is on disk (finalize), or once its -on-finalize command exited 0 (command)")
	fs.BoolVar(&f.micro, "micro", false, "write microsecond pcap (default nanosecond)")
	fs.UintVar(&f.snaplen, "snaplen", uint(t.SnapLen), "pcap snapshot length")
	fs.Int64Var(&t.Retain.Bytes, "retain-bytes", t.Retain.Bytes, "delete the oldest files to keep their total under this many bytes (0: off)")
	fs.Float64Var(&t.Retain.FreePct, "retain-free-pct", t.Retain.FreePct, "delete the oldest files to keep this percentage of the filesystem free (0: off)")
	fs.DurationVar(&t.Retain.Age, "retain-age", t.Retain.Age, "delete files older than this (0: off)")

	fs.VisitAll(func(fl *flag.Flag) {
		if !before[fl.Name] {
			f.names[fl.Name] = true
		}
	})
	return f
}

// Load is the configuration the command line gives, checked, and the
// Spec made from it (Logger unset, no Upload): the file at path if path
// is set, none of f's flags set; else f's flags, one target. An error
// names what to fix: the flag, or the file's field as a
// *yamlconf.FieldError.
func (f *Flags) Load(path string) (Config, Spec, error) {
	if path != "" {
		if set := f.given(); len(set) > 0 {
			return Config{}, Spec{}, fmt.Errorf("%s: with -config, give these in the file", strings.Join(set, ", "))
		}
		c, err := LoadConfig(path)
		if err != nil {
			return c, Spec{}, err
		}
		sp, err := c.Spec()
		return c, sp, err
	}
	c, err := f.config()
	if err != nil {
		return c, Spec{}, err
	}
	sp, err := c.Spec()
	var fe *yamlconf.FieldError
	if errors.As(err, &fe) {
		return c, sp, &yamlconf.FieldError{Field: flagOf(fe.Field), Msg: fe.Msg}
	}
	return c, sp, err
}

// given lists f's flags the command line set, as "-name", by name.
func (f *Flags) given() []string {
	var set []string
	f.fs.Visit(func(fl *flag.Flag) {
		if f.names[fl.Name] {
			set = append(set, "-"+fl.Name)
		}
	})
	return set
}

// config is the Config f's flags give, with its one target.
func (f *Flags) config() (Config, error) {
	c, t := f.c, f.t
	if t.Dir == "" {
		return c, yamlconf.Errorf("-dir", "not set: name the directory to write capture files under (or give -config)")
	}
	if f.micro {
		t.Timestamps = "us"
	}
	t.SnapLen = uint32(f.snaplen)
	if cmd := strings.Fields(f.pipeCmd); len(cmd) > 0 {
		t.PipeCmd = cmd
	}
	if cmd := strings.Fields(f.onFinalize); len(cmd) > 0 {
		t.OnFinalize = cmd
	}
	c.Kafka = f.props
	c.Targets = []TargetConfig{t}
	return c, nil
}

// flagOf names the flag that sets a Config field of the one target.
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
