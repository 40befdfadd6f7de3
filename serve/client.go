package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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
	var sum Summary
	body, err := json.Marshal(p)
	if err != nil {
		return sum, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.URL, "/")+"/query", bytes.NewReader(body))
	if err != nil {
		return sum, err
	}
	req.Header.Set("Content-Type", "application/json")
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
		return sum, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return sum, &HTTPError{resp.StatusCode, strings.TrimSpace(string(msg))}
	}
	ow := &outWriter{w: w}
	if _, err := io.Copy(ow, resp.Body); err != nil {
		switch {
		case ow.err != nil:
			return sum, ow.err
		case ctx.Err() != nil:
			return sum, ctx.Err()
		}
		return sum, fmt.Errorf("%w (%v)", ErrCut, err)
	}
	s := resp.Trailer.Get(SummaryTrailer)
	if s == "" {
		return sum, ErrCut
	}
	if err := json.Unmarshal([]byte(s), &sum); err != nil {
		return sum, fmt.Errorf("the server's summary: %v", err)
	}
	return sum, nil
}

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
