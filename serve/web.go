package serve

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/fastcapa-go/fastcapa/index"
	"github.com/fastcapa-go/fastcapa/objstore"
	"github.com/fastcapa-go/fastcapa/packet"
	"github.com/fastcapa-go/fastcapa/pcap"
	"github.com/fastcapa-go/fastcapa/query"
	"github.com/fastcapa-go/fastcapa/records"
)

// The web page: plain HTML and JavaScript, embedded, no build step.
//
//go:embed web
var webFiles embed.FS

func (s *Server) webRoutes() {
	sub, _ := fs.Sub(webFiles, "web")
	s.mux.Handle("GET /", http.FileServerFS(sub))
	s.mux.HandleFunc("GET /api/histogram", s.histogram)
	s.mux.HandleFunc("GET /api/validate", s.validate)
	s.mux.HandleFunc("GET /api/summary", s.summary)
}

// webRequest reads the page's query: q (Stenographer's form), start and
// end, as GET /query reads them.
func (s *Server) webRequest(r *http.Request) (query.Request, error) {
	return s.textRequest(r, r.URL.Query().Get("q"))
}

// validate answers whether q compiles: 200 with the expression as read,
// or 400 with the parser's message.
func (s *Server) validate(w http.ResponseWriter, r *http.Request) {
	req, err := s.webRequest(r)
	if err == nil {
		err = req.Validate()
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"expr": req.Expr, "start": timeOrNil(req.Start), "end": timeOrNil(req.End)})
}

func timeOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// Histogram is packets and bytes over time, in equal buckets.
type Histogram struct {
	Start time.Time `json:"start"` // of the first bucket
	Step  int64     `json:"stepNs"`
	// First and Last are the first and last packet times the stores know
	// of (their indexes, else their flow records), when they know any:
	// the range a histogram without start and end covers.
	First *time.Time `json:"first,omitempty"`
	Last  *time.Time `json:"last,omitempty"`
	// From the sidecar indexes: each capture's packets and size spread
	// evenly over its time range. Unindexed captures are not in it.
	Series
	Captures  int `json:"captures"`
	Unindexed int `json:"unindexed"`
	// Flows is the same buckets from the flow records of Config.Flows,
	// when there are any: each record's packets and bytes (on the wire)
	// spread evenly over its first to last packet. A flow record spans
	// seconds to its active timeout where a capture spans minutes, so it
	// shows more detail; it counts the traffic `pcapstore records` read,
	// which need not be what the stores keep now.
	Flows *FlowSeries `json:"flows,omitempty"`
	// Failed are the peers (Config.Peers) that did not answer, "URL:
	// error": their stores are not in it.
	Failed []string `json:"failed"`
}

// Series is packets and bytes in a histogram's buckets.
type Series struct {
	Packets []float64 `json:"packets"`
	Bytes   []float64 `json:"bytes"`
}

// FlowSeries is a histogram's buckets from flow records.
type FlowSeries struct {
	Series
	Records int64    `json:"records"` // flow records in the range
	Files   int      `json:"files"`   // flows files read
	Failed  []string `json:"failed"`  // "PATH: error" of each file that could not be read
}

// spread adds packets and bytes seen evenly over [first, last] (one
// instant when equal) to the buckets of step ns from lo, clipped to
// them.
func (s *Series) spread(lo, step, first, last int64, packets, bytes float64) {
	n := int64(len(s.Packets))
	width := float64(last - first + 1)
	for b := max((first-lo)/step, 0); b < n; b++ {
		from, to := lo+b*step, lo+(b+1)*step-1
		if from > last {
			break
		}
		overlap := float64(min(to, last) - max(from, first) + 1)
		if overlap <= 0 {
			continue
		}
		s.Packets[b] += packets * overlap / width
		s.Bytes[b] += bytes * overlap / width
	}
}

// add adds o's buckets, which are the same as s's, to s.
func (s *Series) add(o Series) {
	for i := range min(len(s.Packets), len(o.Packets), len(o.Bytes)) {
		s.Packets[i] += o.Packets[i]
		s.Bytes[i] += o.Bytes[i]
	}
}

func newSeries(n int) Series {
	return Series{Packets: make([]float64, n), Bytes: make([]float64, n)}
}

// histogram is the stores' traffic over time from their sidecar
// indexes, without reading a capture, and from the flow records:
// ?start=&end= (default: all the indexes cover, else all the flow
// records do), ?buckets=N (default 120); ?bounds: only First and Last,
// of this server's stores. Unless a peer asked, the peers' histograms
// over the same buckets are added, and a peer that does not answer is
// named in Failed.
func (s *Server) histogram(w http.ResponseWriter, r *http.Request) {
	var req query.Request
	if err := urlParams(r, &req); err != nil {
		badRequest(w, err)
		return
	}
	n, _ := strconv.Atoi(r.URL.Query().Get("buckets"))
	if n <= 0 || n > 2000 {
		n = 120
	}
	ctx := r.Context()
	local, err := s.localSpans(ctx)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if r.URL.Query().Has("bounds") {
		// What a server asks its peers first: this one's range alone,
		// without reading the flow records over it.
		h := Histogram{Failed: []string{}}
		h.First, h.Last = local.times()
		writeJSON(w, http.StatusOK, h)
		return
	}
	all := local.bounds       // every host's data
	failed := map[int]error{} // peers that did not answer
	fanout := s.fanout(r, "")
	if fanout && (req.Start.IsZero() || req.End.IsZero()) {
		// The range is every host's: their bounds first.
		for i, ph := range s.peerHistograms(ctx, url.Values{"bounds": {"1"}}, failed) {
			if ph.err != nil {
				failed[i] = ph.err
				continue
			}
			all.addTimes(ph.First, ph.Last)
		}
	}
	lo, hi := all.first, all.last
	if !req.Start.IsZero() {
		lo = req.Start.UnixNano()
	}
	if !req.End.IsZero() {
		hi = req.End.UnixNano()
	}
	h := s.bucketize(ctx, local, lo, hi, n)
	if fanout {
		q := url.Values{"buckets": {strconv.Itoa(n)},
			"start": {time.Unix(0, lo).UTC().Format(time.RFC3339Nano)},
			"end":   {time.Unix(0, hi).UTC().Format(time.RFC3339Nano)}}
		for i, ph := range s.peerHistograms(ctx, q, failed) {
			if ph.err == nil && (!ph.Start.Equal(h.Start) || ph.Step != h.Step || len(ph.Packets) != n) {
				ph.err = fmt.Errorf("answered buckets of %d ns from %v, not %d from %v", ph.Step, ph.Start, h.Step, h.Start)
			}
			if ph.err != nil {
				failed[i] = ph.err
				continue
			}
			h.merge(&ph.Histogram)
			all.addTimes(ph.First, ph.Last)
		}
	}
	h.First, h.Last = all.times()
	for i, p := range s.cfg.Peers {
		if err := failed[i]; err != nil {
			h.Failed = append(h.Failed, p.URL+": "+err.Error())
		}
	}
	writeJSON(w, http.StatusOK, h)
}

// merge adds another host's histogram over the same buckets to h, but
// for its First and Last.
func (h *Histogram) merge(o *Histogram) {
	h.add(o.Series)
	h.Captures += o.Captures
	h.Unindexed += o.Unindexed
	h.Failed = append(h.Failed, o.Failed...)
	if o.Flows == nil {
		return
	}
	if h.Flows == nil {
		h.Flows = &FlowSeries{Series: newSeries(len(h.Packets)), Failed: []string{}}
	}
	h.Flows.add(o.Flows.Series)
	h.Flows.Records += o.Flows.Records
	h.Flows.Files += o.Flows.Files
	h.Flows.Failed = append(h.Flows.Failed, o.Flows.Failed...)
}

// peerHistogram is a peer's histogram, or why there is none.
type peerHistogram struct {
	Histogram
	err error
}

// peerHistograms asks every peer but those that failed already for its
// own histogram (?q), at once; the others' are left empty.
func (s *Server) peerHistograms(ctx context.Context, q url.Values, failed map[int]error) []peerHistogram {
	out := make([]peerHistogram, len(s.cfg.Peers))
	var wg sync.WaitGroup
	for i, p := range s.cfg.Peers {
		if failed[i] != nil {
			out[i].err = failed[i]
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].err = p.Client.Histogram(ctx, q, &out[i].Histogram)
		}()
	}
	wg.Wait()
	return out
}

// span is a capture's time range and its packets and bytes.
type span struct {
	first, last, packets, bytes int64
}

// bounds are the first and last packet times of some traffic, if any
// is known.
type bounds struct {
	first, last int64
	known       bool
}

func (b *bounds) add(first, last int64) {
	if !b.known || first < b.first {
		b.first = first
	}
	if !b.known || last > b.last {
		b.last = last
	}
	b.known = true
}

func (b *bounds) addTimes(first, last *time.Time) {
	if first != nil && last != nil {
		b.add(first.UnixNano(), last.UnixNano())
	}
}

// times are the bounds as a Histogram says them: nil when unknown.
func (b bounds) times() (first, last *time.Time) {
	if !b.known {
		return nil, nil
	}
	f, l := time.Unix(0, b.first).UTC(), time.Unix(0, b.last).UTC()
	return &f, &l
}

// spans are what the local stores' indexes say of traffic over time,
// and the range they cover, else the flow records' range.
type spans struct {
	bounds
	spans               []span
	captures, unindexed int
}

// spanCache keeps what a histogram takes of each bucket object's sidecar
// index (its time range and packets), so that the page does not fetch
// every sidecar again each time it draws: an entry serves while the
// listing gives the object the same size and its sidecar the same key
// and ETag, and is dropped once a listing no longer has the object.
// Local sidecars are read each time (a file read, not a request).
type spanCache struct {
	mu sync.Mutex
	m  map[string]cachedSpan // by the object's URL
}

type cachedSpan struct {
	listed objstore.Stored // the object and its sidecar as listed
	span
}

// get is url's span if the cache has it for the object as listed.
func (c *spanCache) get(url string, listed objstore.Stored) (span, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[url]
	return e.span, ok && e.listed == listed
}

func (c *spanCache) put(url string, listed objstore.Stored, sp span) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedSpan{}
	}
	c.m[url] = cachedSpan{listed, sp}
}

// keep drops the entries of objects a listing no longer has.
func (c *spanCache) keep(listed map[string]bucketObject) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for url := range c.m {
		if _, ok := listed[url]; !ok {
			delete(c.m, url)
		}
	}
}

// spanOf is f's span from its sidecar index: a bucket object's from the
// cache while the listing says the same of it.
func (s *Server) spanOf(f query.Found, objs objects, load query.IndexOf) (span, error) {
	obj, inBucket := objs.stored[f.Path]
	if inBucket {
		if c, ok := s.spans.get(f.Path, obj.Stored); ok {
			return c, nil
		}
	}
	ix, err := load(f.Path)
	if err != nil {
		return span{}, err
	}
	c := span{ix.First, ix.Last, ix.Packets, f.Size}
	if inBucket {
		s.spans.put(f.Path, obj.Stored, c)
	}
	return c, nil
}

// localSpans reads the local stores' and buckets' sidecar indexes.
func (s *Server) localSpans(ctx context.Context) (spans, error) {
	var sp spans
	found, _, err := query.Walk(s.stores, nil)
	if err != nil {
		return sp, err
	}
	objs := s.listBuckets(ctx)
	found = append(found, objs.sources...)
	load := objs.indexOf(ctx)
	if load == nil {
		load = index.Load
	}
	for _, f := range found {
		if f.Err != nil {
			continue
		}
		c, err := s.spanOf(f, objs, load)
		if err != nil {
			sp.unindexed++
			continue
		}
		sp.captures++
		if c.packets == 0 {
			continue
		}
		sp.spans = append(sp.spans, c)
		sp.add(c.first, c.last)
	}
	s.spans.keep(objs.stored)
	if !sp.known {
		sp.bounds = s.flowsBounds(ctx)
	}
	return sp, nil
}

// bucketize is the local histogram of n buckets from lo to (at least)
// hi.
func (s *Server) bucketize(ctx context.Context, sp spans, lo, hi int64, n int) Histogram {
	h := Histogram{Series: newSeries(n), Captures: sp.captures, Unindexed: sp.unindexed, Failed: []string{}}
	h.Step = max((hi-lo+1+int64(n)-1)/int64(n), 1)
	h.Start = time.Unix(0, lo).UTC()
	for _, c := range sp.spans {
		h.spread(lo, h.Step, c.first, c.last, float64(c.packets), float64(c.bytes))
	}
	if len(s.cfg.Flows) == 0 {
		return h
	}
	fs := &FlowSeries{Series: newSeries(n), Failed: []string{}}
	for _, dir := range s.cfg.Flows {
		rd, err := records.ReadFlowSpans(ctx, dir, lo, lo+int64(n)*h.Step-1, func(f records.FlowSpan) {
			fs.spread(lo, h.Step, f.First, f.Last, float64(f.OrigPackets+f.RespPackets), float64(f.OrigBytes+f.RespBytes))
		})
		fs.Records += rd.Spans
		fs.Files += rd.Files
		for _, e := range rd.Failed {
			fs.Failed = append(fs.Failed, e.Error())
		}
		if err != nil {
			fs.Failed = append(fs.Failed, err.Error())
		}
	}
	h.Flows = fs
	return h
}

// flowsBounds is the time the flow records span: the first packet of
// the earliest and the last of the latest.
func (s *Server) flowsBounds(ctx context.Context) bounds {
	var b bounds
	for _, dir := range s.cfg.Flows {
		records.ReadFlowSpans(ctx, dir, math.MinInt64, math.MaxInt64, func(f records.FlowSpan) { b.add(f.First, f.Last) })
	}
	return b
}

// Talker is an address, or a conversation between two, and its packets
// and bytes.
type Talker struct {
	A       string `json:"a"`
	B       string `json:"b,omitempty"`
	Packets int64  `json:"packets"`
	Bytes   int64  `json:"bytes"`
}

// maxKeys bounds the addresses and conversations a summary counts;
// past it new ones are counted as others.
const maxKeys = 100_000

// tally counts a query's matches by address, conversation and time.
type tally struct {
	start, step int64
	buckets     []int64
	talkers     map[netip.Addr]*Talker
	convs       map[[2]netip.Addr]*Talker
	others      int64
}

func (t *tally) add(rec pcap.Record) {
	if t.step > 0 {
		if b := (rec.Timestamp - t.start) / t.step; b >= 0 && b < int64(len(t.buckets)) {
			t.buckets[b]++
		}
	}
	s := packet.Decode(rec.Data)
	if !s.Src.IsValid() {
		return
	}
	n := int64(len(rec.Data))
	for _, a := range []netip.Addr{s.Src, s.Dst} {
		tk := t.talkers[a]
		if tk == nil {
			if len(t.talkers) >= maxKeys {
				t.others++
				continue
			}
			tk = &Talker{A: a.String()}
			t.talkers[a] = tk
		}
		tk.Packets++
		tk.Bytes += n
	}
	k := [2]netip.Addr{s.Src, s.Dst}
	if k[1].Less(k[0]) {
		k[0], k[1] = k[1], k[0]
	}
	c := t.convs[k]
	if c == nil {
		if len(t.convs) >= maxKeys {
			return
		}
		c = &Talker{A: k[0].String(), B: k[1].String()}
		t.convs[k] = c
	}
	c.Packets++
	c.Bytes += n
}

// top is the n largest by bytes.
func top[K comparable](m map[K]*Talker, n int) []Talker {
	out := make([]Talker, 0, len(m))
	for _, t := range m {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b Talker) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), cmp.Compare(b.Packets, a.Packets), cmp.Compare(a.A, b.A), cmp.Compare(a.B, b.B))
	})
	return out[:min(n, len(out))]
}

// summary runs the page's query and streams its progress, then its
// result, as JSON lines: {"progress":…} about every 200 ms, then
// {"done":…} with the count, the top talkers and conversations and the
// matches over time (?buckets=N between start and end), or {"error":…}.
// A query that is wrong is a 400 before any line.
func (s *Server) summary(w http.ResponseWriter, r *http.Request) {
	e := entryOf(r)
	req, err := s.webRequest(r)
	var spec query.Spec
	if err == nil {
		spec, err = s.spec(r.Context(), req, s.stores, false, s.fanout(r, ""))
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	e.query = describe(req)
	n, _ := strconv.Atoi(r.URL.Query().Get("buckets"))
	t := &tally{talkers: map[netip.Addr]*Talker{}, convs: map[[2]netip.Addr]*Talker{}}
	if !req.Start.IsZero() && !req.End.IsZero() && n > 0 && n <= 2000 {
		t.start = req.Start.UnixNano()
		t.step = max((req.End.UnixNano()-t.start+int64(n))/int64(n), 1)
		t.buckets = make([]int64, n)
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	rc := http.NewResponseController(w)
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	line := func(v any) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(v)
		rc.Flush()
	}
	spec.Progress = func(p query.Progress) { line(map[string]any{"progress": p}) }
	st, err := query.Run(r.Context(), spec, func(rec pcap.Record) error { t.add(rec); return nil })
	sum := summaryOf(st, err)
	e.result, e.packets = sum.Status, st.Matched
	if errors.Is(err, query.ErrNoCaptures) {
		err = nil
	}
	if r.Context().Err() != nil {
		e.result = "client gone"
		return
	}
	done := map[string]any{
		"summary": sum, "talkers": top(t.talkers, 10), "conversations": top(t.convs, 10), "others": t.others,
	}
	if t.step > 0 {
		done["histogram"] = map[string]any{"start": time.Unix(0, t.start).UTC(), "stepNs": t.step, "packets": t.buckets}
	}
	line(map[string]any{"done": done})
}
