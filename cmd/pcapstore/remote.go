package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/fastcapa-go/fastcapa/serve"
)

// remote runs the query on the pcapstore serve at -server, streaming its
// answer to -o, and reports as a local query does. Exit status: 0 done
// (also when a limit stopped it), 1 incomplete, cut short or failed, 2 a
// query the server refused as wrong, or bad usage.
func (o *queryOpts) remote(kind string, pos []string) int {
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "pcapstore query %s: "+format+"\n", append([]any{kind}, a...)...)
		return code
	}
	r, paths, err := o.request(kind, pos)
	if err != nil {
		return fail(2, "%v", err)
	}
	p := serve.ParamsOf(r)
	switch {
	case len(paths) > 1:
		return fail(2, "-server searches the server's stores: give at most one -bp (one of them, or a directory in one)")
	case len(paths) == 1:
		p.BasePath = paths[0]
	}
	if o.perFile > 0 {
		return fail(2, "-rpf: pages of a server's answer are its jobs' (POST /api/v1/pcap/…); write one capture with -o")
	}
	c := serve.Client{URL: o.server, Token: os.Getenv("PCAPSTORE_TOKEN"), User: o.user, Password: os.Getenv("PCAPSTORE_PASSWORD")}
	if o.tokenFile != "" {
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return fail(2, "-token-file: %v", err)
		}
		c.Token = strings.TrimSpace(string(b))
	}
	if strings.HasPrefix(o.server, "https:") || o.ca != "" || o.cert != "" {
		tc, err := serve.ClientTLS(o.ca, o.cert, o.key)
		if err != nil {
			return fail(2, "%v", err)
		}
		c.HTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}
	}
	out, err := o.output(nil)
	if err != nil {
		return fail(2, "%v", err)
	}
	var w io.Writer = os.Stdout
	if out.f != nil {
		w = out.f
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	began := time.Now()
	sum, err := c.Query(ctx, p, w)
	if out.f != nil {
		if cerr := out.f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("output: %w", cerr)
		}
	}
	var he *serve.HTTPError
	if errors.As(err, &he) {
		if out.path != "" {
			os.Remove(out.path)
		}
		if he.Code == http.StatusBadRequest {
			return fail(2, "%s", he.Msg)
		}
		return fail(1, "%s: %v", o.server, he)
	}
	if err != nil {
		return fail(1, "%s: %v: %s holds what came", o.server, err, out.where())
	}
	fmt.Fprintf(os.Stderr, "pcapstore query: %d packets (%s) matched of %d read, %d captures (%d scanned, %d pruned) on %s, in %.2f s → %s\n",
		sum.Matched, size(sum.MatchedBytes), sum.Packets, sum.Captures, sum.Scanned, sum.Pruned, o.server, time.Since(began).Seconds(), out.where())
	for _, f := range sum.Failed {
		fmt.Fprintf(os.Stderr, "pcapstore query: FAILED %s: %s\n", f.Path, f.Error)
	}
	switch sum.Status {
	case serve.Complete:
		return 0
	case serve.Limited:
		fmt.Fprintf(os.Stderr, "pcapstore query: stopped at the limit (-max-packets %d, -max-bytes %d): more packets may match\n", o.maxPackets, o.maxBytes)
		return 0
	case serve.Incomplete:
		fmt.Fprintf(os.Stderr, "pcapstore query: incomplete: %d captures could not be read whole (named above); the others were searched\n", len(sum.Failed))
		return 1
	}
	return fail(1, "the server's query failed: %s", sum.Error)
}
