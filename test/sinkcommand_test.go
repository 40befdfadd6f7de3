package test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// TestSinkOnFinalizeRclone is the README's rclone recipe, run: pcapstore
// sink with `on_finalize: [rclone, copyto, ...]` and `commit_after:
// command` copies each finished file to a real MinIO server through
// Debian's rclone (an S3 remote configured by environment variables), an
// independent client. The server stops while half the records arrive:
// the copies fail, are retried and counted, and no offset is committed
// past the files not copied. The sink is then killed (SIGKILL) with
// those copies pending; started again with the server back, it runs the
// commands its journal lists, writes no record twice, and commits
// everything. The bucket, listed by rclone and read back with curl,
// holds each local file byte for byte, and the files hold every record
// once.
func TestSinkOnFinalizeRclone(t *testing.T) {
	const half = 1500
	rclone := testenv.RequireTool(t, "rclone")
	m := testenv.StartMinIO(t)
	b := startBroker(t, 0, "rc", "")
	nonce := uint64(time.Now().UnixNano())
	t0 := time.Now().Add(-time.Minute).UnixNano()
	produce(t, b.Addr, "rc", faultRecords(nonce, t0, 0, half))

	dir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "sink.yaml")
	os.WriteFile(cfg, []byte(`brokers: `+b.Addr+`
topic: rc
group: g
metrics_listen: 127.0.0.1:0
targets:
  - name: offsite
    dir: `+dir+`
    template: "%Y%m%d/{ts}.pcap"
    max_packets: 500
    max_span: 1s
    on_finalize: [rclone, copyto, --retries, "1", --low-level-retries, "1", "{path}", "offsite:`+m.Bucket+`/sensor1/{key}"]
    on_finalize_timeout: 30s
    commit_after: command
`), 0o644)
	// The remote, as rclone's environment variables name it; a CA bundle
	// the machine's environment may name is not for this plain-HTTP
	// server (rclone's AWS SDK fails on it).
	env := []string{"AWS_CA_BUNDLE=", "RCLONE_CONFIG=/dev/null", "RCLONE_CONFIG_OFFSITE_TYPE=s3", "RCLONE_CONFIG_OFFSITE_PROVIDER=Minio",
		"RCLONE_CONFIG_OFFSITE_ENDPOINT=http://" + m.Endpoint, "RCLONE_CONFIG_OFFSITE_REGION=" + m.Region,
		"RCLONE_CONFIG_OFFSITE_ACCESS_KEY_ID=" + m.AccessKey, "RCLONE_CONFIG_OFFSITE_SECRET_ACCESS_KEY=" + m.SecretKey}
	s := &sinkProc{t: t, args: []string{"sink", "-config", cfg, "-log-json"}, env: env}
	s.start()
	t.Cleanup(s.kill)
	runs := 1 // the metrics address of run n is in the n-th "metrics" line
	scrape := func() map[string]float64 {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); strings.Count(s.logs.String(), `"msg":"metrics"`) < runs &&
			time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		}
		_, text := get(t, "http://"+jsonLogField(s.logs.String(), "metrics", "listen")+"/metrics")
		return parseMetrics(t, text)
	}
	waitMetrics := func(what string, ok func(map[string]float64) bool) map[string]float64 {
		t.Helper()
		for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if m := scrape(); ok(m) {
				return m
			}
		}
		t.Fatalf("waited 90 s for %s: %v\n%s", what, scrape(), s.logs.String())
		return nil
	}
	// parseMetrics sums over labels: one target.
	const done, failed, pending = "pcapstore_on_finalize_done_total", "pcapstore_on_finalize_errors_total", "pcapstore_on_finalize_pending_files"

	waitMetrics("3 files copied", func(m map[string]float64) bool { return m[done] == 3 })
	waitCommitted(t, b.Addr, "g", "rc", half)

	m.Stop(t)
	produce(t, b.Addr, "rc", faultRecords(nonce, t0, half, 2*half))
	waitMetrics("3 more files finalized, their copies failing", func(m map[string]float64) bool {
		return m["pcapstore_files_finalized_total"] == 6 && m[failed] >= 1 && m[pending] == 3
	})
	time.Sleep(1500 * time.Millisecond) // ticks that would commit, if anything did
	if c := committedOffset(t, b.Addr, "g", "rc"); c != half {
		t.Errorf("committed %d while the files after %d were not copied", c, half)
	}
	if !strings.Contains(s.logs.String(), `"msg":"on_finalize: command failed; trying again"`) {
		t.Errorf("no failed command in the log")
	}
	s.kill()

	m.Start(t)
	s.start()
	runs++
	waitMetrics("the 3 pending copies run again", func(m map[string]float64) bool { return m[done] == 3 && m[pending] == 0 })
	waitCommitted(t, b.Addr, "g", "rc", 2*half)
	if c := s.stop(); c != 0 {
		t.Fatalf("pcapstore sink exited %d\n%s", c, s.logs.String())
	}
	if n := strings.Count(s.logs.String(), "running the command of a file whose command had not succeeded"); n != 3 {
		t.Errorf("the restart ran %d commands from the journal, want 3", n)
	}

	fig := newFaultStore(nonce, 2*half).read(t, dir).analyse()
	if len(fig.onDisk) != 2*half || fig.records != 2*half {
		t.Errorf("the files hold %d records, %d distinct: want each of %d once", fig.records, len(fig.onDisk), 2*half)
	}
	var local []string
	for _, p := range sinkFiles(t, dir) {
		rel, _ := filepath.Rel(dir, p)
		local = append(local, "sensor1/"+filepath.ToSlash(rel))
	}
	lsf := exec.Command(rclone, "lsf", "-R", "--files-only", "offsite:"+m.Bucket)
	lsf.Env = append(os.Environ(), env...)
	out, err := lsf.CombinedOutput()
	if err != nil {
		t.Fatalf("rclone lsf: %v\n%s", err, out)
	}
	remote := strings.Fields(string(out))
	slices.Sort(remote)
	if !slices.Equal(remote, local) {
		t.Fatalf("the bucket holds %v, want the local files %v", remote, local)
	}
	for _, key := range local {
		want, err := os.ReadFile(filepath.Join(dir, strings.TrimPrefix(key, "sensor1/")))
		if err != nil {
			t.Fatal(err)
		}
		if status, got := m.Object(t, m.Bucket, key); status != 200 || !bytes.Equal(got, want) {
			t.Errorf("object %s: status %d, %d bytes: want the file's %d bytes", key, status, len(got), len(want))
		}
	}
}
