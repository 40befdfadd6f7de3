package sink

import (
	"errors"
	"flag"
	"io"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/yamlconf"
)

// parseFlags parses args as the command does: its own flags, then the
// settings.
func parseFlags(t *testing.T, args ...string) (f *Flags, configPath string) {
	t.Helper()
	fs := flag.NewFlagSet("pcapstore sink", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&configPath, "config", "", "")
	fs.String("log-level", "info", "")
	f = RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f, configPath
}

// TestFlagsDefaults: the command line with only the required flags
// builds the configuration the YAML defaults give, with one target.
func TestFlagsDefaults(t *testing.T) {
	f, _ := parseFlags(t, "-brokers", "b:9092", "-dir", "/data/pcap")
	c, _, err := f.Load("")
	if err != nil {
		t.Fatal(err)
	}
	want := ConfigDefaults()
	want.Brokers, want.Kafka = "b:9092", map[string]string{}
	tc := TargetConfigDefaults()
	tc.Dir = "/data/pcap"
	want.Targets = []TargetConfig{tc}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("config\n%+v\nwant\n%+v", c, want)
	}
}

// TestFlagsSpec: the flags that have no YAML twin of the same shape
// reach the Spec.
func TestFlagsSpec(t *testing.T) {
	f, _ := parseFlags(t, "-brokers", "b:9092", "-dir", "/data/pcap", "-micro", "-snaplen", "96",
		"-pipe-cmd", "xz  -1", "-pipe-suffix", ".xz", "-X", "fetch.min.bytes=1", "-X", "client.id=s",
		"-retain-age", "1h", "-key-unit", "us", "-format", "value", "-filter", "tcp", "-filter-vlan=false", "-decap=false",
		"-on-finalize", "/bin/sh  -c true", "-commit-after", "command", "-on-finalize-concurrency", "2", "-on-finalize-timeout", "5m")
	_, sp, err := f.Load("")
	if err != nil {
		t.Fatal(err)
	}
	if len(sp.Targets) != 1 {
		t.Fatalf("%d targets, want 1", len(sp.Targets))
	}
	tg := sp.Targets[0]
	for _, x := range []struct {
		name      string
		got, want any
	}{
		{"name", tg.Name, "/data/pcap"},
		{"nanos", tg.Store.Nanos, false},
		{"snaplen", tg.Store.SnapLen, uint32(96)},
		{"pipe cmd", tg.Store.PipeCmd, []string{"xz", "-1"}},
		{"pipe suffix", tg.Store.PipeSuffix, ".xz"},
		{"filter", tg.Filter, "tcp"},
		{"filter vlan", tg.FilterVLAN, false},
		{"decap", tg.Decap, false},
		{"retention", tg.Retention.MaxAge, time.Hour},
		{"on finalize", tg.OnFinalize, &Command{Argv: []string{"/bin/sh", "-c", "true"}, Timeout: 5 * time.Minute, Concurrency: 2, CommitAfter: true}},
		{"properties", sp.Properties, map[string]string{"bootstrap.servers": "b:9092", "fetch.min.bytes": "1", "client.id": "s"}},
		{"key unit", sp.Decoder.KeyUnit, int64(1000)},
		{"format", sp.Decoder.Format, FromValue},
	} {
		if !reflect.DeepEqual(x.got, x.want) {
			t.Errorf("%s = %#v, want %#v", x.name, x.got, x.want)
		}
	}
}

// TestFlagsErrors: each mistake is named by the flag that fixes it (the
// messages pcapstore sink prints after "pcapstore sink: ").
func TestFlagsErrors(t *testing.T) {
	ok := []string{"-brokers", "x", "-dir", "/data/pcap"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no dir", []string{"-brokers", "x"}, "-dir: not set: name the directory to write capture files under (or give -config)"},
		{"no brokers", []string{"-dir", "/data/pcap"}, "-brokers: not set: give the broker list, e.g. 127.0.0.1:9092"},
		{"key unit", append(ok, "-key-unit", "s"), `-key-unit: "s": use ns (default), us (what Metron's fastcapa sent) or ms`},
		{"format", append(ok, "-format", "json"), `-format: "json": use key (Metron FROM_KEY) or value (Metron FROM_VALUE)`},
		{"own property", append(ok, "-X", "group.id=z"), "-X group.id: set by the sink itself (brokers, group, manual commits): remove it"},
		{"free pct", append(ok, "-retain-free-pct", "100"), "-retain-free-pct: 100: give a percentage from 0 (off) to below 100"},
		{"time zone", append(ok, "-time-zone", "Mars/Olympus"), "-time-zone: unknown time zone Mars/Olympus: give an IANA name such as Europe/London, or Local"},
		{"file format", append(ok, "-file-format", "pcapx"), `-file-format: format "pcapx": use pcap or pcapng`},
		{"compression", append(ok, "-compression", "rar"), `-compression: compression "rar": use none, gzip, zstd or lz4`},
		{"sanity window", append(ok, "-sanity-window", "-1s"), "-sanity-window: -1s is negative: use 0 to accept any time"},
		{"resume free", append(ok, "-resume-free", "-1"), "-resume-free: -1 is negative"},
		{"topic", append(ok, "-topic", ""), "-topic: empty: name the packet topic"},
		{"group", append(ok, "-group", ""), "-group: empty: name the consumer group"},
		{"commit after", append(ok, "-commit-after", "command"), "-commit-after: command, but no on_finalize command: give one, or use commit_after: finalize"},
		{"on finalize", append(ok, "-on-finalize", "no-such-program-xyz {path}"), `-on-finalize: exec: "no-such-program-xyz": executable file not found in $PATH: give the program's path, or install it`},
		// store.Spec's own checks name its field, not a flag.
		{"max span", append(ok, "-max-span", "-1s"), "MaxSpan: -1s is negative: use 0 for no limit: invalid store spec"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := parseFlags(t, tc.args...)
			_, _, err := f.Load("")
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v\nwant %s", err, tc.want)
			}
			var fe *yamlconf.FieldError
			if tc.want[0] == '-' && (!errors.As(err, &fe) || fe.Field[0] != '-') {
				t.Errorf("%v is not a *FieldError naming a flag", err)
			}
		})
	}
}

// TestFlagsWithConfig: with -config, the settings come from the file and
// no setting's flag may be given (the command's own may).
func TestFlagsWithConfig(t *testing.T) {
	f, path := parseFlags(t, "-config", exampleConfig, "-log-level", "debug")
	c, sp, err := f.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Targets) != 2 || len(sp.Targets) != 2 || sp.Targets[0].Name != "all" {
		t.Errorf("config from %s: %d targets, spec %+v", path, len(c.Targets), sp.Targets)
	}

	f, path = parseFlags(t, "-micro", "-config", exampleConfig, "-dir", "y", "-log-level", "debug", "-brokers", "x")
	_, _, err = f.Load(path)
	if want := "-brokers, -dir, -micro: with -config, give these in the file"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	if given := f.given(); !slices.Equal(given, []string{"-brokers", "-dir", "-micro"}) {
		t.Errorf("given = %q", given)
	}
}

func TestFlagOf(t *testing.T) {
	for field, want := range map[string]string{
		"brokers":                    "-brokers",
		"key_unit":                   "-key-unit",
		"resume_free_bytes":          "-resume-free",
		"kafka.fetch.min.bytes":      "-X fetch.min.bytes",
		"targets[0].timestamps":      "-micro",
		"targets[0].time_zone":       "-time-zone",
		"targets[0].retain.free_pct": "-retain-free-pct",
		"targets[0].file_format":     "-file-format",
	} {
		if got := flagOf(field); got != want {
			t.Errorf("flagOf(%q) = %q, want %q", field, got, want)
		}
	}
}
