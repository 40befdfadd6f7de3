package test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/kafka"
	"github.com/fastcapa-go/fastcapa/pcap"
	"github.com/fastcapa-go/fastcapa/records"
)

// TestRecordsCrash: `pcapstore records -watch` over a directory the
// shared captures arrive in, batch by batch (each published whole, as
// the sink publishes), killed with SIGKILL at random moments and
// restarted, then stopped with SIGTERM, loses no record and writes none
// twice: its packet records are exactly those of one uninterrupted run
// (each capture's every record once, by source and position), and its
// flow records, summed by Community ID and VLAN over the parts restarts
// cut, carry the same packets and bytes. DuckDB reads both trees.
func TestRecordsCrash(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 14))
	captures := testenv.AllPcaps(t)
	rng.Shuffle(len(captures), func(i, j int) { captures[i], captures[j] = captures[j], captures[i] })
	in, out := t.TempDir(), t.TempDir()
	arrive := func(paths []string) {
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(in, filepath.Base(p))
			if err := os.WriteFile(filepath.Join(in, "."+filepath.Base(p)+".part"), b, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(in, "."+filepath.Base(p)+".part"), dst); err != nil {
				t.Fatal(err)
			}
		}
	}
	start := func() *exec.Cmd {
		// Its signal handlers are in place once it says it watches.
		return startRecords(t, "watching for captures", "records", "-out", out, "-watch", "20ms", "-checkpoint", "30ms", in)
	}
	batch := (len(captures) + 11) / 12
	kills := 0
	for i := 0; i < len(captures); i += batch {
		cmd := start()
		arrive(captures[i:min(i+batch, len(captures))])
		time.Sleep(time.Duration(50+rng.IntN(400)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		kills++
	}
	// The last run reads what is left, then stops cleanly.
	cmd := start()
	deadline := time.Now().Add(time.Minute)
	for !allRead(t, out, len(captures)) {
		if time.Now().After(deadline) {
			t.Fatal("the captures were not all read within a minute")
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Logf("last run: %v (failed captures exit 1)", err)
	}

	ref := t.TempDir()
	if _, err := records.RunFiles(context.Background(), records.FilesSpec{Paths: []string{in},
		Writer: records.WriterSpec{Dir: ref, Packets: true, Flows: true, Stem: "ref"}}); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, distinct, refN, missing, extra int64
	q := func(query string, dst ...any) {
		t.Helper()
		if err := db.QueryRow(query, out+"/packets/**/*.parquet", ref+"/packets/**/*.parquet").Scan(dst...); err != nil {
			t.Fatal(err)
		}
	}
	q(`SELECT (SELECT count(*) FROM read_parquet($1)), (SELECT count(DISTINCT (source, position)) FROM read_parquet($1)),
		(SELECT count(*) FROM read_parquet($2))`, &n, &distinct, &refN)
	q(`SELECT (SELECT count(*) FROM (SELECT source, position FROM read_parquet($2) EXCEPT SELECT source, position FROM read_parquet($1))),
		(SELECT count(*) FROM (SELECT source, position FROM read_parquet($1) EXCEPT SELECT source, position FROM read_parquet($2)))`, &missing, &extra)
	t.Logf("%d kills; %d packet records (%d distinct), the uninterrupted run %d", kills, n, distinct, refN)
	if n != refN || distinct != n || missing != 0 || extra != 0 {
		t.Errorf("packet records: %d (%d distinct), want %d; %d missing, %d not in the reference", n, distinct, refN, missing, extra)
	}
	diff, flows := flowSumsDiffer(t, db, out, ref)
	if diff != 0 || flows < 100 {
		t.Errorf("flows: %d of %d (Community ID, VLAN) differ in packets or bytes from the uninterrupted run", diff, flows)
	}
}

// flowSumsDiffer compares the flow records under out and ref summed by
// (Community ID, VLAN), packets and bytes: it returns how many of the
// sums differ either way, and how many ref has.
func flowSumsDiffer(t *testing.T, db *sql.DB, out, ref string) (diff, flows int64) {
	t.Helper()
	if err := db.QueryRow(`WITH a AS (SELECT community_id, vlan, sum(orig_packets + resp_packets) AS p, sum(orig_bytes + resp_bytes) AS b
			FROM read_parquet($1) GROUP BY ALL),
		r AS (SELECT community_id, vlan, sum(orig_packets + resp_packets) AS p, sum(orig_bytes + resp_bytes) AS b
			FROM read_parquet($2) GROUP BY ALL)
		SELECT (SELECT count(*) FROM (SELECT * FROM a EXCEPT SELECT * FROM r UNION ALL (SELECT * FROM r EXCEPT SELECT * FROM a))),
			(SELECT count(*) FROM r)`, out+"/flows/**/*.parquet", ref+"/flows/**/*.parquet").Scan(&diff, &flows); err != nil {
		t.Fatal(err)
	}
	return diff, flows
}

// startRecords runs pcapstore with args and returns once its log says
// want.
func startRecords(t *testing.T, want string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "pcapstore"), args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	seen := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if seen != nil && strings.Contains(sc.Text(), want) {
				close(seen)
				seen = nil
			}
			if !strings.Contains(sc.Text(), "written again") {
				fmt.Fprintln(os.Stderr, sc.Text())
			}
		}
	}()
	select {
	case <-seen:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("pcapstore %s: no %q in its log after 30 s", args[0], want)
	}
	return cmd
}

// allRead reports whether the state in out says want captures are read.
func allRead(t *testing.T, out string, want int) bool {
	b, err := os.ReadFile(filepath.Join(out, records.StateName))
	if err != nil {
		return false
	}
	var st struct {
		Done map[string]json.RawMessage `json:"done"`
	}
	return json.Unmarshal(b, &st) == nil && len(st.Done) >= want
}

// TestRecordsKafkaCrash: `pcapstore records -brokers` consuming a topic
// of three partitions that holds every frame of the shared captures
// (FROM_KEY, ns keys) and hostile records among them (a key of 3 bytes,
// an ASCII key that is the year 2233), SIGKILLed at random moments and
// restarted, then SIGTERMed once the state holds every offset: every
// frame has its packet record once (by partition and offset), every
// hostile record its dead letter once, and the flows sum, by Community
// ID and VLAN, to those of the same frames read from a capture.
func TestRecordsKafkaCrash(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 15))
	b := startBroker(t, 0, "unused", "", "rec:3")
	var frames []pcap.Record
	for _, p := range testenv.AllPcaps(t) {
		_, recs, _ := pcap.ReadFile(p) // the records before any damage
		frames = append(frames, recs...)
	}
	var recs []*kgo.Record
	good := map[[2]int64]bool{}
	bad := map[[2]int64]bool{}
	next := [3]int64{}
	add := func(r *kgo.Record, ok bool) {
		p := int32(len(recs) % 3)
		r.Partition = p
		recs = append(recs, r)
		k := [2]int64{int64(p), next[p]}
		next[p]++
		if ok {
			good[k] = true
		} else {
			bad[k] = true
		}
	}
	// Four times over, so that consuming them takes a few seconds and
	// the kills land in the middle.
	frames = slices.Concat(frames, frames, frames, frames)
	for i, f := range frames {
		r := &kgo.Record{Key: binary.BigEndian.AppendUint64(nil, uint64(f.Timestamp)), Value: f.Data}
		if int(f.OrigLen) > len(f.Data) { // a cut frame, as fastcapa's sink sends it
			r.Headers = []kgo.RecordHeader{{Key: kafka.OrigLenHeader, Value: []byte(strconv.Itoa(int(f.OrigLen)))}}
		}
		add(r, true)
		if i%40 == 0 {
			add(&kgo.Record{Key: []byte{1, 2, 3}, Value: f.Data}, false)
			add(&kgo.Record{Key: []byte("sensor01"), Value: f.Data}, false)
		}
	}
	produce(t, b.Addr, "rec", recs, kgo.RecordPartitioner(kgo.ManualPartitioner()))

	out := t.TempDir()
	// A killed member holds its partitions until its session times out,
	// and a rebalance waits for the members it knows up to the
	// rebalance timeout (max.poll.interval.ms): keep both short.
	args := []string{"records", "-out", out, "-brokers", b.Addr, "-topic", "rec", "-group", "r", "-checkpoint", "50ms",
		"-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500", "-X", "max.poll.interval.ms=7000"}
	// Killed once it has partitions, at a random moment of its
	// consuming (each restart waits for the killed member's session to
	// time out before it gets them).
	for kill := 0; kill < 4; kill++ {
		cmd := startRecords(t, "partition assigned", args...)
		time.Sleep(time.Duration(rng.IntN(600)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
	}
	cmd := startRecords(t, "partition assigned", args...)
	deadline := time.Now().Add(2 * time.Minute)
	for !allConsumed(out, next) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			st, _ := os.ReadFile(filepath.Join(out, records.StateName))
			t.Fatalf("the state does not hold every offset (%v) after 2 minutes: %.300s", next, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("last run: %v", err)
	}

	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT source, position FROM read_parquet($1)`, out+"/packets/**/*.parquet")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[[2]int64]int{}
	for rows.Next() {
		var source string
		var pos int64
		if err := rows.Scan(&source, &pos); err != nil {
			t.Fatal(err)
		}
		var p int64
		fmt.Sscanf(source, "kafka:rec/%d", &p)
		seen[[2]int64{p, pos}]++
	}
	rows.Close()
	for k, n := range seen {
		if n != 1 || !good[k] {
			t.Errorf("partition %d offset %d: %d packet records (a good record: %v)", k[0], k[1], n, good[k])
		}
	}
	if len(seen) != len(good) {
		t.Errorf("%d records have packet records, want %d", len(seen), len(good))
	}
	dead, err := os.ReadFile(filepath.Join(out, "deadletter.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	deadSeen := map[[2]int64]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(dead)), "\n") {
		var d struct {
			Partition int64 `json:"partition"`
			Offset    int64 `json:"offset"`
		}
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("dead letter %q: %v", line, err)
		}
		deadSeen[[2]int64{d.Partition, d.Offset}]++
	}
	for k, n := range deadSeen {
		if n != 1 || !bad[k] {
			t.Errorf("dead letter of partition %d offset %d: %d times (hostile: %v)", k[0], k[1], n, bad[k])
		}
	}
	if len(deadSeen) != len(bad) {
		t.Errorf("%d dead letters, want %d", len(deadSeen), len(bad))
	}

	// The same frames from a capture, in the order produced.
	ref, all := t.TempDir(), filepath.Join(t.TempDir(), "all.pcap")
	pcaptest.WriteCapture(t, all, pcaptest.File{}, frames)
	if _, err := records.RunFiles(context.Background(), records.FilesSpec{Paths: []string{all},
		Writer: records.WriterSpec{Dir: ref, Packets: false, Flows: true, Stem: "ref"}}); err != nil {
		t.Fatal(err)
	}
	diff, flows := flowSumsDiffer(t, db, out, ref)
	t.Logf("%d packet records, %d dead letters, %d flows by (Community ID, VLAN)", len(seen), len(deadSeen), flows)
	if diff != 0 || flows < 100 {
		t.Errorf("flows: %d of %d (Community ID, VLAN) differ in packets or bytes from the capture's", diff, flows)
	}
}

// allConsumed reports whether the state in out holds next as each
// partition's next offset.
func allConsumed(out string, next [3]int64) bool {
	b, err := os.ReadFile(filepath.Join(out, records.StateName))
	if err != nil {
		return false
	}
	var st struct {
		Offsets map[int32]int64 `json:"offsets"`
	}
	if json.Unmarshal(b, &st) != nil {
		return false
	}
	for p, n := range next {
		if st.Offsets[int32(p)] != n {
			return false
		}
	}
	return true
}
