package test

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fastcapa-go/fastcapa/pcap"
)

// TestSinkRetention: with -retain-bytes the sink deletes its oldest
// finalized files until the rest fit, never the open one nor the
// dead-letter file, and counts the deletions.
func TestSinkRetention(t *testing.T) {
	b := startBroker(t, 0, "keep", "")
	now := time.Now()
	var recs []*kgo.Record
	for i := range 1000 {
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], uint64(now.Add(time.Duration(i)*time.Millisecond).UnixNano()))
		recs = append(recs, &kgo.Record{Key: k[:], Value: bytes.Repeat([]byte{byte(i)}, 600)})
	}
	recs = append(recs, &kgo.Record{Key: []byte{1}, Value: []byte{2}}) // one dead letter
	produce(t, b.Addr, "keep", recs)
	dir := t.TempDir()
	// 100 packets a file: 24 + 100 × (16 + 600) = 61 624 B. Keep 3 files.
	const fileSize, keep = 61624, 3
	var logs bytes.Buffer
	s := exec.Command(filepath.Join(bin, "pcapstore"), "sink", "-brokers", b.Addr, "-topic", "keep", "-group", "g",
		"-dir", dir, "-max-packets", "100", "-retain-bytes", "184872", "-log-json", "-metrics-listen", "127.0.0.1:0")
	s.Stderr = &logs
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second)
	s.Process.Signal(syscall.SIGTERM)
	if err := s.Wait(); err != nil {
		t.Fatalf("pcapstore sink: %v\n%s", err, logs.String())
	}
	files := sinkFiles(t, dir)
	var total int64
	for _, f := range files {
		st, _ := os.Stat(f)
		total += st.Size()
	}
	// The last file was finalized at shutdown, after the last retention
	// pass: keep + 1 may remain, and they must be the newest.
	if len(files) < keep || len(files) > keep+1 || total > int64(keep+1)*fileSize {
		t.Errorf("%d files, %d bytes left; want %d or %d newest", len(files), total, keep, keep+1)
	}
	if n := countPackets(t, files); n < keep*100 {
		t.Errorf("%d packets left", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "deadletter.jsonl")); err != nil {
		t.Errorf("dead-letter file: %v", err)
	}
	if !strings.Contains(logs.String(), `"msg":"retention: deleted"`) || !strings.Contains(logs.String(), `"deleted":`) {
		t.Errorf("no retention in the log:\n%s", logs.String())
	}
	// Oldest went first: what is left ends with the last record produced.
	_, last, err := pcap.ReadFile(files[len(files)-1])
	if err != nil || len(last) == 0 || !bytes.Equal(last[len(last)-1].Data, recs[999].Value) {
		t.Errorf("the newest packet is not the last on disk (%v)", err)
	}
}
