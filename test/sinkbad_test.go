package test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// TestSinkDeadLetters: records the sink cannot decode (a short key, a
// time outside the sanity window) go to the dead-letter file with their
// offsets and reasons; the good ones, an empty frame among them, to
// capture files; nothing stops, and the offsets past the bad records are
// committed.
func TestSinkDeadLetters(t *testing.T) {
	b := startBroker(t, 0, "bad", "")
	now := time.Now()
	key := func(ts time.Time) []byte {
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], uint64(ts.UnixNano()))
		return k[:]
	}
	frame := bytes.Repeat([]byte{0xab}, 60)
	recs := []*kgo.Record{
		{Key: key(now), Value: frame},
		{Key: []byte{1, 2, 3}, Value: frame}, // short key
		{Key: key(now.Add(time.Millisecond)), Value: frame},
		{Key: key(now.Add(2 * time.Millisecond)), Value: nil}, // a 0-byte frame: stored
		{Key: key(now.Add(-48 * time.Hour)), Value: frame},    // outside a 24 h window
		{Key: key(now.Add(3 * time.Millisecond)), Value: frame},
	}
	produce(t, b.Addr, "bad", recs)

	dir := t.TempDir()
	args := []string{"sink", "-brokers", b.Addr, "-topic", "bad", "-group", "g", "-dir", dir,
		"-sanity-window", "24h", "-max-span", "1s", "-log-json", "-metrics-listen", "127.0.0.1:0"}
	run := func() string {
		var logs bytes.Buffer
		s := exec.Command(filepath.Join(bin, "pcapstore"), args...)
		s.Stderr = &logs
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * time.Second)
		s.Process.Signal(syscall.SIGTERM)
		if err := s.Wait(); err != nil {
			t.Fatalf("pcapstore sink: %v\n%s", err, logs.String())
		}
		return logs.String()
	}
	logs := run()
	if n := countPackets(t, sinkFiles(t, dir)); n != 4 {
		t.Errorf("%d packets in capture files, want 4\n%s", n, logs)
	}
	f, err := os.Open(filepath.Join(dir, "deadletter.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[int64]string{1: "key is not 8 bytes", 4: "timestamp outside the sanity window"}
	s := bufio.NewScanner(f)
	for s.Scan() {
		var d struct {
			Offset int64  `json:"offset"`
			Reason string `json:"reason"`
		}
		if err := json.Unmarshal(s.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		if w, ok := want[d.Offset]; !ok || !bytes.Contains([]byte(d.Reason), []byte(w)) {
			t.Errorf("dead letter at offset %d: %q", d.Offset, d.Reason)
		}
		delete(want, d.Offset)
	}
	if len(want) > 0 {
		t.Errorf("missing dead letters: %v", want)
	}
	if !bytes.Contains([]byte(logs), []byte(`"consumed":6,"written":4,"dead_lettered":2`)) {
		t.Errorf("final counters do not say 6 consumed, 4 written, 2 dead-lettered:\n%s", logs)
	}
	// Everything was committed: a second run finds nothing.
	files := len(sinkFiles(t, dir))
	logs = run()
	if n := len(sinkFiles(t, dir)); n != files || !bytes.Contains([]byte(logs), []byte(`"consumed":0`)) {
		t.Errorf("second run consumed again (%d files before, %d after):\n%s", files, n, logs)
	}
	// Nothing consumed: no record times, not the zero time's overflow.
	if !bytes.Contains([]byte(logs), []byte(`"first_record_ns":0,"last_record_ns":0`)) {
		t.Errorf("final counters of a run that consumed nothing give record times:\n%s", logs)
	}
}

// hostile is a record the sink must survive, and what becomes of it:
// stored (as the pcap format holds it) or dead-lettered with a reason.
type hostile struct {
	key, value []byte
	dead       string // the dead-letter reason's text; "" when stored
	ts         int64  // stored: the timestamp in ns
}

// TestSinkHostileRecords: a topic of records no sink should stop on —
// keys of every length, garbage and ASCII keys, times at and past the end
// of the pcap range, empty and oversized values — between good ones,
// written to a target of each format (pcap ns and µs, pcapng, compressed
// pcapng). Every record is stored byte-exact (cut to the snapshot
// length) or in deadletter.jsonl with its reason; the sink consumes the
// whole topic, exits 0, and a restart finds nothing left. The stored
// files hold the empty record as tcpdump and capinfos read them, and
// pcapstore query and inspect read it back.
func TestSinkHostileRecords(t *testing.T) {
	b := startBroker(t, 0, "hostile", "")
	ns := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	now := uint64(time.Now().UnixNano())
	frame := func(i int) []byte {
		f := bytes.Repeat([]byte{byte(i)}, 60)
		binary.BigEndian.PutUint32(f[20:], uint32(i))
		return f
	}
	const lastNs = math.MaxUint32*1e9 + 999999999 // the last time a pcap file holds
	const snap = 262144
	var recs []hostile
	good := func(i int) hostile {
		return hostile{key: ns(now + uint64(i)*1000), value: frame(i), ts: int64(now) + int64(i)*1000}
	}
	recs = append(recs, good(0))
	for n := 0; n <= 16; n++ {
		if n != 8 {
			recs = append(recs, hostile{key: bytes.Repeat([]byte{0xa5}, n), value: frame(100 + n), dead: "key is not 8 bytes"})
		}
	}
	for _, k := range [][]byte{
		ns(math.MaxUint32*1e9 + 1e9), // 2^32 s
		ns(lastNs + 1),
		[]byte("sensor01"), // an ASCII hostname as the key: 2233
		ns(1 << 63),        // past int64 ns
		ns(math.MaxUint64),
		{0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef},
	} {
		recs = append(recs, hostile{key: k, value: frame(len(recs)), dead: "timestamp out of the pcap range"})
	}
	recs = append(recs,
		hostile{key: ns(0), value: frame(200), ts: 0},                               // 1970
		hostile{key: []byte("10.0.0.1"), value: frame(201), ts: 0x31302e302e302e31}, // ASCII, yet 2082
		hostile{key: ns(lastNs), value: frame(202), ts: lastNs},                     // the last pcap second
		hostile{key: ns(now + 500), value: nil, ts: int64(now) + 500},               // a 0-byte frame
		hostile{key: ns(now + 600), value: []byte{}, ts: int64(now) + 600},          // another
		hostile{key: ns(now + 700), value: bytes.Repeat([]byte{7}, 65536+3), ts: int64(now) + 700},
		hostile{key: ns(now + 800), value: bytes.Repeat([]byte{8}, snap+5000), ts: int64(now) + 800}, // over the snapshot length
	)
	for i := 1; i <= 20; i++ {
		recs = append(recs, good(i))
	}
	var krecs []*kgo.Record
	for _, r := range recs {
		krecs = append(krecs, &kgo.Record{Key: r.key, Value: r.value})
	}
	produce(t, b.Addr, "hostile", krecs, kgo.ProducerBatchMaxBytes(1<<20))

	// One sink, a target of each format, each record offered to all.
	type target struct {
		name, suffix string
		micro, plain bool
	}
	targets := []target{{"pcapns", ".pcap", false, true}, {"pcapus", ".pcap", true, true},
		{"ng", ".pcapng", false, true}, {"ngzstd", ".pcapng.zst", true, false}}
	root := t.TempDir()
	cfg := "brokers: " + b.Addr + "\ntopic: hostile\ngroup: g\nmetrics_listen: 127.0.0.1:0\n" +
		"dead_letter: " + filepath.Join(root, "deadletter.jsonl") + "\ntargets:\n"
	for _, tg := range targets {
		ts, format, comp := "ns", "pcap", "none"
		if tg.micro {
			ts = "us"
		}
		if strings.HasPrefix(tg.suffix, ".pcapng") {
			format = "pcapng"
		}
		if tg.suffix == ".pcapng.zst" {
			comp = "zstd"
		}
		cfg += fmt.Sprintf("  - name: %s\n    dir: %s\n    template: \"{ts}_{seq}.%s\"\n    timestamps: %s\n    file_format: %s\n    compression: %s\n",
			tg.name, filepath.Join(root, tg.name), format, ts, format, comp)
	}
	cfgPath := filepath.Join(root, "sink.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"sink", "-config", cfgPath, "-log-json"}
	logs := sinkUntil(t, len(recs), args...)

	// The dead letters: each hostile record that cannot be stored, once,
	// with its reason, key and value.
	deadAt := map[int64]deadLine{}
	f, err := os.ReadFile(filepath.Join(root, "deadletter.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(f), "\n"), "\n") {
		var d deadLine
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("dead letter %q: %v", line, err)
		}
		if _, dup := deadAt[d.Offset]; dup {
			t.Errorf("offset %d dead-lettered twice", d.Offset)
		}
		deadAt[d.Offset] = d
	}
	var dead int
	for off, r := range recs {
		d, ok := deadAt[int64(off)]
		switch {
		case r.dead == "" && ok:
			t.Errorf("offset %d (key %x, %d bytes) dead-lettered (%q), want it stored", off, r.key, len(r.value), d.Reason)
		case r.dead != "" && !ok:
			t.Errorf("offset %d (key %x) not dead-lettered, want %q", off, r.key, r.dead)
		case ok && (!strings.Contains(d.Reason, r.dead) || !bytes.Equal(d.Key, r.key) || !bytes.Equal(d.Value, r.value)):
			t.Errorf("offset %d: dead letter %q key %x (%d bytes of value), want %q key %x (%d bytes)",
				off, d.Reason, d.Key, len(d.Value), r.dead, r.key, len(r.value))
		}
		if r.dead != "" {
			dead++
		}
	}
	if !strings.Contains(logs, fmt.Sprintf(`"consumed":%d,"written":%d,"dead_lettered":%d`, len(recs), len(targets)*(len(recs)-dead), dead)) {
		t.Errorf("final counters do not say %d consumed, %d written, %d dead-lettered:\n%s", len(recs), len(targets)*(len(recs)-dead), dead, logs)
	}

	// Every target holds every stored record, as its format keeps it.
	for _, tg := range targets {
		var want []pcap.Record
		for _, r := range recs {
			if r.dead != "" {
				continue
			}
			ts := r.ts
			if tg.micro {
				ts -= ts % 1000
			}
			want = append(want, pcap.Record{Timestamp: ts, OrigLen: uint32(len(r.value)), Data: r.value[:min(len(r.value), snap)]})
		}
		got := readTarget(t, filepath.Join(root, tg.name), tg.suffix)
		for _, rs := range [][]pcap.Record{want, got} {
			sort.SliceStable(rs, func(i, j int) bool { return rs[i].Timestamp < rs[j].Timestamp })
		}
		if d := pcaptest.Diff(want, got); d != "" {
			t.Errorf("target %s: %s", tg.name, d)
		}
	}

	// A restart consumes nothing: every offset was committed.
	if logs := sinkUntil(t, 0, args...); !strings.Contains(logs, `"consumed":0,`) {
		t.Errorf("the restarted sink consumed again:\n%s", logs)
	}
	checkEmptyRecord(t, root, int64(now)+500)
}

// deadLine is a line of deadletter.jsonl.
type deadLine struct {
	Offset int64  `json:"offset"`
	Reason string `json:"reason"`
	Key    []byte `json:"key"`
	Value  []byte `json:"value"`
}

// checkEmptyRecord: the file of each plain target that holds the 0-byte
// record at ts is valid to tcpdump and capinfos, and pcapstore inspect
// and query read the record back.
func checkEmptyRecord(t *testing.T, root string, ts int64) {
	capinfos := testenv.RequireTool(t, "capinfos")
	for _, dir := range []string{"pcapns", "pcapus", "ng", "ngzstd"} {
		var file string
		filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), ".") && strings.HasPrefix(d.Name(), strconv.FormatInt(ts/1e9, 10)) {
				file = p
			}
			return nil
		})
		if file == "" {
			t.Fatalf("%s: no file of the records around %d", dir, ts)
		}
		recs := pcaptest.ReadAll(t, file)
		var empty int
		for _, r := range recs {
			if len(r.Data) == 0 {
				empty++
			}
		}
		if empty != 2 {
			t.Errorf("%s: %d empty records, want 2", file, empty)
		}
		if !strings.HasSuffix(file, ".zst") {
			if out, err := exec.Command(capinfos, "-M", "-c", file).CombinedOutput(); err != nil ||
				!strings.Contains(string(out), fmt.Sprintf("Number of packets:   %d\n", len(recs))) &&
					!strings.Contains(string(out), fmt.Sprintf("Number of packets = %d\n", len(recs))) {
				t.Errorf("capinfos %s (%v), want %d packets:\n%s", file, err, len(recs), out)
			}
			if d := pcaptest.Diff(recs, pcaptest.TcpdumpKeeps(t, file, "")); d != "" {
				t.Errorf("tcpdump -r %s: %s", file, d)
			}
		}
		out, stderr, code := inspect(t, file)
		if code != 0 || strings.Count(out, "\n") != len(recs) || strings.Count(out, " 0 ") < 2 {
			t.Errorf("pcapstore inspect %s: exit %d, want %d lines, 2 of length 0:\n%s%s", file, code, len(recs), out, stderr)
		}
		q := filepath.Join(t.TempDir(), "q.pcap")
		if _, stderr, code := pcapQuery(t, "expr", "", file, "-o", q); code != 0 {
			t.Errorf("pcapstore query %s: exit %d: %s", file, code, stderr)
		} else if qr := pcaptest.ReadAll(t, q); pcaptest.Diff(recs, qr) != "" {
			t.Errorf("pcapstore query %s: %s", file, pcaptest.Diff(recs, qr))
		}
	}
}

// sinkUntil runs pcapstore sink with args (-log-json, metrics on) until
// it has consumed want records — with want 0, for 3 s after it is up —,
// then stops it with SIGTERM and returns its log. A sink that stops by
// itself, or exits non-zero, fails the test.
func sinkUntil(t *testing.T, want int, args ...string) string {
	t.Helper()
	var logs syncBuffer
	s := exec.Command(filepath.Join(bin, "pcapstore"), args...)
	s.Stderr = &logs
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- s.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for consumed := -1.0; ; time.Sleep(200 * time.Millisecond) {
		select {
		case err := <-exited:
			t.Fatalf("pcapstore sink stopped by itself (%v) after %v records of %d:\n%s", err, consumed, want, logs.String())
		default:
		}
		if addr := jsonLogField(logs.String(), "metrics", "listen"); addr != "" {
			_, text := get(t, "http://"+addr+"/metrics")
			consumed = parseMetrics(t, text)["pcapstore_records_consumed_total"]
		}
		if consumed == float64(want) || time.Now().After(deadline) {
			break
		}
	}
	if want == 0 {
		time.Sleep(3 * time.Second) // time to consume anything left
	}
	s.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		t.Fatalf("pcapstore sink: %v\n%s", err, logs.String())
	}
	return logs.String()
}
