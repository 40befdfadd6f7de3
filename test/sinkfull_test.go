package test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fastcapa-go/fastcapa/index"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// TestSinkDiskFull: the sink writes to a 2 MiB tmpfs a topic three times
// that size, and to a roomy second target. Each time the disk fills it stops consuming and committing, says
// so in its log and its metrics, and waits; the test then does what an
// operator would, moving the finished files away, and the sink resumes
// by itself. At the end the moved files, and the other target's, hold
// every record exactly once, in order: what a full disk interrupted was
// consumed again, and what was on disk already was not written twice.
func TestSinkDiskFull(t *testing.T) {
	testenv.RequireRoot(t)
	const n, size = 7000, 1000 // 7 MB of frames: three or more stops
	b := startBroker(t, 0, "full", "")
	t0 := time.Now().Add(-time.Hour).UnixNano()
	frame := func(i int) []byte {
		f := bytes.Repeat([]byte{byte(i)}, size)
		binary.BigEndian.PutUint32(f[20:], uint32(i))
		return f
	}
	var recs []*kgo.Record
	for i := range n {
		k := make([]byte, 8)
		binary.BigEndian.PutUint64(k, uint64(t0+int64(i)*1000))
		recs = append(recs, &kgo.Record{Key: k, Value: frame(i)})
	}
	produce(t, b.Addr, "full", recs)

	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "fcfull", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	archive := t.TempDir()

	// A second target on a roomy disk keeps what it has: after a stop it
	// skips the records it holds already.
	roomy := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "sink.yaml")
	os.WriteFile(cfg, []byte(`brokers: `+b.Addr+`
topic: full
group: g
resume_free_bytes: 1048576
metrics_listen: 127.0.0.1:0
targets:
  - name: small
    dir: `+dir+`
    template: "{ts}.pcap"
    max_bytes: 262144
  - name: roomy
    dir: `+roomy+`
    template: "{ts}.pcap"
    max_packets: 1000
`), 0o644)
	s := exec.Command(filepath.Join(bin, "pcapstore"), "sink", "-config", cfg, "-log-json")
	var logs syncBuffer
	s.Stderr = &logs
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Process.Kill()
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == "" && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		addr = jsonLogField(logs.String(), "metrics", "listen")
	}
	if addr == "" {
		t.Fatalf("no metrics address in the log:\n%s", logs.String())
	}
	scrape := func() map[string]float64 {
		_, text := get(t, "http://"+addr+"/metrics")
		return parseMetrics(t, text)
	}

	moved, stops := 0, 0
	moveFiles := func() {
		for _, f := range sinkFiles(t, dir) {
			// A file and its index sidecar, if written yet.
			if err := exec.Command("mv", f, archive).Run(); err != nil {
				t.Fatal(err)
			}
			if ix := index.SidecarPath(f); exec.Command("mv", ix, index.SidecarPath(filepath.Join(archive, filepath.Base(f)))).Run() != nil {
				t.Errorf("no index beside %s", f)
			}
			moved++
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		m := scrape()
		if m["pcapstore_consumer_lag_records"] == 0 && m["pcapstore_records_consumed_total"] >= n {
			break
		}
		// Each stop is checked and relieved once: after the files are
		// moved the sink resumes at its next tick, up to a second later.
		if m["pcapstore_stopped"] == 1 && m["pcapstore_disk_full_stops_total"] > float64(stops) {
			stops++
			// Stopped means stopped: no file appears, nothing is
			// committed.
			files, commits := len(sinkFiles(t, dir)), m["pcapstore_offset_commits_total"]
			time.Sleep(1500 * time.Millisecond)
			if m2 := scrape(); len(sinkFiles(t, dir)) != files || m2["pcapstore_offset_commits_total"] != commits {
				t.Fatalf("stopped, yet files %d → %d, commits %v → %v", files, len(sinkFiles(t, dir)),
					commits, m2["pcapstore_offset_commits_total"])
			}
			if code, body := get(t, "http://"+addr+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "disk full") {
				t.Errorf("stopped for a full disk, yet /readyz %d %s", code, strings.TrimSpace(body))
			}
			moveFiles()
		}
		time.Sleep(200 * time.Millisecond)
	}
	m := scrape()
	s.Process.Signal(syscall.SIGTERM)
	if err := s.Wait(); err != nil {
		t.Fatalf("pcapstore sink: %v\n%s", err, logs.String())
	}
	moveFiles()
	if stops == 0 || m["pcapstore_disk_full_stops_total"] == 0 {
		t.Fatalf("never stopped for a full disk (%v stops counted): the test proves nothing\n%s", m["pcapstore_disk_full_stops_total"], logs.String())
	}
	if !strings.Contains(logs.String(), "disk full: stopped consuming") || !strings.Contains(logs.String(), "disk space back") {
		t.Errorf("the log does not say it stopped and resumed:\n%s", logs.String())
	}
	t.Logf("%d disk-full stops, %d files moved", int(m["pcapstore_disk_full_stops_total"]), moved)
	for _, target := range []string{archive, roomy} {
		files := sinkFiles(t, target)
		var got []pcap.Record
		for _, f := range files {
			_, rs, err := pcap.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, rs...)
		}
		if len(got) != n {
			t.Errorf("%s: %d packets in %d files, want %d exactly once", target, len(got), len(files), n)
		}
		for i := range min(len(got), n) {
			if got[i].Timestamp != t0+int64(i)*1000 || !bytes.Equal(got[i].Data, frame(i)) {
				t.Fatalf("%s: packet %d: timestamp %d, frame %d: want record %d", target, i, got[i].Timestamp,
					binary.BigEndian.Uint32(got[i].Data[20:]), i)
			}
		}
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 2 || left[0].Name() != ".pcapstore-offsets.json" || left[1].Name() != "deadletter.jsonl" {
		t.Errorf("left in the store: %v; want the journal and the dead-letter file", left)
	}
}

// jsonLogField is field of the last JSON log line whose msg is msg (a
// string, or a number as written), or "".
func jsonLogField(logs, msg, field string) string {
	var val string
	for _, line := range strings.Split(logs, "\n") {
		var v map[string]any
		if json.Unmarshal([]byte(line), &v) == nil && v["msg"] == msg {
			switch x := v[field].(type) {
			case string:
				val = x
			case float64: // a number, as written
				val = strconv.FormatFloat(x, 'f', -1, 64)
			}
		}
	}
	return val
}
