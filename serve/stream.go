package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fastcapa-go/fastcapa/query"
)

// The trailers that end a streamed answer. A client that does not get
// them got a cut answer.
const (
	// StatusTrailer is Summary.Status.
	StatusTrailer = "Pcapstore-Status"
	// SummaryTrailer is the Summary as JSON.
	SummaryTrailer = "Pcapstore-Summary"
)

// How a streamed answer ended (Summary.Status).
const (
	Complete   = "complete"   // every capture searched
	Limited    = "limited"    // a packet or byte limit stopped it: more may match
	Incomplete = "incomplete" // some captures (or hosts) could not be read: named
	Failed     = "failed"     // the query stopped on an error: Summary.Error
)

// Summary is how a streamed answer ended, sent as its trailer.
type Summary struct {
	Status       string `json:"status"`
	Matched      int64  `json:"matched"`
	MatchedBytes int64  `json:"matchedBytes"`
	Packets      int64  `json:"packets"` // read
	Captures     int    `json:"captures"`
	Scanned      int    `json:"scanned"`
	Pruned       int    `json:"pruned"`
	// Failed names each capture that could not be read whole (failed,
	// or cut short), with why.
	Failed []Failure `json:"failed,omitempty"`
	Error  string    `json:"error,omitempty"`
}

// Failure is a capture (or host) an answer lacks, and why.
type Failure struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// summaryOf is the Summary of a query's Stats and error.
func summaryOf(st query.Stats, err error) Summary {
	s := Summary{
		Status: Complete, Matched: st.Matched, MatchedBytes: st.MatchedBytes, Packets: st.Packets,
		Captures: st.Captures, Scanned: st.Scanned, Pruned: st.Pruned,
	}
	for _, f := range st.Failed {
		s.Failed = append(s.Failed, Failure{f.Path, f.Err.Error()})
	}
	for _, f := range st.Truncated {
		s.Failed = append(s.Failed, Failure{f.Path, "cut short: " + f.Err.Error()})
	}
	switch {
	case err == nil || errors.Is(err, query.ErrNoCaptures):
		if st.Limited {
			s.Status = Limited
		}
	case errors.Is(err, query.ErrIncomplete):
		s.Status = Incomplete
	default:
		s.Status, s.Error = Failed, err.Error()
	}
	return s
}

// maxQueryBody bounds a query's request body.
const maxQueryBody = 1 << 20

// streamRequest reads a streaming query: GET /query?q=…, POST /query
// with a Stenographer query as text, or with Params as JSON; the URL's
// start, end, vlan, limit_packets and limit_bytes, and Stenographer's
// Steno-Limit-Packets and Steno-Limit-Bytes headers, apply to the text
// forms (the limits to every form; the smaller limit wins).
func (s *Server) streamRequest(r *http.Request) (req query.Request, paths []string, basePath string, err error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Method == http.MethodPost && ct == "application/json" {
		b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxQueryBody))
		if err != nil {
			return req, nil, "", fmt.Errorf("%w: body: %v", query.ErrSpec, err)
		}
		p, err := DecodeParams(b)
		if err != nil {
			return req, nil, "", err
		}
		if req, err = p.Request(); err != nil {
			return req, nil, "", err
		}
		basePath = p.BasePath
	} else {
		text := r.URL.Query().Get("q")
		if r.Method == http.MethodPost {
			b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxQueryBody))
			if err != nil {
				return req, nil, "", fmt.Errorf("%w: body: %v", query.ErrSpec, err)
			}
			text = string(b)
		}
		if req, err = s.textRequest(r, text); err != nil {
			return req, nil, "", err
		}
	}
	for _, l := range []struct {
		v             *int64
		header, param string
	}{
		{&req.MaxPackets, "Steno-Limit-Packets", "limit_packets"},
		{&req.MaxBytes, "Steno-Limit-Bytes", "limit_bytes"},
	} {
		for _, v := range []string{r.Header.Get(l.header), r.URL.Query().Get(l.param)} {
			if v == "" {
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return req, nil, "", fmt.Errorf("%w: %s %q: give a number ≥ 0", query.ErrSpec, l.header, v)
			}
			if n > 0 && (*l.v == 0 || n < *l.v) {
				*l.v = n
			}
		}
	}
	paths, err = s.paths(basePath)
	return req, paths, basePath, err
}

// textRequest reads a query in Stenographer's form with the URL's
// start, end and vlan: POST /query's text, GET /query's and the page's q.
func (s *Server) textRequest(r *http.Request, text string) (query.Request, error) {
	req, err := ParseSteno(text, s.cfg.Now())
	if err == nil {
		err = urlParams(r, &req)
	}
	return req, err
}

// urlParams reads start, end and vlan from the URL into req: a time is
// RFC 3339 or milliseconds since the epoch; both are inclusive, and
// narrow what the query's own before/after terms say.
func urlParams(r *http.Request, req *query.Request) error {
	q := r.URL.Query()
	for _, t := range []struct {
		name  string
		v     *time.Time
		later bool
	}{{"start", &req.Start, true}, {"end", &req.End, false}} {
		v := q.Get(t.name)
		if v == "" {
			continue
		}
		at, err := parseURLTime(v)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", query.ErrSpec, t.name, err)
		}
		if t.v.IsZero() || t.later == at.After(*t.v) {
			*t.v = at
		}
	}
	if v := q.Get("vlan"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%w: vlan %q: give true or false", query.ErrSpec, v)
		}
		req.MatchVLAN = b
	}
	return nil
}

// parseURLTime reads an RFC 3339 time or epoch milliseconds.
func parseURLTime(v string) (time.Time, error) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return t, fmt.Errorf("%q: give an RFC 3339 time or milliseconds since the epoch", v)
	}
	return t, nil
}

// stream answers a streaming query with a pcap written as it is found.
// A query that is wrong is a 400 with its message, before any packet; an
// answer that started is 200 whatever follows, and its trailers say how
// it ended.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	e := entryOf(r)
	req, paths, basePath, err := s.streamRequest(r)
	if err != nil {
		badRequest(w, err)
		return
	}
	e.query = describe(req)
	spec, err := s.spec(r.Context(), req, paths, basePath != "", s.fanout(r, basePath))
	if err != nil {
		badRequest(w, err)
		return
	}
	p := &startWriter{w: w}
	out := query.NewStream(p, flushEvery, http.NewResponseController(w).Flush)
	st, err := query.RunTo(r.Context(), spec, out)
	e.packets = st.Matched
	switch {
	case !p.started && query.IsInvalid(err):
		badRequest(w, err)
		e.result = "invalid"
		return
	case !p.started && errors.Is(err, fs.ErrNotExist):
		http.Error(w, "a store is missing: "+err.Error(), http.StatusInternalServerError)
		e.result = Failed
		return
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		out.Close()
		e.result = "client gone"
		return
	}
	sum := summaryOf(st, err)
	e.result = sum.Status
	if ferr := out.Close(); ferr != nil { // the header of an empty capture, if none came
		e.result = "client gone"
		return
	}
	b, _ := json.Marshal(sum)
	w.Header().Set(StatusTrailer, sum.Status)
	w.Header().Set(SummaryTrailer, string(b))
}

// describe is a query for the log.
func describe(r query.Request) string {
	var b strings.Builder
	if r.Fixed != nil {
		f := r.Fixed
		fmt.Fprintf(&b, "fixed sa=%s da=%s sp=%s dp=%s p=%s ir=%t", f.SrcAddr, f.DstAddr, f.SrcPort, f.DstPort, f.Protocol, f.IncludeReverse)
	} else {
		fmt.Fprintf(&b, "%q", r.Expr)
	}
	if !r.Start.IsZero() {
		b.WriteString(" after " + r.Start.UTC().Format(time.RFC3339Nano))
	}
	if !r.End.IsZero() {
		b.WriteString(" until " + r.End.UTC().Format(time.RFC3339Nano))
	}
	if r.MaxPackets > 0 {
		fmt.Fprintf(&b, " limit_packets=%d", r.MaxPackets)
	}
	if r.MaxBytes > 0 {
		fmt.Fprintf(&b, " limit_bytes=%d", r.MaxBytes)
	}
	return b.String()
}

// flushEvery is how long a matched packet may wait in the buffer before
// it is sent: a slow, selective query still shows its packets as found.
const flushEvery = 100 * time.Millisecond

// startWriter starts the response at its first byte (the capture's
// header, written with the first record or at the end), so that an
// error before it can still be a 400.
type startWriter struct {
	w       http.ResponseWriter
	started bool
}

func (p *startWriter) Write(b []byte) (int, error) {
	if !p.started {
		p.started = true
		h := p.w.Header()
		h.Set("Content-Type", "application/vnd.tcpdump.pcap")
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="pcapstore-%s.pcap"`, time.Now().UTC().Format("20060102T150405Z")))
		h.Set("Trailer", StatusTrailer+", "+SummaryTrailer)
		h.Set("X-Content-Type-Options", "nosniff")
		p.w.WriteHeader(http.StatusOK)
	}
	return p.w.Write(b)
}
