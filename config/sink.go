package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/fastcapa-go/fastcapa/objstore"
	"github.com/fastcapa-go/fastcapa/pcap"
	"github.com/fastcapa-go/fastcapa/sink"
	"github.com/fastcapa-go/fastcapa/store"
)

// Sink is `pcapstore sink`'s configuration: one consumer, several
// targets. See pcapstore.example.yaml for every field with its meaning
// and default. The command line builds the same thing with one target.
type Sink struct {
	Brokers       string            `yaml:"brokers"`
	Topic         string            `yaml:"topic"`
	Group         string            `yaml:"group"`
	Format        string            `yaml:"format"`   // key or value
	KeyUnit       string            `yaml:"key_unit"` // ns, us, ms
	SanityWindow  time.Duration     `yaml:"sanity_window"`
	DeadLetter    string            `yaml:"dead_letter"`
	ResumeFree    int64             `yaml:"resume_free_bytes"`
	MetricsListen string            `yaml:"metrics_listen"`
	Kafka         map[string]string `yaml:"kafka"` // librdkafka consumer properties
	Targets       []SinkTarget      `yaml:"targets"`
}

// SinkTarget is one stream of files.
type SinkTarget struct {
	Name       string        `yaml:"name"`
	Dir        string        `yaml:"dir"`
	Template   string        `yaml:"template"`
	Filter     string        `yaml:"filter"`
	FilterVLAN bool          `yaml:"filter_vlan"`
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
	Compression      string     `yaml:"compression"`
	CompressionLevel int        `yaml:"compression_level"`
	PipeCmd          []string   `yaml:"pipe_cmd"`
	PipeSuffix       string     `yaml:"pipe_suffix"`
	Retain           SinkRetain `yaml:"retain"`
	// S3, if set, makes dir a spool: each finalized file is uploaded,
	// then deleted.
	S3 *SinkS3 `yaml:"s3"`
}

// SinkS3 is an S3-compatible object store (objstore.Spec).
type SinkS3 struct {
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
func (c *Sink) ObjStore(i int) (objstore.Spec, bool) {
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

// SinkRetain bounds what a target keeps; each bound is off at zero.
type SinkRetain struct {
	Bytes   int64         `yaml:"bytes"`
	FreePct float64       `yaml:"free_pct"`
	Age     time.Duration `yaml:"age"`
}

// Sink defaults, shared with the command line's.
const (
	DefaultSinkTopic    = "pcap"
	DefaultSinkGroup    = "pcapstore"
	DefaultSinkTemplate = "pcap_{topic}_{ts}_{partition}_{uuid}.pcap"
	DefaultSinkMaxBytes = 1 << 30
	DefaultSinkMaxSpan  = time.Hour
	DefaultSinkSnapLen  = 262144
	DefaultSinkMetrics  = "127.0.0.1:9471"
)

// SinkDefaults is a Sink with every default and no target.
func SinkDefaults() Sink {
	return Sink{Topic: DefaultSinkTopic, Group: DefaultSinkGroup, Format: "key", KeyUnit: "ns",
		ResumeFree: sink.DefaultResumeFree, MetricsListen: DefaultSinkMetrics}
}

// TargetDefaults is a SinkTarget with every default and no directory.
func TargetDefaults() SinkTarget {
	return SinkTarget{Template: DefaultSinkTemplate, FilterVLAN: true, MaxBytes: DefaultSinkMaxBytes,
		MaxSpan: DefaultSinkMaxSpan, Timestamps: "ns", SnapLen: DefaultSinkSnapLen, FileFormat: "pcap",
		Compression: "none"}
}

// LoadSink reads a sink's YAML file over the defaults. Unknown fields are
// errors.
func LoadSink(path string) (Sink, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Sink{}, err
	}
	c, err := DecodeSink(bytes.NewReader(raw))
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// DecodeSink reads a sink's YAML over the defaults; each target starts
// from TargetDefaults.
func DecodeSink(r io.Reader) (Sink, error) {
	c := SinkDefaults()
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		var fe *FieldError
		if errors.As(err, &fe) {
			return c, err
		}
		return c, yamlError(err)
	}
	return c, nil
}

// UnmarshalYAML decodes a target over TargetDefaults, strictly.
func (t *SinkTarget) UnmarshalYAML(n *yaml.Node) error {
	type plain SinkTarget // without this method
	p := plain(TargetDefaults())
	if err := decodeStrict(n, &p); err != nil {
		return err
	}
	*t = SinkTarget(p)
	return nil
}

// decodeStrict decodes a node refusing unknown fields, which Node.Decode
// does not do on its own.
func decodeStrict(n *yaml.Node, v any) error {
	raw, err := yaml.Marshal(n)
	if err != nil {
		return yamlError(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		// Line numbers count from the target's first line: make them
		// the file's again.
		msg := lineNo.ReplaceAllStringFunc(yamlError(err).Error(), func(m string) string {
			k, _ := strconv.Atoi(strings.TrimPrefix(m, "line "))
			return "line " + strconv.Itoa(n.Line+k-1)
		})
		return errors.New(strings.ReplaceAll(msg, "type config.plain", "a target"))
	}
	return nil
}

var lineNo = regexp.MustCompile(`line [0-9]+`)

func yamlError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return fmt.Errorf("config: %s", strings.Join(te.Errors, "; "))
	}
	return fmt.Errorf("config: %s", strings.TrimPrefix(err.Error(), "yaml: "))
}

// Spec checks c and makes the sink's Spec (Logger unset). Errors name
// the field and the fix, as *FieldError.
func (c *Sink) Spec() (sink.Spec, error) {
	var sp sink.Spec
	if c.Brokers == "" {
		return sp, fieldError("brokers", "not set: give the broker list, e.g. 127.0.0.1:9092")
	}
	if c.Topic == "" {
		return sp, fieldError("topic", "empty: name the packet topic")
	}
	if c.Group == "" {
		return sp, fieldError("group", "empty: name the consumer group")
	}
	unit, err := ParseKeyUnit(c.KeyUnit)
	if err != nil {
		return sp, fieldError("key_unit", "%v", err)
	}
	dec := sink.Decoder{KeyUnit: int64(unit), Window: c.SanityWindow}
	switch c.Format {
	case "key":
		dec.Format = sink.FromKey
	case "value":
		dec.Format = sink.FromValue
	default:
		return sp, fieldError("format", "%q: use key (Metron FROM_KEY) or value (Metron FROM_VALUE)", c.Format)
	}
	if c.SanityWindow < 0 {
		return sp, fieldError("sanity_window", "%v is negative: use 0 to accept any time", c.SanityWindow)
	}
	if c.ResumeFree < 0 {
		return sp, fieldError("resume_free_bytes", "%d is negative", c.ResumeFree)
	}
	if len(c.Targets) == 0 {
		return sp, fieldError("targets", "none: give at least one target with a dir")
	}
	props := map[string]string{"bootstrap.servers": c.Brokers}
	for k, v := range c.Kafka {
		if k == "bootstrap.servers" || k == "group.id" || k == "enable.auto.commit" || k == "enable.auto.offset.store" {
			return sp, fieldError("kafka."+k, "set by the sink itself (brokers, group, manual commits): remove it")
		}
		props[k] = v
	}
	sp = sink.Spec{Topic: c.Topic, Group: c.Group, Properties: props, Decoder: dec,
		DeadLetter: c.DeadLetter, ResumeFree: c.ResumeFree}
	for i, t := range c.Targets {
		field := fmt.Sprintf("targets[%d].", i)
		if o3, ok := c.ObjStore(i); ok {
			if err := o3.Validate(); err != nil {
				return sp, fieldError(field+"s3", "%v", err)
			}
		}
		ts, err := t.target()
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				fe.Field = field + fe.Field
			}
			return sp, err
		}
		sp.Targets = append(sp.Targets, ts)
	}
	return sp, nil
}

func (t *SinkTarget) target() (sink.Target, error) {
	var nanos bool
	switch t.Timestamps {
	case "ns":
		nanos = true
	case "us":
	default:
		return sink.Target{}, fieldError("timestamps", "%q: use ns (nanosecond pcap) or us (microsecond pcap)", t.Timestamps)
	}
	loc := time.UTC
	if t.TimeZone != "" {
		var err error
		if loc, err = time.LoadLocation(t.TimeZone); err != nil {
			return sink.Target{}, fieldError("time_zone", "%v: give an IANA name such as Europe/London, or Local", err)
		}
	}
	if t.Retain.FreePct < 0 || t.Retain.FreePct >= 100 {
		return sink.Target{}, fieldError("retain.free_pct", "%v: give a percentage from 0 (off) to below 100", t.Retain.FreePct)
	}
	if t.Retain.Bytes < 0 || t.Retain.Age < 0 {
		return sink.Target{}, fieldError("retain", "negative bound: use 0 for off")
	}
	format, err := pcap.ParseFormat(t.FileFormat)
	if err != nil {
		return sink.Target{}, fieldError("file_format", "%v", err)
	}
	comp, err := pcap.ParseCompression(t.Compression)
	if err != nil {
		return sink.Target{}, fieldError("compression", "%v", err)
	}
	tmpl := t.Template
	if format == pcap.FormatPcapNG && tmpl == DefaultSinkTemplate {
		tmpl = strings.TrimSuffix(tmpl, ".pcap") + ".pcapng"
	}
	st := store.Spec{Dir: t.Dir, Template: tmpl, MaxPackets: t.MaxPackets, MaxBytes: t.MaxBytes,
		MaxSpan: t.MaxSpan, Slot: t.Slot, Nanos: nanos, SnapLen: t.SnapLen, Location: loc,
		Format: format, Compression: comp, CompressionLevel: t.CompressionLevel,
		PipeCmd: t.PipeCmd, PipeSuffix: t.PipeSuffix}
	if err := st.Validate(); err != nil {
		return sink.Target{}, err
	}
	name := t.Name
	if name == "" {
		name = t.Dir
	}
	return sink.Target{Name: name, Store: st, Filter: t.Filter, FilterVLAN: t.FilterVLAN,
		Retention: store.Retention{MaxBytes: t.Retain.Bytes, MinFreePct: t.Retain.FreePct, MaxAge: t.Retain.Age}}, nil
}
