package test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/index"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// sinkFiles are the finalized capture files under dir, oldest first.
func sinkFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".pcap") && !strings.HasPrefix(d.Name(), ".") {
			files = append(files, p)
		}
		return nil
	})
	// The default template starts with the first packet's epoch ns, all
	// of one width: name order is time order.
	sort.Strings(files)
	return files
}

func countPackets(t *testing.T, files []string) int {
	n := 0
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := pcap.NewReader(fh)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for {
			if _, err := r.Next(); err != nil {
				break
			}
			n++
		}
		fh.Close()
	}
	return n
}

// TestSinkEndToEnd: fastcapa → broker → pcapstore sink → rotated files.
// The files hold every frame byte-exact with its timestamp in order,
// capinfos agrees on each file's count, and a second sink in the same
// group finds nothing left: offsets were committed for what is on disk.
func TestSinkEndToEnd(t *testing.T) {
	testenv.RequireRoot(t)
	capinfos := testenv.RequireTool(t, "capinfos")
	file, recs := sample(t)
	b := startBroker(t, 0, "pcap", "")
	d := startDaemon(t, nil, append(ealArgs(t), "-vdev", "net_pcap0,rx_pcap="+file, "-port", "net_pcap0",
		"-brokers", b.Addr, "-topic", "sinke2e")...)
	if got := waitRecords(t, b.Addr, "sinke2e", len(recs), 30*time.Second); got < len(recs) {
		t.Fatalf("topic has %d records", got)
	}
	d.stop(t)

	dir := t.TempDir()
	sinkArgs := []string{"sink", "-brokers", b.Addr, "-topic", "sinke2e", "-group", "g1", "-dir", dir,
		"-max-packets", "300", "-log-json", "-metrics-listen", "127.0.0.1:0"}
	s := exec.Command(filepath.Join(bin, "pcapstore"), sinkArgs...)
	var slog bytes.Buffer
	s.Stderr = &slog
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	// Two files fill by count; the third closes at shutdown.
	deadline := time.Now().Add(30 * time.Second)
	for len(sinkFiles(t, dir)) < 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond)
	checkSinkMetrics(t, slog.String(), len(recs))
	s.Process.Signal(syscall.SIGTERM)
	if err := s.Wait(); err != nil {
		t.Fatalf("pcapstore sink: %v\n%s", err, slog.String())
	}
	files := sinkFiles(t, dir)
	if len(files) != 3 {
		t.Fatalf("%d files, want 3 (300 + 300 + 161): %v\n%s", len(files), files, slog.String())
	}
	var got []pcap.Record
	for _, f := range files {
		out, err := exec.Command(capinfos, "-M", "-c", f).Output()
		if err != nil {
			t.Fatalf("capinfos %s: %v", f, err)
		}
		_, rs, err := pcap.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Each file has its sidecar index, true to the file.
		if ix, err := index.Load(f); err != nil {
			t.Errorf("index of %s: %v", f, err)
		} else if ix.Packets != int64(len(rs)) || ix.First != rs[0].Timestamp || ix.Last != rs[len(rs)-1].Timestamp {
			t.Errorf("index of %s: %d packets %d..%d, the file has %d %d..%d", f, ix.Packets, ix.First, ix.Last,
				len(rs), rs[0].Timestamp, rs[len(rs)-1].Timestamp)
		}
		if !strings.Contains(string(out), "Number of packets:   "+strconv.Itoa(len(rs))) &&
			!strings.Contains(string(out), "Number of packets = "+strconv.Itoa(len(rs))) {
			t.Errorf("capinfos on %s disagrees with %d packets:\n%s", f, len(rs), out)
		}
		got = append(got, rs...)
	}
	if len(got) != len(recs) {
		t.Fatalf("files hold %d packets, want %d", len(got), len(recs))
	}
	for i := range recs {
		if !bytes.Equal(got[i].Data, recs[i].Data) || got[i].Timestamp != recs[i].Timestamp {
			t.Fatalf("packet %d differs (ts %d, want %d)", i, got[i].Timestamp, recs[i].Timestamp)
		}
	}

	// The same group again: nothing left to consume, so no new file.
	s2 := exec.Command(filepath.Join(bin, "pcapstore"), sinkArgs...)
	s2.Stderr = &slog
	if err := s2.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second)
	s2.Process.Signal(syscall.SIGTERM)
	s2.Wait()
	if n := len(sinkFiles(t, dir)); n != 3 {
		t.Errorf("a second sink in the group wrote %d more files: offsets were not committed", n-3)
	}

	// inspect prints one line per packet.
	out, err := exec.Command(filepath.Join(bin, "pcapstore"), "inspect", files[0]).Output()
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(out), "\n"); lines != 300 || !strings.Contains(string(out), "tcp ") {
		t.Errorf("inspect printed %d lines, want 300:\n%.300s", lines, out)
	}
}

// checkSinkMetrics scrapes a running sink: promtool accepts the output,
// it has consumed and written want records, and its lag is zero.
func checkSinkMetrics(t *testing.T, logs string, want int) {
	t.Helper()
	addr := jsonLogField(logs, "metrics", "listen")
	if addr == "" {
		t.Fatalf("no metrics address in the sink's log:\n%s", logs)
	}
	_, text := get(t, "http://"+addr+"/metrics")
	m := parseMetrics(t, text)
	for name, v := range map[string]float64{
		"pcapstore_records_consumed_total":      float64(want),
		"pcapstore_packets_written_total":       float64(want),
		"pcapstore_consumer_lag_records":        0,
		"pcapstore_records_dead_lettered_total": 0,
	} {
		if got, ok := m[name]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, v)
		}
	}
	if m["pcapstore_files_finalized_total"] < 2 || m["pcapstore_offset_commits_total"] < 2 {
		t.Errorf("files finalized %v, commits %v: want at least 2 each", m["pcapstore_files_finalized_total"], m["pcapstore_offset_commits_total"])
	}
	promtool := testenv.RequireTool(t, "promtool")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
