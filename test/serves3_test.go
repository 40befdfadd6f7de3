package test

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fastcapa-go/fastcapa/index"
	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/serve"
)

// TestServeS3: a store the sink uploaded to a bucket (a real MinIO
// server) is searched without a local copy. The sink's s3 target sends
// each file's sidecar index after it; serve lists the prefix, prunes the
// objects by those indexes and reads the others with ranged GETs. Then
// two servers on two local stores and the bucket, one the other's peer,
// answer a fanned-out query with exactly the packets of all three merged,
// byte for byte what pcapstore query gives over the same files; with the
// peer stopped or MinIO stopped, the answer is incomplete and names it.
func TestServeS3(t *testing.T) {
	m := testenv.StartMinIO(t)
	st := newServeStore(t)
	files := sinkFiles(t, st.dir)
	if len(files) != 4 {
		t.Fatalf("%d files in the store, want 4 of 300 packets", len(files))
	}
	// Three stores: A holds files 0 and 3, B file 1, the bucket the
	// records of file 2 (dirC keeps the local copy, for the oracle).
	dirA, dirB, dirC := t.TempDir(), t.TempDir(), t.TempDir()
	for i, to := range []string{dirA, dirB, dirC, dirA} {
		for _, p := range []string{files[i], index.SidecarPath(files[i])} {
			if err := os.Rename(p, filepath.Join(to, filepath.Base(p))); err != nil {
				t.Fatal(err)
			}
		}
	}
	b3 := startBroker(t, 0, "serve-s3", "")
	var part []*kgo.Record // fresh records: producing set the others' topic
	for _, r := range st.krecs[600:900] {
		part = append(part, &kgo.Record{Key: r.Key, Value: r.Value})
	}
	produce(t, b3.Addr, "serve-s3", part)
	cfg := filepath.Join(t.TempDir(), "sink.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`brokers: %s
topic: serve-s3
group: g
metrics_listen: 127.0.0.1:0
targets:
  - name: s3
    dir: %s
    max_packets: 300
    s3:
      endpoint: %s
      region: %s
      bucket: %s
      prefix: sensor1
      access_key: %s
      secret_key: %s
`, b3.Addr, t.TempDir(), m.Endpoint, m.Region, m.Bucket, m.AccessKey, m.SecretKey)), 0o644)
	runSinkUntil(t, b3.Addr, "serve-s3", "g", 300, "sink", "-config", cfg)

	t.Setenv("AWS_ACCESS_KEY_ID", m.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", m.SecretKey)
	bucket := "s3://" + m.Bucket + "/sensor1"
	s3args := []string{"-s3-endpoint", m.Endpoint, "-s3-region", m.Region}

	// The bucket alone: its packets, and its objects pruned by their
	// uploaded sidecar index.
	_, onlyS3 := startServe(t, append(s3args, "-jobs-dir", t.TempDir(), bucket)...)
	localC, _, _ := pcapQuery(t, "expr", "", dirC, "-o", "-")
	if a := ask(t, nil, newRequest(t, "POST", onlyS3+"/query", "")); a.code != 200 || a.status != serve.Complete || !bytes.Equal(a.body, localC) {
		t.Errorf("the bucket: %d %q %+v, %d bytes, want %d (%.200q)", a.code, a.status, a.summary, len(a.body), len(localC), a.body)
	}
	out := fmt.Sprintf(`{"ipSrcAddr":"62.75.195.236","startTimeMs":%d,"endTimeMs":%d}`, st.ms(0), st.ms(100))
	if a := ask(t, nil, newRequest(t, "POST", onlyS3+"/query", out, "Content-Type", "application/json")); a.summary.Pruned != 1 || a.summary.Scanned != 0 || a.summary.Matched != 0 {
		t.Errorf("a query before the object's time: %+v, want it pruned by the uploaded index", a.summary)
	}

	// The histogram of the bucket: from its sidecar, fetched once and
	// kept while the listing says it is the same; a sidecar replaced is
	// fetched again (here garbage: the object is unindexed), and so is
	// the original put back.
	sidecarKey := ""
	_, listing := m.Curl(t, m.URL(m.Bucket, "")+"?list-type=2&prefix=sensor1%2F")
	for _, k := range regexp.MustCompile(`<Key>([^<]*)</Key>`).FindAllStringSubmatch(string(listing), -1) {
		if strings.HasSuffix(k[1], ".idx") {
			sidecarKey = k[1]
		}
	}
	code, sidecar := m.Object(t, m.Bucket, sidecarKey)
	if sidecarKey == "" || code != 200 {
		t.Fatalf("the sidecar in the bucket: %q, %d: %s", sidecarKey, code, listing)
	}
	put := func(body []byte) {
		t.Helper()
		f := filepath.Join(t.TempDir(), "body")
		os.WriteFile(f, body, 0o644)
		if code, b := m.Curl(t, m.URL(m.Bucket, sidecarKey), "-X", "PUT", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "--data-binary", "@"+f); code != 200 {
			t.Fatalf("PUT %s: %d %s", sidecarKey, code, b)
		}
	}
	h1 := getHistogram(t, onlyS3, "buckets=10")
	total := 0.0
	for _, v := range h1.Packets {
		total += v
	}
	if h1.Captures != 1 || h1.Unindexed != 0 || math.Abs(total-300) > 1e-6 {
		t.Errorf("the bucket's histogram: %d captures, %d unindexed, %.3f packets", h1.Captures, h1.Unindexed, total)
	}
	if d := histogramDiff(getHistogram(t, onlyS3, "buckets=10"), h1); d != "" {
		t.Errorf("the bucket's histogram again: %s", d)
	}
	put([]byte("not an index"))
	if h := getHistogram(t, onlyS3, "buckets=10"); h.Captures != 0 || h.Unindexed != 1 {
		t.Errorf("the sidecar replaced by garbage: %d captures, %d unindexed", h.Captures, h.Unindexed)
	}
	put(sidecar)
	if d := histogramDiff(getHistogram(t, onlyS3, "buckets=10"), h1); d != "" {
		t.Errorf("the sidecar put back: %s", d)
	}

	// Fan-out over A + the bucket, and B.
	portB := freePort(t)
	urlB := fmt.Sprintf("http://127.0.0.1:%d", portB)
	b, _ := startServe(t, "-listen", fmt.Sprintf("127.0.0.1:%d", portB), "-jobs-dir", t.TempDir(), dirB)
	_, urlA := startServe(t, append(s3args, "-jobs-dir", t.TempDir(), "-peer", urlB, dirA, bucket)...)
	for _, expr := range []string{"", "tcp", "udp or icmp or vlan"} {
		local, _, _ := pcapQuery(t, "expr", expr, dirA, dirB, dirC, "-o", "-")
		a := ask(t, nil, newRequest(t, "POST", urlA+"/query", expr))
		if a.code != 200 || a.status != serve.Complete || !bytes.Equal(a.body, local) {
			t.Errorf("%q: %d %q, %d bytes; pcapstore query over the three stores %d", expr, a.code, a.status, len(a.body), len(local))
		}
		sameRecords(t, fmt.Sprintf("%q over the three stores", expr), pcaptest.Read(t, bytes.NewReader(a.body)), pcaptest.TcpdumpKeeps(t, st.src, expr))
	}

	// B stopped, then MinIO: each is named, the rest is there.
	b.stop()
	a := ask(t, nil, newRequest(t, "POST", urlA+"/query", "tcp"))
	if a.status != serve.Incomplete || len(a.summary.Failed) != 1 || a.summary.Failed[0].Path != urlB {
		t.Errorf("B stopped: %q %+v", a.status, a.summary.Failed)
	}
	m.Stop(t)
	localA, _, _ := pcapQuery(t, "expr", "tcp", dirA, "-o", "-")
	a = ask(t, nil, newRequest(t, "POST", urlA+"/query", "tcp"))
	named := false
	for _, f := range a.summary.Failed {
		named = named || strings.HasPrefix(f.Path, bucket)
	}
	if a.status != serve.Incomplete || !named || !bytes.Equal(a.body, localA) {
		t.Errorf("MinIO stopped: %q %+v, %d bytes (A's own %d)", a.status, a.summary.Failed, len(a.body), len(localA))
	}
}
