package test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSinkDeadLetters: records the sink cannot decode (a short key, an
// empty value, a time outside the sanity window) go to the dead-letter
// file with their offsets and reasons; the good ones to capture files;
// nothing stops, and the offsets past the bad records are committed.
func TestSinkDeadLetters(t *testing.T) {
	b := startBroker(t, 0, "bad", "")
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic("bad"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
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
		{Key: key(now.Add(2 * time.Millisecond)), Value: nil}, // empty value
		{Key: key(now.Add(-48 * time.Hour)), Value: frame},    // outside a 24 h window
		{Key: key(now.Add(3 * time.Millisecond)), Value: frame},
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

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
	if n := countPackets(t, sinkFiles(t, dir)); n != 3 {
		t.Errorf("%d packets in capture files, want 3\n%s", n, logs)
	}
	f, err := os.Open(filepath.Join(dir, "deadletter.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[int64]string{1: "key is not 8 bytes", 3: "empty value", 4: "timestamp outside the sanity window"}
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
	if !bytes.Contains([]byte(logs), []byte(`"consumed":6,"written":3,"dead_lettered":3`)) {
		t.Errorf("final counters do not say 6 consumed, 3 written, 3 dead-lettered:\n%s", logs)
	}
	// Everything was committed: a second run finds nothing.
	files := len(sinkFiles(t, dir))
	logs = run()
	if n := len(sinkFiles(t, dir)); n != files || !bytes.Contains([]byte(logs), []byte(`"consumed":0`)) {
		t.Errorf("second run consumed again (%d files before, %d after):\n%s", files, n, logs)
	}
}
