package sink

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/internal/yamlconf"
)

const exampleConfig = "pcapstore.example.yaml"

// TestConfigExample: the example loads, every target starts from the
// defaults, and it makes a valid sink Spec.
func TestConfigExample(t *testing.T) {
	c, err := LoadConfig(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Targets) != 2 {
		t.Fatalf("%d targets, want 2", len(c.Targets))
	}
	dns := c.Targets[1]
	if dns.MaxBytes != DefaultMaxBytes || dns.MaxSpan != DefaultMaxSpan || dns.Timestamps != "ns" || !dns.FilterVLAN {
		t.Errorf("the second target did not start from the defaults: %+v", dns)
	}
	if dns.Retain.Age != 168*time.Hour || dns.Slot != time.Minute {
		t.Errorf("dns target: %+v", dns)
	}
	sp, err := c.Spec()
	if err != nil {
		t.Fatal(err)
	}
	if sp.Targets[0].Name != "all" || sp.Targets[1].Filter != "udp port 53 or tcp port 53" || !sp.Targets[0].Store.Nanos ||
		!sp.Targets[1].Decap {
		t.Errorf("spec: %+v", sp.Targets)
	}
	if sp.Properties["bootstrap.servers"] != "127.0.0.1:9092" {
		t.Errorf("properties: %v", sp.Properties)
	}
}

// TestConfigExampleDocumentsEveryField: a new field cannot go
// undocumented.
func TestConfigExampleDocumentsEveryField(t *testing.T) {
	raw, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range yamlconf.Undocumented(raw, reflect.TypeOf(Config{})) {
		t.Errorf("%s: field %s is not documented", exampleConfig, f)
	}
}

func TestConfigBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown top field", "brokers: x\ntopik: y\n", "field topik not found"},
		{"unknown target field", "brokers: x\ntargets:\n  - dir: /tmp/a\n    max_spam: 3s\n", "line 4: field max_spam not found in a target"},
		{"no brokers", "targets:\n  - dir: /tmp/a\n", "brokers: not set"},
		{"no target", "brokers: x\n", "targets: none"},
		{"bad unit", "brokers: x\nkey_unit: s\ntargets:\n  - dir: /tmp/a\n", "key_unit:"},
		{"bad format", "brokers: x\nformat: json\ntargets:\n  - dir: /tmp/a\n", `format: "json"`},
		{"bad timestamps", "brokers: x\ntargets:\n  - dir: /tmp/a\n    timestamps: ms\n", "targets[0].timestamps"},
		{"bad zone", "brokers: x\ntargets:\n  - dir: /tmp/a\n  - dir: /tmp/b\n    time_zone: Mars/Olympus\n", "targets[1].time_zone"},
		{"bad free pct", "brokers: x\ntargets:\n  - dir: /tmp/a\n    retain: {free_pct: 100}\n", "targets[0].retain.free_pct"},
		{"own property", "brokers: x\nkafka: {group.id: z}\ntargets:\n  - dir: /tmp/a\n", "kafka.group.id: set by the sink"},
		{"bad start", "brokers: x\nstart: BEGINNING\ntargets:\n  - dir: /tmp/a\n", `start: "BEGINNING": use UNCOMMITTED_EARLIEST`},
		{"negative lag bound", "brokers: x\nmax_lag_age: -1s\ntargets:\n  - dir: /tmp/a\n", "max_lag_records: negative bound"},
		{"offset reset", "brokers: x\nkafka: {auto.offset.reset: latest}\ntargets:\n  - dir: /tmp/a\n", "kafka.auto.offset.reset: set by start"},
		{"bad template", "brokers: x\ntargets:\n  - dir: /tmp/a\n    template: \"{nope}\"\n", "Template"},
		{"bad commit_after", "brokers: x\ntargets:\n  - dir: /tmp/a\n    commit_after: upload\n", `targets[0].commit_after: "upload": use finalize`},
		{"commit after no command", "brokers: x\ntargets:\n  - dir: /tmp/a\n    commit_after: command\n", "targets[0].commit_after: command, but no on_finalize"},
		{"command and s3", "brokers: x\ntargets:\n  - dir: /tmp/a\n    on_finalize: [\"true\"]\n    s3: {bucket: captures, endpoint: e, region: r}\n", "targets[0].on_finalize: with s3"},
		{"command not found", "brokers: x\ntargets:\n  - dir: /tmp/a\n    on_finalize: [no-such-program-xyz, \"{path}\"]\n", `targets[0].on_finalize: exec: "no-such-program-xyz": executable file not found`},
		{"no concurrency", "brokers: x\ntargets:\n  - dir: /tmp/a\n    on_finalize: [\"true\"]\n    on_finalize_concurrency: 0\n", "targets[0].on_finalize_concurrency: 0: give 1 to 64"},
		{"negative command timeout", "brokers: x\ntargets:\n  - dir: /tmp/a\n    on_finalize: [\"true\"]\n    on_finalize_timeout: -1s\n", "targets[0].on_finalize_timeout: -1s is negative"},
		{"dead letter taken for a capture", "brokers: x\ndead_letter: /tmp/b/x/bad.log\ntargets:\n  - dir: /tmp/a\n  - dir: /tmp/b\n", "dead_letter: /tmp/b/x/bad.log is inside targets[1].dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := DecodeConfig(strings.NewReader(tc.yaml))
			if err == nil {
				_, err = c.Spec()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			var fe *yamlconf.FieldError
			if strings.Contains(tc.want, ":") && strings.HasPrefix(tc.want, "targets[") && !errors.As(err, &fe) {
				t.Errorf("%v is not a *FieldError", err)
			}
		})
	}
}

// TestConfigStart: Metron's four kafka.pcap.start names, in any case;
// only UNCOMMITTED_LATEST changes librdkafka's auto.offset.reset.
func TestConfigStart(t *testing.T) {
	for _, c := range []struct {
		name  string
		want  Start
		reset string
	}{
		{"", StartUncommittedEarliest, ""}, // the default
		{"UNCOMMITTED_EARLIEST", StartUncommittedEarliest, ""},
		{"uncommitted_latest", StartUncommittedLatest, "latest"},
		{"EARLIEST", StartEarliest, ""},
		{"Latest", StartLatest, ""},
	} {
		y := "brokers: x\ntargets:\n  - dir: /tmp/a\n"
		if c.name != "" {
			y = "start: " + c.name + "\n" + y
		}
		cfg, err := DecodeConfig(strings.NewReader(y))
		if err != nil {
			t.Fatal(err)
		}
		sp, err := cfg.Spec()
		if err != nil {
			t.Fatalf("%q: %v", c.name, err)
		}
		if sp.Start != c.want || sp.Properties["auto.offset.reset"] != c.reset {
			t.Errorf("%q: start %v, auto.offset.reset %q; want %v, %q", c.name, sp.Start, sp.Properties["auto.offset.reset"], c.want, c.reset)
		}
	}
}

// TestMaxLag: past either bound, and only with records behind.
func TestMaxLag(t *testing.T) {
	for _, c := range []struct {
		m      MaxLag
		lag    int64
		behind time.Duration
		want   bool
	}{
		{MaxLag{}, 1 << 40, time.Hour, false}, // off: lossless
		{MaxLag{Records: 1000}, 1000, time.Hour, false},
		{MaxLag{Records: 1000}, 1001, 0, true},
		{MaxLag{Age: time.Minute}, 1, time.Minute, false},
		{MaxLag{Age: time.Minute}, 1, time.Minute + 1, true},
		{MaxLag{Age: time.Minute}, 0, time.Hour, false}, // caught up: old records are not lag
		{MaxLag{Records: 1000, Age: time.Minute}, 10, time.Hour, true},
	} {
		if got := c.m.over(c.lag, c.behind); got != c.want {
			t.Errorf("%+v over(%d, %v) = %v, want %v", c.m, c.lag, c.behind, got, c.want)
		}
	}
}

// TestConfigDeadLetterApart: a dead-letter file is refused only where
// store.Walk would take it for a capture.
func TestConfigDeadLetterApart(t *testing.T) {
	for _, path := range []string{
		"",                        // the default, dir/deadletter.jsonl
		"/tmp/a/deadletter.jsonl", // a dead letter by name
		"/tmp/a/.bad",             // hidden: never walked
		"/tmp/a/.dl/bad.log",      // in a hidden directory
		"/tmp/ab/bad.log",         // beside the directory, not in it
		"/var/log/bad.log",
	} {
		c, err := DecodeConfig(strings.NewReader("brokers: x\ntargets:\n  - dir: /tmp/a\n"))
		if err != nil {
			t.Fatal(err)
		}
		c.DeadLetter = path
		if _, err := c.Spec(); err != nil {
			t.Errorf("dead_letter %q: %v", path, err)
		}
	}
}

// TestConfigOnFinalize: on_finalize becomes the target's Command with
// the defaults (an hour's timeout, one at a time, commit once on disk),
// and commit_after: command holds the commit back.
func TestConfigOnFinalize(t *testing.T) {
	c, err := DecodeConfig(strings.NewReader("brokers: x\ntargets:\n  - dir: /tmp/a\n    on_finalize: [rclone, copyto, \"{path}\", \"r:b/{key}\"]\n" +
		"  - dir: /tmp/b\n    on_finalize: [/bin/sh, -c, \"exit 0\"]\n    commit_after: command\n    on_finalize_concurrency: 4\n    on_finalize_timeout: 0s\n  - dir: /tmp/c\n"))
	if err != nil {
		t.Fatal(err)
	}
	testenv.RequireTool(t, "rclone")
	sp, err := c.Spec()
	if err != nil {
		t.Fatal(err)
	}
	want := []*Command{
		{Argv: []string{"rclone", "copyto", "{path}", "r:b/{key}"}, Timeout: DefaultCommandTimeout, Concurrency: 1},
		{Argv: []string{"/bin/sh", "-c", "exit 0"}, Concurrency: 4, CommitAfter: true},
		nil,
	}
	for i, w := range want {
		if got := sp.Targets[i].OnFinalize; !reflect.DeepEqual(got, w) {
			t.Errorf("target %d: %+v, want %+v", i, got, w)
		}
	}
}
