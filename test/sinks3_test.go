package test

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// TestSinkS3: a sink with a local target and an S3 target, against a real
// MinIO server on loopback (internal/testenv.StartMinIO; objects read
// back with curl's own SigV4, not our client). Half the records go up
// while the server is there; the server then stops while the other half
// is consumed: uploads fail and are retried, and no offset is committed
// past the files not uploaded. When it is back every file goes up, the
// spool empties, and the bucket holds every record exactly once, in
// order. A second sink in the group finds nothing left.
func TestSinkS3(t *testing.T) {
	const half = 1500
	m := testenv.StartMinIO(t)
	b := startBroker(t, 0, "s3", "")
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic("s3"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC).UnixNano()
	frame := func(i int) []byte {
		f := bytes.Repeat([]byte{byte(i)}, 200+i%300)
		binary.BigEndian.PutUint32(f[20:], uint32(i))
		return f
	}
	produce := func(from, to int) {
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			recs = append(recs, &kgo.Record{Key: binary.BigEndian.AppendUint64(nil, uint64(t0+int64(i)*1000)), Value: frame(i)})
		}
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produce(0, half)

	local, spool := t.TempDir(), t.TempDir()
	cfg := filepath.Join(t.TempDir(), "sink.yaml")
	os.WriteFile(cfg, []byte(`brokers: `+b.Addr+`
topic: s3
group: g
metrics_listen: 127.0.0.1:0
targets:
  - name: local
    dir: `+local+`
    template: "{ts}.pcap"
    max_packets: 500
  - name: s3
    dir: `+spool+`
    template: "%Y%m%d/{ts}.pcap"
    max_packets: 500
    s3:
      endpoint: `+m.Endpoint+`
      region: `+m.Region+`
      bucket: `+m.Bucket+`
      prefix: sensor1
      access_key: `+m.AccessKey+`
      secret_key: `+m.SecretKey+`
      attempts: 2
      max_retry_wait: 500ms
`), 0o644)
	run := func() (*exec.Cmd, *syncBuffer, func() map[string]float64) {
		s := exec.Command(filepath.Join(bin, "pcapstore"), "sink", "-config", cfg, "-log-json")
		logs := &syncBuffer{}
		s.Stderr = logs
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Process.Kill() })
		var addr string
		for deadline := time.Now().Add(20 * time.Second); addr == "" && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
			addr = jsonLogField(logs.String(), "metrics", "listen")
		}
		if addr == "" {
			t.Fatalf("no metrics address in the log:\n%s", logs.String())
		}
		return s, logs, func() map[string]float64 {
			_, text := get(t, "http://"+addr+"/metrics")
			return parseMetrics(t, text)
		}
	}
	waitFor := func(scrape func() map[string]float64, logs *syncBuffer, what string, ok func(map[string]float64) bool) map[string]float64 {
		t.Helper()
		for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if m := scrape(); ok(m) {
				return m
			}
		}
		t.Fatalf("waited 90 s for %s: %v\n%s", what, scrape(), logs.String())
		return nil
	}

	s, logs, scrape := run()
	waitFor(scrape, logs, "3 files uploaded", func(m map[string]float64) bool {
		return m["pcapstore_files_uploaded_total"] >= 3
	})
	m.Stop(t)
	before := scrape()["pcapstore_offset_commits_total"]
	produce(half, 2*half)
	waitFor(scrape, logs, "failed uploads", func(m map[string]float64) bool {
		return m["pcapstore_upload_errors_total"] >= 1 && m["pcapstore_records_consumed_total"] >= 2*half
	})
	if n := len(sinkFiles(t, spool)); n < 2 {
		t.Errorf("%d files wait in the spool while the server is down, want 2 or more", n)
	}
	if after := scrape()["pcapstore_offset_commits_total"]; after != before {
		t.Errorf("offsets committed (%v → %v) while files were not uploaded", before, after)
	}
	m.Start(t)
	waitFor(scrape, logs, "every file uploaded", func(m map[string]float64) bool {
		return m["pcapstore_files_uploaded_total"] >= 5 && len(sinkFiles(t, spool)) == 0
	})
	s.Process.Signal(syscall.SIGTERM)
	if err := s.Wait(); err != nil {
		t.Fatalf("pcapstore sink: %v\n%s", err, logs.String())
	}
	if n := len(sinkFiles(t, spool)); n != 0 {
		t.Errorf("%d files left in the spool", n)
	}

	// The bucket, read with curl: file k starts at record 500k.
	var got []pcap.Record
	for k := 0; k < 2*half/500; k++ {
		ts := t0 + int64(k*500)*1000
		key := "sensor1/20261122/" + strconv.FormatInt(ts, 10) + ".pcap"
		status, body := m.Object(t, m.Bucket, key)
		if status != 200 {
			t.Fatalf("GET %s: status %d", key, status)
		}
		got = append(got, pcaptest.Read(t, bytes.NewReader(body))...)
	}
	if len(got) != 2*half {
		t.Fatalf("bucket holds %d records, want %d", len(got), 2*half)
	}
	for i, r := range got {
		if r.Timestamp != t0+int64(i)*1000 || !bytes.Equal(r.Data, frame(i)) {
			t.Fatalf("record %d in the bucket differs", i)
		}
	}
	if n := countPackets(t, sinkFiles(t, local)); n != 2*half {
		t.Errorf("local target holds %d packets, want %d", n, 2*half)
	}

	// Committed: a second sink finds nothing to upload.
	s2, logs2, scrape2 := run()
	time.Sleep(4 * time.Second)
	if m := scrape2(); m["pcapstore_records_consumed_total"] != 0 || m["pcapstore_files_uploaded_total"] != 0 {
		t.Errorf("a second sink consumed %v records and uploaded %v files: offsets were not committed",
			m["pcapstore_records_consumed_total"], m["pcapstore_files_uploaded_total"])
	}
	s2.Process.Signal(syscall.SIGTERM)
	if err := s2.Wait(); err != nil {
		t.Fatalf("second sink: %v\n%s", err, logs2.String())
	}
}
