package test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fastcapa-go/fastcapa/filter"
	"github.com/fastcapa-go/fastcapa/index"
	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/pcap"
	"github.com/fastcapa-go/fastcapa/serve"
)

// serveStore is a store the sink wrote from the shared captures with
// tunnels and VLANs and metron-example.pcap (their Ethernet frames, one
// millisecond apart from t0), in files of 300 packets with their sidecar
// indexes; src holds the same records in one file, tcpdump's input. The
// broker still serves the topic, "serve".
type serveStore struct {
	dir, src string
	recs     []pcap.Record
	krecs    []*kgo.Record
	t0       int64
	broker   string
}

func newServeStore(t *testing.T) serveStore {
	t.Helper()
	in := makeFilterInputFrom(t, tunnelPcaps(t))
	st := serveStore{dir: t.TempDir(), src: filepath.Join(t.TempDir(), "src.pcap"),
		t0: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC).UnixNano()}
	for i, r := range in.recs {
		ts := st.t0 + int64(i)*int64(time.Millisecond)
		st.recs = append(st.recs, pcap.Record{Timestamp: ts, Data: r.Data, OrigLen: uint32(len(r.Data))})
		st.krecs = append(st.krecs, &kgo.Record{Key: binary.BigEndian.AppendUint64(nil, uint64(ts)), Value: r.Data})
	}
	pcaptest.WriteCapture(t, st.src, pcaptest.File{}, st.recs)
	b := startBroker(t, 0, "serve", "")
	st.broker = b.Addr
	produce(t, b.Addr, "serve", st.krecs)
	runSinkUntil(t, b.Addr, "serve", "g", len(st.krecs), "sink", "-brokers", b.Addr, "-topic", "serve", "-group", "g",
		"-dir", st.dir, "-max-packets", "300", "-metrics-listen", "127.0.0.1:0")
	files := sinkFiles(t, st.dir)
	if n := countPackets(t, files); len(files) < 3 || n != len(st.krecs) {
		t.Fatalf("the sink wrote %d packets in %d files, want %d in several", n, len(files), len(st.krecs))
	}
	return st
}

// runSinkUntil runs pcapstore with args (a sink of group on topic, in
// files of 300 packets) until it committed its full files of n records,
// and stops it, which finishes the last one.
func runSinkUntil(t *testing.T, broker, topic, group string, n int, args ...string) {
	t.Helper()
	s := &sinkProc{t: t, args: args}
	s.start()
	t.Cleanup(s.kill)
	waitCommitted(t, broker, group, topic, int64((n-1)/300*300))
	if c := s.stop(); c != 0 {
		t.Fatalf("pcapstore sink exited %d\n%s", c, s.logs.String())
	}
}

// ms is the epoch millisecond of record i.
func (st serveStore) ms(i int) int64 { return (st.t0 + int64(i)*int64(time.Millisecond)) / 1e6 }

// startServe runs pcapstore serve on a free loopback port with args and
// returns it and its URL (from its "serving" log line).
func startServe(t *testing.T, args ...string) (*sinkProc, string) {
	t.Helper()
	p := &sinkProc{t: t, args: append([]string{"serve", "-listen", "127.0.0.1:0", "-log-json"}, args...)}
	p.start()
	t.Cleanup(p.kill)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if u := jsonLogField(p.logs.String(), "serving", "url"); u != "" {
			return p, u
		}
		if !p.running() || time.Now().After(deadline) {
			t.Fatalf("pcapstore serve did not start:\n%s", p.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// answer is a streamed answer: status, body, and the trailers' summary.
type answer struct {
	code    int
	body    []byte
	status  string
	summary serve.Summary
}

func ask(t *testing.T, c *http.Client, req *http.Request) answer {
	t.Helper()
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	a := answer{code: resp.StatusCode}
	if a.body, err = io.ReadAll(resp.Body); err != nil {
		t.Fatalf("%s %s: reading: %v", req.Method, req.URL, err)
	}
	a.status = resp.Trailer.Get(serve.StatusTrailer)
	if s := resp.Trailer.Get(serve.SummaryTrailer); s != "" {
		if err := json.Unmarshal([]byte(s), &a.summary); err != nil {
			t.Fatalf("summary trailer %q: %v", s, err)
		}
	}
	return a
}

func newRequest(t *testing.T, method, u, body string, header ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return req
}

// sameRecords fails unless recs are exactly want, in order
// (pcaptest.Diff).
func sameRecords(t *testing.T, what string, recs, want []pcap.Record) {
	t.Helper()
	if d := pcaptest.Diff(want, recs); d != "" {
		t.Errorf("%s: %s", what, d)
	}
}

// TestServeStream: POST /query (Stenographer's text, Metron's JSON) and
// GET /query answer over a store the sink wrote with exactly the packets
// tcpdump keeps, byte for byte what pcapstore query writes locally, and
// the trailers say how it ended; limits stop it; a query that is wrong
// is a 400 with the parser's message; pcapstore query -server writes the
// same file; every request is logged with who asked what.
func TestServeStream(t *testing.T) {
	st := newServeStore(t)
	p, base := startServe(t, "-jobs-dir", t.TempDir(), st.dir)
	n := len(st.recs)
	from, to := st.ms(n/4), st.ms(n/2)
	for _, c := range []struct {
		name   string
		req    *http.Request
		oracle string // tcpdump's expression over the time range
		lo, hi int    // the records in range
		local  []string
	}{
		{"every packet", newRequest(t, "POST", base+"/query", ""), "", 0, n, []string{"expr", ""}},
		{"tcp", newRequest(t, "POST", base+"/query", "tcp"), "tcp", 0, n, []string{"expr", "tcp"}},
		{"udp port 53 (text/plain)", newRequest(t, "POST", base+"/query", "udp port 53", "Content-Type", "text/plain"), "udp port 53", 0, n, []string{"expr", "udp port 53"}},
		{"Stenographer's after/before", newRequest(t, "POST", base+"/query",
			fmt.Sprintf("ip and after %s && before %s", time.UnixMilli(from).UTC().Format(time.RFC3339Nano), time.UnixMilli(to).UTC().Format(time.RFC3339Nano))),
			"ip", n / 4, n / 2, []string{"expr", "ip", "-st", strconv.FormatInt(from, 10), "-et", strconv.FormatInt(to-1, 10)}},
		{"GET with start and end", newRequest(t, "GET", base+"/query?"+url.Values{"q": {"udp"}, "start": {strconv.FormatInt(from, 10)}, "end": {strconv.FormatInt(to, 10)}}.Encode(), ""),
			"udp", n / 4, n/2 + 1, []string{"expr", "udp", "-st", strconv.FormatInt(from, 10), "-et", strconv.FormatInt(to, 10)}},
		{"Metron's fixed fields as JSON", newRequest(t, "POST", base+"/query", `{"ipSrcAddr":"62.75.195.236","protocol":"tcp","includeReverse":true}`, "Content-Type", "application/json"),
			filter.VLANExpr("tcp and host 62.75.195.236"), 0, n,
			[]string{"fixed", "-sa", "62.75.195.236", "-p", "tcp", "-ir"}},
	} {
		a := ask(t, nil, c.req)
		if a.code != 200 || a.status != serve.Complete {
			t.Errorf("%s: %d %q %s", c.name, a.code, a.status, a.body)
			continue
		}
		rangeFile := filepath.Join(t.TempDir(), "range.pcap")
		pcaptest.WriteCapture(t, rangeFile, pcaptest.File{}, st.recs[c.lo:c.hi])
		want := pcaptest.TcpdumpKeeps(t, rangeFile, c.oracle)
		sameRecords(t, c.name, pcaptest.Read(t, bytes.NewReader(a.body)), want)
		if a.summary.Matched != int64(len(want)) || a.summary.Captures != len(sinkFiles(t, st.dir)) {
			t.Errorf("%s: summary %+v, want %d matched over %d captures", c.name, a.summary, len(want), len(sinkFiles(t, st.dir)))
		}
		local, stderr, code := pcapQuery(t, append(c.local, st.dir, "-o", "-")...)
		if code != 0 || !bytes.Equal(local, a.body) {
			t.Errorf("%s: pcapstore query wrote %d bytes (exit %d: %s), the server %d: not the same", c.name, len(local), code, stderr, len(a.body))
		}
		t.Logf("%s: %d packets", c.name, len(want))
	}

	// Limits: Stenographer's headers, the URL's; the smaller wins.
	all := pcaptest.TcpdumpKeeps(t, st.src, "")
	a := ask(t, nil, newRequest(t, "POST", base+"/query?limit_packets=9", "", "Steno-Limit-Packets", "7"))
	sameRecords(t, "Steno-Limit-Packets 7", pcaptest.Read(t, bytes.NewReader(a.body)), all[:7])
	if a.status != serve.Limited {
		t.Errorf("limit: status %q", a.status)
	}
	var bytes100 int64
	k := 0
	for ; bytes100+int64(len(all[k].Data)) <= 1000; k++ {
		bytes100 += int64(len(all[k].Data))
	}
	a = ask(t, nil, newRequest(t, "POST", base+"/query", "", "Steno-Limit-Bytes", "1000"))
	sameRecords(t, "Steno-Limit-Bytes 1000", pcaptest.Read(t, bytes.NewReader(a.body)), all[:k])

	// Wrong queries: a 400 with the parser's message, and no pcap.
	for _, c := range []struct {
		req *http.Request
		msg string
	}{
		{newRequest(t, "POST", base+"/query", "tcp and"), "syntax error"},
		{newRequest(t, "POST", base+"/query", "tcp and after yesterday"), `"yesterday"`},
		{newRequest(t, "POST", base+"/query", "tcp or udp and before 1h ago"), "ambiguous"},
		{newRequest(t, "GET", base+"/query?q=tcp&start=noon", ""), "start"},
		{newRequest(t, "POST", base+"/query", "", "Steno-Limit-Packets", "many"), "Steno-Limit-Packets"},
		{newRequest(t, "POST", base+"/query", `{"ipSrcAddr":"10.0.0.300"}`, "Content-Type", "application/json"), "address"},
		{newRequest(t, "POST", base+"/query", `{"query":"tcp","ipSourceAddr":"x"}`, "Content-Type", "application/json"), "unknown field"},
		{newRequest(t, "POST", base+"/query", `{"basePath":"/etc"}`, "Content-Type", "application/json"), "not a store"},
		{newRequest(t, "POST", base+"/query", `{"packetFilter":"zz"}`, "Content-Type", "application/json"), "packet filter"},
	} {
		a := ask(t, nil, c.req)
		if a.code != 400 || !strings.Contains(string(a.body), c.msg) || bytes.HasPrefix(a.body, []byte{0x4d, 0x3c, 0xb2, 0xa1}) {
			t.Errorf("%s %s: %d %q, want 400 with %q", c.req.Method, c.req.URL, a.code, a.body, c.msg)
		}
	}

	// The client: pcapstore query -server writes what pcapstore query
	// writes, and refuses a wrong query with exit 2 and the message.
	local, _, _ := pcapQuery(t, "expr", "tcp port 80", st.dir, "-o", "-")
	remote, stderr, code := pcapQuery(t, "expr", "tcp port 80", "-server", base, "-o", "-")
	if code != 0 || !bytes.Equal(remote, local) || !strings.Contains(stderr, "matched") {
		t.Errorf("-server: exit %d, %d bytes, local %d: %s", code, len(remote), len(local), stderr)
	}
	if _, stderr, code := pcapQuery(t, "expr", "tcp and", "-server", base, "-o", "-"); code != 2 || !strings.Contains(stderr, "syntax error") {
		t.Errorf("-server, wrong query: exit %d: %s", code, stderr)
	}
	if _, stderr, code := pcapQuery(t, "expr", "tcp", "-server", "http://127.0.0.1:1", "-o", "-"); code != 1 || !strings.Contains(stderr, "refused") {
		t.Errorf("-server, no server: exit %d: %s", code, stderr)
	}

	// The log: a line per request, with who asked what.
	logs := p.logs.String()
	if !strings.Contains(logs, `"query":"\"tcp port 80\""`) || !strings.Contains(logs, `"user":"anonymous"`) || !strings.Contains(logs, `"status":400`) {
		t.Errorf("the request log lacks who asked what:\n%s", lastLines(logs, 5))
	}
}

// bigStore writes a store of n records of 400 bytes: a query over it
// takes long enough to be seen running, killed or left.
func bigStore(t *testing.T, n int) string {
	t.Helper()
	_, sampleRecs := sample(t)
	recs := make([]pcap.Record, n)
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC).UnixNano()
	for i := range recs {
		d := make([]byte, 400)
		copy(d, sampleRecs[i%len(sampleRecs)].Data)
		recs[i] = pcap.Record{Timestamp: t0 + int64(i)*1000, Data: d, OrigLen: 400}
	}
	dir := t.TempDir()
	pcaptest.WriteCapture(t, filepath.Join(dir, "big.pcap"), pcaptest.File{}, recs)
	return dir
}

// TestServeClientGone: a client that goes away part way through a long
// answer cancels the scan; the server logs it and goes on serving.
func TestServeClientGone(t *testing.T) {
	store := bigStore(t, 300_000) // 125 MB of answer: more than sockets buffer
	p, base := startServe(t, "-jobs-dir", t.TempDir(), store)
	resp, err := http.Post(base+"/query", "text/plain", strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close() // goes away
	deadline := time.Now().Add(30 * time.Second)
	for jsonLogField(p.logs.String(), "request", "result") != "client gone" {
		if time.Now().After(deadline) {
			t.Fatalf("the server did not see the client go:\n%s", lastLines(p.logs.String(), 5))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b, _ := strconv.ParseInt(jsonLogField(p.logs.String(), "request", "bytes"), 10, 64); b >= 100e6 {
		t.Errorf("the server wrote %d bytes for a client that left after 4 kB", b)
	}
	if a := ask(t, nil, newRequest(t, "POST", base+"/query", "", "Steno-Limit-Packets", "3")); a.status != serve.Limited {
		t.Errorf("the next query: %d %q", a.code, a.status)
	}
}

// TestServeFanout: two servers, each with part of a store the sink
// wrote, and each the other's peer. A query to either is answered from
// both, merged in time order: byte for byte what pcapstore query gives
// over both directories, streamed and as a job's pages, and never sent
// round again. With one server stopped, the other's answer holds its own
// packets, is marked incomplete and names the stopped one; pcapstore
// query -server exits 1 and says so.
func TestServeFanout(t *testing.T) {
	st := newServeStore(t)
	dirB := t.TempDir()
	for i, f := range sinkFiles(t, st.dir) {
		if i%2 == 1 {
			for _, p := range []string{f, index.SidecarPath(f)} {
				if err := os.Rename(p, filepath.Join(dirB, filepath.Base(p))); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// Each host's flow records, of its own captures.
	flowsA, flowsB := t.TempDir(), t.TempDir()
	for _, r := range [][2]string{{flowsA, st.dir}, {flowsB, dirB}} {
		if msg, code := pcapstore(t, nil, "records", "-out", r[0], r[1]); code != 0 {
			t.Fatalf("pcapstore records: %d: %s", code, msg)
		}
	}
	portA, portB := freePort(t), freePort(t)
	urlA, urlB := fmt.Sprintf("http://127.0.0.1:%d", portA), fmt.Sprintf("http://127.0.0.1:%d", portB)
	a, _ := startServe(t, "-listen", fmt.Sprintf("127.0.0.1:%d", portA), "-jobs-dir", t.TempDir(), "-peer", urlB, "-flows", flowsA, st.dir)
	b, _ := startServe(t, "-listen", fmt.Sprintf("127.0.0.1:%d", portB), "-jobs-dir", t.TempDir(), "-peer", urlA, "-flows", flowsB, dirB)
	// The histogram through either host is one server's over both stores
	// and both hosts' flow records.
	_, both := startServe(t, "-jobs-dir", t.TempDir(), "-flows", flowsA, "-flows", flowsB, st.dir, dirB)
	want := getHistogram(t, both, "buckets=30")
	if want.Captures != len(sinkFiles(t, st.dir))+len(sinkFiles(t, dirB)) || want.Flows == nil || want.Flows.Records == 0 {
		t.Fatalf("one server over both: %d captures, flows %+v", want.Captures, want.Flows)
	}
	for _, base := range []string{urlA, urlB} {
		if d := histogramDiff(getHistogram(t, base, "buckets=30"), want); d != "" {
			t.Errorf("the histogram through %s: %s", base, d)
		}
	}
	for _, expr := range []string{"", "tcp", "udp or icmp"} {
		local, _, _ := pcapQuery(t, "expr", expr, st.dir, dirB, "-o", "-")
		for _, base := range []string{urlA, urlB} {
			ans := ask(t, nil, newRequest(t, "POST", base+"/query", expr))
			if ans.code != 200 || ans.status != serve.Complete || !bytes.Equal(ans.body, local) {
				t.Errorf("%q from %s: %d %q, %d bytes, pcapstore query over both %d", expr, base, ans.code, ans.status, len(ans.body), len(local))
			}
		}
	}
	// A job through A: its pages are the merged answer too.
	c := jobClient{t, urlA, "", ""}
	code, s, re := c.submit("query", `{"query":"tcp"}`)
	if code != 200 {
		t.Fatalf("job: %d %+v", code, re)
	}
	s = c.wait(s.JobID)
	sameRecords(t, "a job's pages", c.pages(s.JobID, s.PageTotal), pcaptest.TcpdumpKeeps(t, st.src, "tcp"))
	// Each server got one query from the other at most: none went round.
	if n := strings.Count(a.logs.String(), `"path":"/query"`); n > 7 {
		t.Errorf("server A logged %d queries for 6 asked of both: a query went round", n)
	}

	// B stopped: A answers with its own packets, incomplete, naming B.
	b.stop()
	localA, _, _ := pcapQuery(t, "expr", "tcp", st.dir, "-o", "-")
	ans := ask(t, nil, newRequest(t, "POST", urlA+"/query", "tcp"))
	if ans.code != 200 || ans.status != serve.Incomplete || !bytes.Equal(ans.body, localA) ||
		len(ans.summary.Failed) != 1 || ans.summary.Failed[0].Path != urlB {
		t.Errorf("B stopped: %d %q %+v, %d bytes (A's own: %d)", ans.code, ans.status, ans.summary.Failed, len(ans.body), len(localA))
	}
	_, stderr, code := pcapQuery(t, "expr", "tcp", "-server", urlA, "-o", "-")
	if code != 1 || !strings.Contains(stderr, urlB) || !strings.Contains(stderr, "incomplete") {
		t.Errorf("-server with a peer down: exit %d: %s", code, stderr)
	}
	// The histogram: A's own, over the range asked, naming B.
	q := "buckets=30&start=" + want.Start.Format(time.RFC3339Nano) + "&end=" + want.Start.Add(time.Duration(30*want.Step-1)).Format(time.RFC3339Nano)
	_, onlyA := startServe(t, "-jobs-dir", t.TempDir(), "-flows", flowsA, st.dir)
	h := getHistogram(t, urlA, q)
	if len(h.Failed) != 1 || !strings.HasPrefix(h.Failed[0], urlB+": ") {
		t.Errorf("B stopped: the histogram names %q", h.Failed)
	}
	h.Failed = nil
	if d := histogramDiff(h, getHistogram(t, onlyA, q)); d != "" {
		t.Errorf("B stopped: the histogram is not A's own: %s", d)
	}
}

// getHistogram is a server's /api/histogram?q.
func getHistogram(t *testing.T, base, q string) serve.Histogram {
	t.Helper()
	resp, err := http.Get(base + "/api/histogram?" + q)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h serve.Histogram
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s/api/histogram?%s: %d %v", base, q, resp.StatusCode, err)
	}
	return h
}

// histogramDiff says how two histograms differ, "" if they do not: the
// buckets' sums to a millionth (added in another order), the rest exactly.
func histogramDiff(got, want serve.Histogram) string {
	near := func(a, b []float64) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if math.Abs(a[i]-b[i]) > 1e-6*max(1, math.Abs(b[i])) {
				return false
			}
		}
		return true
	}
	same := func(a, b *time.Time) bool { return a == nil && b == nil || a != nil && b != nil && a.Equal(*b) }
	switch {
	case !got.Start.Equal(want.Start) || got.Step != want.Step || !same(got.First, want.First) || !same(got.Last, want.Last):
		return fmt.Sprintf("buckets of %d ns from %v (data %v–%v), want %d from %v (%v–%v)", got.Step, got.Start, got.First, got.Last, want.Step, want.Start, want.First, want.Last)
	case got.Captures != want.Captures || got.Unindexed != want.Unindexed || len(got.Failed) != len(want.Failed):
		return fmt.Sprintf("%d captures (%d unindexed, failed %q), want %d (%d, %q)", got.Captures, got.Unindexed, got.Failed, want.Captures, want.Unindexed, want.Failed)
	case !near(got.Packets, want.Packets) || !near(got.Bytes, want.Bytes):
		return "the indexes' buckets differ"
	case (got.Flows == nil) != (want.Flows == nil):
		return fmt.Sprintf("flows %v, want %v", got.Flows, want.Flows)
	case got.Flows != nil && (got.Flows.Records != want.Flows.Records || got.Flows.Files != want.Flows.Files ||
		!near(got.Flows.Packets, want.Flows.Packets) || !near(got.Flows.Bytes, want.Flows.Bytes)):
		return fmt.Sprintf("flows: %d records in %d files, want %d in %d, or their buckets differ", got.Flows.Records, got.Flows.Files, want.Flows.Records, want.Flows.Files)
	}
	return ""
}
