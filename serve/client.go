package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Client asks a pcapstore serve for packets.
type Client struct {
	// URL is the server's base URL: http://host:port or https://….
	URL string
	// HTTP is the client to use (its TLS configuration: ClientTLS);
	// nil: http.DefaultClient. It must not time out a whole answer.
	HTTP *http.Client
	// Token, or User and Password, are the credentials, if any.
	Token          string
	User, Password string
}

// HTTPError is a server's refusal: its status code and message.
type HTTPError struct {
	Code int
	Msg  string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Code, http.StatusText(e.Code), e.Msg)
}

// ErrCut is an answer that ended without the server's trailers: the
// connection broke, or the server stopped, part way.
var ErrCut = errors.New("the answer was cut short: the server did not say it was whole")

// Query streams the answer to p (POST /query) into w, and returns the
// server's Summary of it. An error is a refusal (*HTTPError), a cut
// answer (ErrCut: w holds what came), or w's or the connection's.
func (c *Client) Query(ctx context.Context, p Params, w io.Writer) (Summary, error) {
	a, err := c.Open(ctx, p, nil)
	if err != nil {
		return Summary{}, err
	}
	defer a.Close()
	ow := &outWriter{w: w}
	if _, err := io.Copy(ow, a); err != nil {
		switch {
		case ow.err != nil:
			return Summary{}, ow.err
		case ctx.Err() != nil:
			return Summary{}, ctx.Err()
		}
		return Summary{}, err
	}
	return a.Summary()
}

// Answer is a streamed answer being read: the pcap, then (Summary) how
// the server says it ended.
type Answer struct {
	resp *http.Response
	sum  Summary
	err  error // set at the end of the body: ErrCut, or the summary's
	done bool
}

// Open sends the query p (POST /query, with header's fields added) and
// returns its answer once the server has accepted it: a refusal is an
// *HTTPError.
func (c *Client) Open(ctx context.Context, p Params, header http.Header) (*Answer, error) {
	body, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	h := http.Header{"Content-Type": {"application/json"}}
	for k, v := range header {
		h[k] = v
	}
	resp, err := c.do(ctx, http.MethodPost, "/query", bytes.NewReader(body), h)
	if err != nil {
		return nil, err
	}
	return &Answer{resp: resp}, nil
}

// Histogram asks for the server's histogram (GET /api/histogram?q) of
// its own stores, as a peer: the fan-out header is set.
func (c *Client) Histogram(ctx context.Context, q url.Values, h *Histogram) error {
	resp, err := c.do(ctx, http.MethodGet, "/api/histogram?"+q.Encode(), nil, http.Header{FanoutHeader: {"1"}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(h); err != nil {
		return fmt.Errorf("histogram: %w", err)
	}
	return nil
}

// do sends a request to the server with c's credentials and returns its
// response when it is a 200; any other status is an *HTTPError.
func (c *Client) do(ctx context.Context, method, path string, body io.Reader, header http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.URL, "/")+path, body)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	switch {
	case c.Token != "":
		req.Header.Set("Authorization", "Bearer "+c.Token)
	case c.User != "":
		req.SetBasicAuth(c.User, c.Password)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, &HTTPError{resp.StatusCode, strings.TrimSpace(string(msg))}
	}
	return resp, nil
}

// Read reads the pcap. A connection that breaks is ErrCut.
func (a *Answer) Read(p []byte) (int, error) {
	n, err := a.resp.Body.Read(p)
	switch {
	case err == io.EOF:
		a.finish()
	case err != nil:
		return n, fmt.Errorf("%w (%v)", ErrCut, err)
	}
	return n, err
}

// finish reads the trailers, at the end of the body.
func (a *Answer) finish() {
	if a.done {
		return
	}
	a.done = true
	s := a.resp.Trailer.Get(SummaryTrailer)
	if s == "" {
		a.err = ErrCut
		return
	}
	if err := json.Unmarshal([]byte(s), &a.sum); err != nil {
		a.err = fmt.Errorf("the server's summary: %v", err)
	}
}

// Summary is how the server says the answer ended, once it was read to
// its end; ErrCut if the server did not say.
func (a *Answer) Summary() (Summary, error) {
	if !a.done {
		return a.sum, errors.New("the answer was not read to its end")
	}
	return a.sum, a.err
}

// Close ends the answer; before its end, that cancels the server's scan.
func (a *Answer) Close() error { return a.resp.Body.Close() }

// outWriter keeps the output's own error apart from the connection's.
type outWriter struct {
	w   io.Writer
	err error
}

func (o *outWriter) Write(b []byte) (int, error) {
	n, err := o.w.Write(b)
	if err != nil {
		o.err = fmt.Errorf("output: %w", err)
	}
	return n, err
}
