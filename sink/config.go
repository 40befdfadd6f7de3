package sink

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/fastcapa-go/fastcapa/internal/yamlconf"
	"github.com/fastcapa-go/fastcapa/kafka"
	"github.com/fastcapa-go/fastcapa/objstore"
	"github.com/fastcapa-go/fastcapa/pcap"
	"github.com/fastcapa-go/fastcapa/store"
)

// Config is `pcapstore sink`'s configuration, as YAML: one consumer,
// several targets. See pcapstore.example.yaml for every field with its
// meaning and default. The command line builds the same thing with one
// target (Flags).
type Config struct {
	Brokers       string            `yaml:"brokers"`
	Topic         string            `yaml:"topic"`
	Group         string            `yaml:"group"`
	Start         string            `yaml:"start"` // Metron's kafka.pcap.start
	MaxLagRecords int64             `yaml:"max_lag_records"`
	MaxLagAge     time.Duration     `yaml:"max_lag_age"`
	Format        string            `yaml:"format"`   // key or value
	KeyUnit       string            `yaml:"key_unit"` // ns, us, ms
	SanityWindow  time.Duration     `yaml:"sanity_window"`
	DeadLetter    string            `yaml:"dead_letter"`
	ResumeFree    int64             `yaml:"resume_free_bytes"`
	MetricsListen string            `yaml:"metrics_listen"`
	Kafka         map[string]string `yaml:"kafka"` // librdkafka consumer properties
	Targets       []TargetConfig    `yaml:"targets"`
}

// TargetConfig is one target: one stream of files.
type TargetConfig struct {
	Name       string        `yaml:"name"`
	Dir        string        `yaml:"dir"`
	Template   string        `yaml:"template"`
	Filter     string        `yaml:"filter"`
	FilterVLAN bool          `yaml:"filter_vlan"`
	Decap      bool          `yaml:"decap"`
	MaxPackets int64         `yaml:"max_packets"`
	MaxBytes   int64         `yaml:"max_bytes"`
	MaxSpan    time.Duration `yaml:"max_span"`
	Slot       time.Duration `yaml:"slot"`
	Timestamps string        `yaml:"timestamps"` // ns or us
	SnapLen    uint32        `yaml:"snaplen"`
	TimeZone   string        `yaml:"time_zone"`
	FileFormat string        `yaml:"file_format"` // pcap or pcapng
	// Compression in process: none, gzip, zstd, lz4; the level 0 is the
	// compressor's default.
	Compression      string       `yaml:"compression"`
	CompressionLevel int          `yaml:"compression_level"`
	PipeCmd          []string     `yaml:"pipe_cmd"`
	PipeSuffix       string       `yaml:"pipe_suffix"`
	Retain           RetainConfig `yaml:"retain"`
	// S3, if set, makes dir a spool: each finalized file is uploaded,
	// then deleted.
	S3 *S3Config `yaml:"s3"`
	// OnFinalize is a command run for each finalized file (Command):
	// its argv, one attempt's timeout (0: none), how many run at once.
	OnFinalize            []string      `yaml:"on_finalize"`
	OnFinalizeTimeout     time.Duration `yaml:"on_finalize_timeout"`
	OnFinalizeConcurrency int           `yaml:"on_finalize_concurrency"`
	// CommitAfter is finalize (offsets committed once the file is on
	// disk) or command (once its on_finalize command exited 0).
	CommitAfter string `yaml:"commit_after"`
}

// S3Config is an S3-compatible object store (objstore.Spec).
type S3Config struct {
	Endpoint string `yaml:"endpoint"`
	TLS      bool   `yaml:"tls"`
	Region   string `yaml:"region"`
	Bucket   string `yaml:"bucket"`
	Prefix   string `yaml:"prefix"`
	// AccessKey and SecretKey; both empty: AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY from the environment.
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key"`
	PartSize  int64  `yaml:"part_size"`
	// Attempts and MaxRetryWait bound one upload's retries of transient
	// failures (objstore.Spec); the sink then tries the file again.
	Attempts     int           `yaml:"attempts"`
	MaxRetryWait time.Duration `yaml:"max_retry_wait"`
}

// ObjStore is the object store of target i, if it has one.
func (c *Config) ObjStore(i int) (objstore.Spec, bool) {
	s3 := c.Targets[i].S3
	if s3 == nil {
		return objstore.Spec{}, false
	}
	sp := objstore.Spec{Endpoint: s3.Endpoint, TLS: s3.TLS, Region: s3.Region, Bucket: s3.Bucket,
		Prefix: s3.Prefix, PartSize: s3.PartSize, Attempts: s3.Attempts, MaxRetryWait: s3.MaxRetryWait,
		Credentials: objstore.Credentials{AccessKey: s3.AccessKey, SecretKey: s3.SecretKey}}
	if s3.AccessKey == "" && s3.SecretKey == "" {
		sp.Credentials = objstore.Credentials{FromEnv: true}
	}
	return sp, true
}

// RetainConfig bounds what a target keeps; each bound is off at zero.
type RetainConfig struct {
	Bytes   int64         `yaml:"bytes"`
	FreePct float64       `yaml:"free_pct"`
	Age     time.Duration `yaml:"age"`
}

// Defaults of the configuration, shared with the command line's.
const (
	DefaultTopic         = "pcap"
	DefaultGroup         = "pcapstore"
	DefaultTemplate      = "pcap_{topic}_{ts}_{partition}_{uuid}.pcap"
	DefaultMaxBytes      = 1 << 30
	DefaultMaxSpan       = time.Hour
	DefaultSnapLen       = 262144
	DefaultMetricsListen = "127.0.0.1:9471"
)

// ConfigDefaults is a Config with every default and no target.
func ConfigDefaults() Config {
	return Config{Topic: DefaultTopic, Group: DefaultGroup, Start: "UNCOMMITTED_EARLIEST", Format: "key", KeyUnit: "ns",
		ResumeFree: DefaultResumeFree, MetricsListen: DefaultMetricsListen}
}

// TargetConfigDefaults is a TargetConfig with every default and no
// directory.
func TargetConfigDefaults() TargetConfig {
	return TargetConfig{Template: DefaultTemplate, FilterVLAN: true, Decap: true, MaxBytes: DefaultMaxBytes,
		MaxSpan: DefaultMaxSpan, Timestamps: "ns", SnapLen: DefaultSnapLen, FileFormat: "pcap",
		Compression: "none", OnFinalizeTimeout: DefaultCommandTimeout, OnFinalizeConcurrency: 1, CommitAfter: "finalize"}
}

// LoadConfig reads a YAML file over the defaults. Unknown fields are
// errors.
func LoadConfig(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	c, err := DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// DecodeConfig reads YAML over the defaults; each target starts from
// TargetConfigDefaults. Unknown fields are errors.
func DecodeConfig(r io.Reader) (Config, error) {
	c := ConfigDefaults()
	err := yamlconf.Decode(r, &c)
	return c, err
}

// UnmarshalYAML decodes a target over TargetConfigDefaults, strictly.
func (t *TargetConfig) UnmarshalYAML(n *yaml.Node) error {
	type plain TargetConfig // without this method
	p := plain(TargetConfigDefaults())
	if err := yamlconf.DecodeNode(n, &p, "a target"); err != nil {
		return err
	}
	*t = TargetConfig(p)
	return nil
}

// NewDecoder makes the Decoder of a record format ("key": Metron's
// FROM_KEY, "value": FROM_VALUE), a key unit (kafka.ParseKeyUnit) and a
// sanity window (0: any time): for the sink and pcapstore records alike.
// An error is a *yamlconf.FieldError naming format, key_unit or
// sanity_window.
func NewDecoder(format, keyUnit string, window time.Duration) (Decoder, error) {
	unit, err := kafka.ParseKeyUnit(keyUnit)
	if err != nil {
		return Decoder{}, yamlconf.Errorf("key_unit", "%v", err)
	}
	dec := Decoder{KeyUnit: int64(unit), Window: window}
	switch format {
	case "key":
		dec.Format = FromKey
	case "value":
		dec.Format = FromValue
	default:
		return Decoder{}, yamlconf.Errorf("format", "%q: use key (Metron FROM_KEY) or value (Metron FROM_VALUE)", format)
	}
	if window < 0 {
		return Decoder{}, yamlconf.Errorf("sanity_window", "%v is negative: use 0 to accept any time", window)
	}
	return dec, nil
}

// Spec checks c and makes the sink's Spec (Logger unset, no Upload).
// Errors name the field and the fix, as *yamlconf.FieldError.
func (c *Config) Spec() (Spec, error) {
	var sp Spec
	if c.Brokers == "" {
		return sp, yamlconf.Errorf("brokers", "not set: give the broker list, e.g. 127.0.0.1:9092")
	}
	if c.Topic == "" {
		return sp, yamlconf.Errorf("topic", "empty: name the packet topic")
	}
	if c.Group == "" {
		return sp, yamlconf.Errorf("group", "empty: name the consumer group")
	}
	dec, err := NewDecoder(c.Format, c.KeyUnit, c.SanityWindow)
	if err != nil {
		return sp, err
	}
	if c.ResumeFree < 0 {
		return sp, yamlconf.Errorf("resume_free_bytes", "%d is negative", c.ResumeFree)
	}
	if len(c.Targets) == 0 {
		return sp, yamlconf.Errorf("targets", "none: give at least one target with a dir")
	}
	start, err := ParseStart(c.Start)
	if err != nil {
		return sp, yamlconf.Errorf("start", "%v", err)
	}
	props := map[string]string{"bootstrap.servers": c.Brokers} // auto.offset.reset: earliest (kafka.NewConsumer)
	if start == StartUncommittedLatest {
		props["auto.offset.reset"] = "latest"
	}
	for k, v := range c.Kafka {
		switch k {
		case "bootstrap.servers", "group.id", "enable.auto.commit", "enable.auto.offset.store":
			return sp, yamlconf.Errorf("kafka."+k, "set by the sink itself (brokers, group, manual commits): remove it")
		case "auto.offset.reset":
			return sp, yamlconf.Errorf("kafka."+k, "set by start: use start: UNCOMMITTED_LATEST for latest")
		}
		props[k] = v
	}
	if c.MaxLagRecords < 0 || c.MaxLagAge < 0 {
		return sp, yamlconf.Errorf("max_lag_records", "negative bound (max_lag_records %d, max_lag_age %v): use 0 to keep going, lossless",
			c.MaxLagRecords, c.MaxLagAge)
	}
	sp = Spec{Topic: c.Topic, Group: c.Group, Start: start, MaxLag: MaxLag{Records: c.MaxLagRecords, Age: c.MaxLagAge},
		Properties: props, Decoder: dec,
		DeadLetter: c.DeadLetter, ResumeFree: c.ResumeFree}
	for i, t := range c.Targets {
		field := fmt.Sprintf("targets[%d].", i)
		if o3, ok := c.ObjStore(i); ok {
			if err := o3.Validate(); err != nil {
				return sp, yamlconf.Errorf(field+"s3", "%v", err)
			}
		}
		ts, err := t.target()
		if err != nil {
			var fe *yamlconf.FieldError
			if errors.As(err, &fe) {
				fe.Field = field + fe.Field
			}
			return sp, err
		}
		sp.Targets = append(sp.Targets, ts)
	}
	if err := deadLetterApart(c.DeadLetter, sp.Targets); err != nil {
		return sp, err
	}
	return sp, nil
}

// walked says whether store.Walk reaches rel, a path relative to the
// walked directory: inside it, and through no hidden directory.
func walked(rel string) bool {
	for _, el := range strings.Split(filepath.ToSlash(rel), "/") {
		if el == ".." || strings.HasPrefix(el, ".") {
			return false
		}
	}
	return true
}

// deadLetterApart refuses a dead-letter file inside a target's directory
// under a name store.Walk would call a capture: retention would delete
// it and the S3 spool upload it.
func deadLetterApart(path string, targets []Target) error {
	if path == "" {
		return nil
	}
	if store.Classify(filepath.Base(path), 0).Kind != store.Capture {
		return nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return yamlconf.Errorf("dead_letter", "%v", err)
	}
	for i, t := range targets {
		dir, err := filepath.Abs(t.Store.Dir)
		if err != nil {
			return yamlconf.Errorf(fmt.Sprintf("targets[%d].dir", i), "%v", err)
		}
		if rel, err := filepath.Rel(dir, abs); err == nil && walked(rel) {
			return yamlconf.Errorf("dead_letter", "%s is inside targets[%d].dir, where retention and uploads would take it for a capture: end its name in .jsonl or put it elsewhere", path, i)
		}
	}
	return nil
}

func (t *TargetConfig) target() (Target, error) {
	var nanos bool
	switch t.Timestamps {
	case "ns":
		nanos = true
	case "us":
	default:
		return Target{}, yamlconf.Errorf("timestamps", "%q: use ns (nanosecond pcap) or us (microsecond pcap)", t.Timestamps)
	}
	loc := time.UTC
	if t.TimeZone != "" {
		var err error
		if loc, err = time.LoadLocation(t.TimeZone); err != nil {
			return Target{}, yamlconf.Errorf("time_zone", "%v: give an IANA name such as Europe/London, or Local", err)
		}
	}
	if t.Retain.FreePct < 0 || t.Retain.FreePct >= 100 {
		return Target{}, yamlconf.Errorf("retain.free_pct", "%v: give a percentage from 0 (off) to below 100", t.Retain.FreePct)
	}
	if t.Retain.Bytes < 0 || t.Retain.Age < 0 {
		return Target{}, yamlconf.Errorf("retain", "negative bound: use 0 for off")
	}
	format, err := pcap.ParseFormat(t.FileFormat)
	if err != nil {
		return Target{}, yamlconf.Errorf("file_format", "%v", err)
	}
	comp, err := pcap.ParseCompression(t.Compression)
	if err != nil {
		return Target{}, yamlconf.Errorf("compression", "%v", err)
	}
	tmpl := t.Template
	if format == pcap.FormatPcapNG && tmpl == DefaultTemplate {
		tmpl = strings.TrimSuffix(tmpl, ".pcap") + ".pcapng"
	}
	st := store.Spec{Dir: t.Dir, Template: tmpl, MaxPackets: t.MaxPackets, MaxBytes: t.MaxBytes,
		MaxSpan: t.MaxSpan, Slot: t.Slot, Nanos: nanos, SnapLen: t.SnapLen, Location: loc,
		Format: format, Compression: comp, CompressionLevel: t.CompressionLevel,
		PipeCmd: t.PipeCmd, PipeSuffix: t.PipeSuffix}
	if err := st.Validate(); err != nil {
		return Target{}, err
	}
	name := t.Name
	if name == "" {
		name = t.Dir
	}
	cmd, err := t.command()
	if err != nil {
		return Target{}, err
	}
	return Target{Name: name, Store: st, Filter: t.Filter, FilterVLAN: t.FilterVLAN, Decap: t.Decap, OnFinalize: cmd,
		Retention: store.Retention{MaxBytes: t.Retain.Bytes, MinFreePct: t.Retain.FreePct, MaxAge: t.Retain.Age}}, nil
}

// command is the target's on_finalize, nil if none. Its program must be
// found now (exec.LookPath), not at the first file.
func (t *TargetConfig) command() (*Command, error) {
	after := false
	switch t.CommitAfter {
	case "finalize":
	case "command":
		after = true
	default:
		return nil, yamlconf.Errorf("commit_after", "%q: use finalize (commit once the file is on disk) or command (once its on_finalize command exited 0)", t.CommitAfter)
	}
	if len(t.OnFinalize) == 0 {
		if after {
			return nil, yamlconf.Errorf("commit_after", "command, but no on_finalize command: give one, or use commit_after: finalize")
		}
		return nil, nil
	}
	if t.S3 != nil {
		return nil, yamlconf.Errorf("on_finalize", "with s3, which deletes each file once uploaded: use one or the other (rclone copies to S3 too)")
	}
	if _, err := exec.LookPath(t.OnFinalize[0]); err != nil {
		return nil, yamlconf.Errorf("on_finalize", "%v: give the program's path, or install it", err)
	}
	if t.OnFinalizeTimeout < 0 {
		return nil, yamlconf.Errorf("on_finalize_timeout", "%v is negative: use 0 for none", t.OnFinalizeTimeout)
	}
	if n := t.OnFinalizeConcurrency; n < 1 || n > MaxCommandConcurrency {
		return nil, yamlconf.Errorf("on_finalize_concurrency", "%d: give 1 to %d", n, MaxCommandConcurrency)
	}
	return &Command{Argv: t.OnFinalize, Timeout: t.OnFinalizeTimeout, Concurrency: t.OnFinalizeConcurrency, CommitAfter: after}, nil
}

// Start is where a sink starts consuming a partition (Metron's
// kafka.pcap.start).
type Start int

// The starts: the UNCOMMITTED ones resume from the group's committed
// offset and, without one, begin at the earliest or latest offset; the
// others ignore committed offsets the first time the sink is given a
// partition.
const (
	StartUncommittedEarliest Start = iota // the default
	StartUncommittedLatest
	StartEarliest
	StartLatest
)

var startNames = []string{"UNCOMMITTED_EARLIEST", "UNCOMMITTED_LATEST", "EARLIEST", "LATEST"}

func (s Start) String() string { return startNames[s] }

// ParseStart reads a start by Metron's name, in any case.
func ParseStart(name string) (Start, error) {
	for i, n := range startNames {
		if strings.EqualFold(name, n) {
			return Start(i), nil
		}
	}
	return 0, fmt.Errorf("%q: use UNCOMMITTED_EARLIEST (committed offset, else the earliest; the default), "+
		"UNCOMMITTED_LATEST (committed, else the latest), EARLIEST or LATEST (committed offsets ignored)", name)
}
