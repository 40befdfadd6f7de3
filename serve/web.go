package serve

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/fastcapa-go/fastcapa/index"
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

func newSeries(n int) Series {
	return Series{Packets: make([]float64, n), Bytes: make([]float64, n)}
}

// histogram is the stores' traffic over time from their sidecar
// indexes, without reading a capture, and from the flow records:
// ?start=&end= (default: all the indexes cover, else all the flow
// records do), ?buckets=N (default 120).
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
	found, _, err := query.Walk(s.stores, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	objs := s.listBuckets(r.Context())
	found = append(found, objs.sources...)
	load := objs.indexOf(r.Context())
	if load == nil {
		load = index.Load
	}
	type span struct {
		first, last, packets, bytes int64
	}
	var spans []span
	h := Histogram{Series: newSeries(n)}
	lo, hi := int64(0), int64(0)
	for _, f := range found {
		if f.Err != nil {
			continue
		}
		ix, err := load(f.Path)
		if err != nil {
			h.Unindexed++
			continue
		}
		h.Captures++
		if ix.Packets == 0 {
			continue
		}
		spans = append(spans, span{ix.First, ix.Last, ix.Packets, f.Size})
		if lo == 0 || ix.First < lo {
			lo = ix.First
		}
		hi = max(hi, ix.Last)
	}
	if len(spans) == 0 && len(s.cfg.Flows) > 0 {
		lo, hi = s.flowsBounds(r.Context())
	}
	if !req.Start.IsZero() {
		lo = req.Start.UnixNano()
	}
	if !req.End.IsZero() {
		hi = req.End.UnixNano()
	}
	h.Step = max((hi-lo+1+int64(n)-1)/int64(n), 1)
	h.Start = time.Unix(0, lo).UTC()
	for _, sp := range spans {
		h.spread(lo, h.Step, sp.first, sp.last, float64(sp.packets), float64(sp.bytes))
	}
	if len(s.cfg.Flows) > 0 {
		fs := &FlowSeries{Series: newSeries(n), Failed: []string{}}
		for _, dir := range s.cfg.Flows {
			rd, err := records.ReadFlowSpans(r.Context(), dir, lo, lo+int64(n)*h.Step-1, func(f records.FlowSpan) {
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
	}
	writeJSON(w, http.StatusOK, h)
}

// flowsBounds is the time the flow records span: the first packet of
// the earliest and the last of the latest (0, 0 without any).
func (s *Server) flowsBounds(ctx context.Context) (lo, hi int64) {
	for _, dir := range s.cfg.Flows {
		records.ReadFlowSpans(ctx, dir, math.MinInt64, math.MaxInt64, func(f records.FlowSpan) {
			if lo == 0 && hi == 0 || f.First < lo {
				lo = f.First
			}
			hi = max(hi, f.Last)
		})
	}
	return lo, hi
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
