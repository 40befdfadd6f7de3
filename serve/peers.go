package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/fastcapa-go/fastcapa/query"
)

// FanoutHeader is set on the queries a server sends its peers: a peer
// answers from its own stores only, so that a query never goes round.
const FanoutHeader = "Pcapstore-Fanout"

// Peer is another pcapstore serve whose stores every query searches too
// (Config.Peers): its answer is merged with the local one in time order,
// and one that fails, is cut or says it is incomplete makes the whole
// answer incomplete, naming the peer.
type Peer struct {
	URL    string
	Client *Client // its URL is URL
}

// fanout reports whether r's query goes to the peers: not one a peer
// sent, nor one narrowed to a local basePath.
func (s *Server) fanout(r *http.Request, basePath string) bool {
	return len(s.cfg.Peers) > 0 && r.Header.Get(FanoutHeader) == "" && basePath == ""
}

// peerSources are the peers' answers to req, as a query's Sources.
func (s *Server) peerSources(req query.Request) []query.Found {
	p := ParamsOf(req)
	hdr := http.Header{FanoutHeader: {"1"}}
	var out []query.Found
	for _, peer := range s.cfg.Peers {
		out = append(out, query.Found{
			Path: peer.URL, Named: true, Stream: true,
			Open: func(ctx context.Context) (io.ReadCloser, error) {
				a, err := peer.Client.Open(ctx, p, hdr)
				if err != nil {
					return nil, err
				}
				return peerAnswer{a}, nil
			},
		})
	}
	return out
}

// peerAnswer is a peer's answer as a capture: its end is an error unless
// the peer says the answer is whole (complete, or limited).
type peerAnswer struct{ *Answer }

func (a peerAnswer) Read(p []byte) (int, error) {
	n, err := a.Answer.Read(p)
	if err != io.EOF {
		return n, err
	}
	sum, err := a.Summary()
	switch {
	case err != nil:
		return n, err
	case sum.Status == Incomplete:
		var names []string
		for _, f := range sum.Failed {
			names = append(names, f.Path+": "+f.Error)
		}
		return n, fmt.Errorf("incomplete there: %s", strings.Join(names, "; "))
	case sum.Status == Failed:
		return n, errors.New("failed there: " + sum.Error)
	}
	return n, io.EOF
}
