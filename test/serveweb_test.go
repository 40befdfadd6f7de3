package test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
	"github.com/fastcapa-go/fastcapa/serve"
)

// TestServeWebPage drives pcapstore serve's page in Debian's Chromium,
// headless, over a store the sink wrote and its flow records: the
// histogram draws from the flow records (TestServeHistogramFlows checks
// their numbers), the note says how many, and the range starts as the
// store's; a click on a bar
// picks its time range;
// a wrong query shows libpcap's message as it is typed, a right one is
// marked valid; Search shows the count, which is tcpdump's over that
// range, and the top talkers; Download saves one pcap, which holds
// exactly tcpdump's packets. The page is saved as out/serve-page.png.
func TestServeWebPage(t *testing.T) {
	chromium := testenv.RequireTool(t, "chromium")
	st := newServeStore(t)
	flows := t.TempDir()
	if msg, code := pcapstore(t, nil, "records", "-out", flows, st.dir); code != 0 {
		t.Fatalf("pcapstore records: %d: %s", code, msg)
	}
	_, base := startServe(t, "-jobs-dir", t.TempDir(), "-flows", flows, st.dir)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium),
		chromedp.NoSandbox, chromedp.WindowSize(1280, 900), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	downloads := t.TempDir()
	events := true
	err := chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads, EventsEnabled: &events})
			return err
		}),
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#histogram rect")),
	)
	if err != nil {
		t.Fatalf("loading the page: %v", err)
	}
	startValue := page(t, ctx, chromedp.Value(chromedp.ID("start")))
	bars := page(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#histogram rect").length`))
	source := page(t, ctx, chromedp.AttributeValue(chromedp.ID("histogram"), "data-source")).Value
	note := page(t, ctx, chromedp.Text(chromedp.ID("hist-note")))
	// The range: a click on the 40th bar zooms in to its time.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#histogram rect:nth-of-type(40)")),
		chromedp.WaitVisible(chromedp.CSS("#q.valid")),
	)
	if err != nil {
		t.Fatalf("picking a range: %v", err)
	}
	from := page(t, ctx, chromedp.Value(chromedp.ID("start")))
	to := page(t, ctx, chromedp.Value(chromedp.ID("end")))
	// A wrong query.
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("q"), "tcp and"),
		chromedp.WaitVisible(chromedp.CSS("#validation.error")),
	)
	if err != nil {
		t.Fatalf("typing: %v", err)
	}
	bad := page(t, ctx, chromedp.Text(chromedp.ID("validation")))
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("q"), " src port 80"),
		chromedp.WaitVisible(chromedp.CSS("#q.valid")),
	)
	if err != nil {
		t.Fatalf("typing: %v", err)
	}
	good := page(t, ctx, chromedp.Text(chromedp.ID("validation")))
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("search")),
		chromedp.WaitVisible(chromedp.CSS(`#count[data-search="1"]`)),
	)
	if err != nil {
		t.Fatalf("searching: %v", err)
	}
	matched := page(t, ctx, chromedp.AttributeValue(chromedp.ID("count"), "data-matched")).Value
	talker := page(t, ctx, chromedp.Evaluate[string](`document.querySelector("#talkers tbody td")?.textContent ?? ""`))
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#download:not(.disabled)"))); err != nil {
		t.Fatalf("download: %v", err)
	}
	wantStart := time.Unix(0, st.t0).UTC().Format("2006-01-02T15:04:05.000Z")
	if startValue != wantStart || bars != 120 {
		t.Errorf("on load: start %q (want %q), %d bars", startValue, wantStart, bars)
	}
	if source != "flows" || !regexp.MustCompile(`^from [1-9][0-9]* flow records in [1-9][0-9]* files?; [1-9][0-9]* indexed captures$`).MatchString(note) {
		t.Errorf("the histogram: drawn from %q, noted %q", source, note)
	}
	if !strings.Contains(bad, "syntax error") || !strings.Contains(good, "tcp and src port 80") {
		t.Errorf("validation: wrong query %q, right one %q", bad, good)
	}
	// The records in the range the page shows, both ends included.
	begin, err1 := time.Parse(time.RFC3339Nano, from)
	end, err2 := time.Parse(time.RFC3339Nano, to)
	if err1 != nil || err2 != nil {
		t.Fatalf("the range picked: %q–%q", from, to)
	}
	var inRange []pcap.Record
	for _, r := range st.recs {
		if r.Timestamp >= begin.UnixNano() && r.Timestamp <= end.UnixNano() {
			inRange = append(inRange, r)
		}
	}
	if len(inRange) == 0 || len(inRange) == len(st.recs) {
		t.Fatalf("the range picked, %s–%s, holds %d of %d records", from, to, len(inRange), len(st.recs))
	}
	rangeFile := filepath.Join(t.TempDir(), "range.pcap")
	pcaptest.WriteCapture(t, rangeFile, pcaptest.File{}, inRange)
	want := pcaptest.TcpdumpKeeps(t, rangeFile, "tcp and src port 80")
	if len(want) == 0 || len(want) == len(inRange) {
		t.Errorf("the query keeps %d of the %d packets in the range: it does not test the count", len(want), len(inRange))
	}
	if matched != strconv.Itoa(len(want)) || talker == "" {
		t.Errorf("the count: %s, tcpdump keeps %d; top talker %q", matched, len(want), talker)
	}

	// The download: one pcap, once Chromium has finished writing it.
	var file string
	for deadline := time.Now().Add(30 * time.Second); file == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ents, _ := os.ReadDir(downloads)
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".pcap") {
				file = filepath.Join(downloads, e.Name())
			}
		}
	}
	if file == "" {
		t.Fatal("no pcap downloaded")
	}
	sameRecords(t, "the downloaded pcap", pcaptest.TcpdumpKeeps(t, file, ""), want)

	// The whole store, the same query: the page as the README shows it.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("all")),
		chromedp.WaitVisible(chromedp.CSS("#q.valid")),
		chromedp.Click(chromedp.ID("search")),
		chromedp.WaitVisible(chromedp.CSS(`#count[data-search="2"]`)),
	)
	if err != nil {
		t.Fatalf("searching the whole store: %v", err)
	}
	if all := page(t, ctx, chromedp.AttributeValue(chromedp.ID("count"), "data-matched")).Value; all != strconv.Itoa(len(pcaptest.TcpdumpKeeps(t, st.src, "tcp and src port 80"))) {
		t.Errorf("the whole store: %s match", all)
	}
	png := page(t, ctx, chromedp.FullScreenshot(100))
	shot := filepath.Join(testenv.Root(), "out", "serve-page.png")
	os.MkdirAll(filepath.Dir(shot), 0o755)
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d of %d packets in the range %s–%s match; the page is in %s", len(want), len(inRange), from, to, shot)
}

// page runs a chromedp action that returns a value, failing the test on
// its error.
func page[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestServeSummaryTalkers: the page's top talkers and conversations are
// tshark's IPv4 endpoints and conversations of the matching packets
// (packets and bytes; conversations by frames, as tshark writes their
// bytes in units), over metron-example.pcap split in three captures.
func TestServeSummaryTalkers(t *testing.T) {
	store := queryStore(t)
	src := filepath.Join(testenv.Pcaps(t), "metron-example.pcap")
	_, base := startServe(t, "-jobs-dir", t.TempDir(), store)
	resp, err := http.Get(base + "/api/summary?" + url.Values{"q": {"tcp or udp"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var done struct {
		Talkers, Conversations []serve.Talker
		Summary                serve.Summary
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var line struct {
			Done *json.RawMessage `json:"done"`
		}
		if err := dec.Decode(&line); err != nil {
			t.Fatalf("no done line: %v", err)
		}
		if line.Done != nil {
			json.Unmarshal(*line.Done, &done)
			break
		}
	}
	tshark := func(stat string) []string {
		out, err := exec.Command(testenv.RequireTool(t, "tshark"), "-r", src, "-q", "-z", stat+",ip,tcp or udp").Output()
		if err != nil {
			t.Fatalf("tshark -z %s: %v", stat, err)
		}
		var rows []string
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) > 3 && net.ParseIP(f[0]) != nil {
				rows = append(rows, l)
			}
		}
		return rows
	}
	want := map[string]string{}
	for _, l := range tshark("endpoints") {
		f := strings.Fields(l)
		want[f[0]] = f[1] + " " + f[2]
	}
	if len(done.Talkers) != len(want) {
		t.Errorf("%d talkers, tshark %d", len(done.Talkers), len(want))
	}
	for _, tk := range done.Talkers {
		if got := fmt.Sprintf("%d %d", tk.Packets, tk.Bytes); want[tk.A] != got {
			t.Errorf("talker %s: %s, tshark %q", tk.A, got, want[tk.A])
		}
	}
	wantConv := map[string]string{}
	for _, l := range tshark("conv") {
		f := strings.Fields(l) // A <-> B frames bytes unit frames bytes unit total-frames …
		a, b := f[0], f[2]
		if net.ParseIP(b).String() < net.ParseIP(a).String() {
			a, b = b, a
		}
		wantConv[a+" "+b] = f[9]
	}
	for _, c := range done.Conversations {
		a, b := c.A, c.B
		if b < a {
			a, b = b, a
		}
		if wantConv[a+" "+b] != strconv.FormatInt(c.Packets, 10) {
			t.Errorf("conversation %s–%s: %d packets, tshark %q", c.A, c.B, c.Packets, wantConv[a+" "+b])
		}
	}
	if len(done.Conversations) != len(wantConv) || done.Summary.Matched == 0 {
		t.Errorf("%d conversations, tshark %d; %d matched", len(done.Conversations), len(wantConv), done.Summary.Matched)
	}
}

// TestServeHistogramFlows: with -flows, /api/histogram draws from the
// flow records `pcapstore records` wrote of the store as well. DuckDB,
// over the same files, is the oracle: the flows counted are those whose
// first to last packet touches the range; over the store's whole range
// the buckets add up to every flow's packets and bytes; each bucket
// holds at least the flows that lie within it and at most those that
// touch it; over a narrower range the buckets add up to each flow's
// share of it (spread evenly over its time). A flows file that cannot be
// read is named.
func TestServeHistogramFlows(t *testing.T) {
	st := newServeStore(t)
	out := t.TempDir()
	if msg, code := pcapstore(t, nil, "records", "-out", out, st.dir); code != 0 {
		t.Fatalf("pcapstore records: %d: %s", code, msg)
	}
	_, base := startServe(t, "-jobs-dir", t.TempDir(), "-flows", out, st.dir)
	histogram := func(q url.Values) serve.Histogram {
		t.Helper()
		h := getHistogram(t, base, q.Encode())
		if h.Flows == nil {
			t.Fatalf("histogram?%s: no flows", q.Encode())
		}
		return h
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	glob := out + "/flows/**/*.parquet"
	// sums are the flows touching [from, to]: how many, their packets and
	// bytes whole, and their share of [from, to].
	type sums struct {
		n                             int64
		packets, bytes, share, inside float64
	}
	flows := func(from, to int64) sums {
		t.Helper()
		var s sums
		err := db.QueryRow(`SELECT count(*), coalesce(sum(p), 0), coalesce(sum(b), 0),
				coalesce(sum(p * (least(last_ns, $3) - greatest(first_ns, $2) + 1) / (last_ns - first_ns + 1)), 0),
				coalesce(sum(p) FILTER (WHERE first_ns >= $2 AND last_ns <= $3), 0)
			FROM (SELECT *, orig_packets + resp_packets AS p, orig_bytes + resp_bytes AS b FROM read_parquet($1))
			WHERE last_ns >= $2 AND first_ns <= $3`, glob, from, to).Scan(&s.n, &s.packets, &s.bytes, &s.share, &s.inside)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-6*max(1, math.Abs(b)) }
	total := func(v []float64) (s float64) {
		for _, x := range v {
			s += x
		}
		return s
	}

	const n = 40
	h := histogram(url.Values{"buckets": {strconv.Itoa(n)}})
	lo := h.Start.UnixNano()
	hi := lo + n*h.Step - 1
	all := flows(lo, hi)
	every := flows(math.MinInt64/2, math.MaxInt64/2)
	if all.n == 0 || all != every || h.Flows.Records != all.n || len(h.Flows.Failed) > 0 {
		t.Fatalf("flows in the store's range: %d (DuckDB: %d there, %d in all); failed %v", h.Flows.Records, all.n, every.n, h.Flows.Failed)
	}
	if !near(total(h.Flows.Packets), all.packets) || !near(total(h.Flows.Bytes), all.bytes) {
		t.Errorf("whole range: %.3f packets, %.3f bytes; DuckDB %.0f, %.0f", total(h.Flows.Packets), total(h.Flows.Bytes), all.packets, all.bytes)
	}
	if st0 := time.Unix(0, st.t0).UTC(); !h.Start.Equal(st0) {
		t.Errorf("the range starts at %v, the store at %v", h.Start, st0)
	}
	busy := 0
	for b, v := range h.Flows.Packets {
		from := lo + int64(b)*h.Step
		s := flows(from, from+h.Step-1)
		if v < s.inside-1e-6 || v > s.packets+1e-6 {
			t.Errorf("bucket %d: %.3f packets, outside [%.0f, %.0f] (the flows within it, touching it)", b, v, s.inside, s.packets)
		}
		if v >= 1 {
			busy++
		}
	}
	if busy < n/2 {
		t.Errorf("%d of %d buckets hold a packet: the store's flows do not fill its range", busy, n)
	}

	// The middle third.
	from, to := lo+(hi-lo)/3, lo+2*(hi-lo)/3
	h = histogram(url.Values{"buckets": {strconv.Itoa(n)},
		"start": {time.Unix(0, from).UTC().Format(time.RFC3339Nano)}, "end": {time.Unix(0, to).UTC().Format(time.RFC3339Nano)}})
	to = h.Start.UnixNano() + n*h.Step - 1 // whole buckets
	mid := flows(from, to)
	if h.Start.UnixNano() != from || h.Flows.Records != mid.n || mid.n >= all.n || !near(total(h.Flows.Packets), mid.share) {
		t.Errorf("middle third from %v: %d flows, %.3f packets; DuckDB %d, %.3f (%d in all)", h.Start, h.Flows.Records, total(h.Flows.Packets), mid.n, mid.share, all.n)
	}

	// A damaged flows file is named; the others are read.
	files, _ := filepath.Glob(filepath.Join(out, "flows", "date=*", "hour=*", "*.parquet"))
	if len(files) == 0 {
		t.Fatal("no flows files")
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(files[0]), "cut.parquet"), b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	h = histogram(url.Values{"buckets": {strconv.Itoa(n)}})
	if len(h.Flows.Failed) != 1 || !strings.Contains(h.Flows.Failed[0], "cut.parquet") || h.Flows.Records != all.n {
		t.Errorf("with a cut file: failed %q, %d flows", h.Flows.Failed, h.Flows.Records)
	}
}
