package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/cliflag"
	"github.com/fastcapa-go/fastcapa/internal/daemonsig"
	"github.com/fastcapa-go/fastcapa/objstore"
	"github.com/fastcapa-go/fastcapa/serve"
)

const serveUsage = `usage: pcapstore serve [options] STORE...

Answers queries over the stores (the sink's directories, any directories of
captures, or s3://BUCKET/PREFIX where a sink's s3: target uploads) over HTTP:

  POST /query                 Stenographer's query: a tcpdump expression with
                              "after TIME" / "before TIME" terms (RFC 3339, or
                              "3h ago"); the pcap streams as it is found.
                              Steno-Limit-Packets/-Bytes headers limit it.
                              With Content-Type application/json: Metron's fields.
  GET  /query?q=EXPR&start=T&end=T   the same, for a browser's download
  POST /api/v1/pcap/fixed     Metron's REST jobs: fixed and expression (tcpdump
  POST /api/v1/pcap/query     syntax, not Stellar) queries into pages on disk
  GET  /api/v1/pcap[?state=S] the user's jobs
  GET  /api/v1/pcap/ID        status; /ID/raw?page=N a page (from 1); /ID/config
  DELETE /api/v1/pcap/kill/ID
  GET  /                      a web page: the traffic over time, a query box, the
                              count, top talkers and conversations, the download

A streamed answer ends with the trailers Pcapstore-Status (complete, limited,
incomplete, failed) and Pcapstore-Summary (JSON, naming the captures that
could not be read); without them it was cut short.

options:
  -listen ADDR          address to listen on (default 127.0.0.1:9460)
  -htpasswd FILE        HTTP Basic users: user:bcrypt-hash lines (htpasswd -B)
  -tokens FILE          bearer tokens: name:sha256-hex lines
                        (printf %s "$TOKEN" | sha256sum)
  -tls-cert FILE, -tls-key FILE   serve HTTPS with this certificate
  -tls-client-ca FILE   require client certificates signed by this CA; the
                        certificate's common name is the user
  -no-auth              serve a non-loopback address without credentials
  -jobs-dir DIR         the jobs' pages and status (default $STATE_DIRECTORY/jobs,
                        else ~/.cache/pcapstore/jobs)
  -page-size N          packets per job page (default 10000)
  -job-limit N          running jobs per user (default 1, Metron's)
  -job-retention D      how long finished jobs are kept (default 24h)
  -workers N            files each query scans at once (default: CPUs)
  -flows DIR            flow records pcapstore records -out wrote (repeatable):
                        the page's histogram is drawn from them too
  -peer URL             another pcapstore serve (repeatable): every query is sent
                        to it too, and the answers merged in time order; a peer
                        that fails makes the answer incomplete, naming it
  -s3-endpoint HOST[:PORT], -s3-tls, -s3-region R (default us-east-1)
                        the object store of s3:// stores; the keys are
                        $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY
  -peer-token-file FILE, -peer-user USER ($PCAPSTORE_PEER_PASSWORD),
  -peer-ca FILE, -peer-cert FILE, -peer-key FILE   how to reach the peers
  -log-level L          debug, info, warn or error; -log-json for JSON lines

Every request is logged on stderr with who asked what and how it ended.
Exit status: 0 stopped by a signal, 1 a runtime failure, 2 bad usage.
`

func runServe(args []string) int {
	fs := flag.NewFlagSet("pcapstore serve", flag.ContinueOnError)
	fs.Usage = func() { io.WriteString(os.Stderr, serveUsage) }
	var stores cliflag.List
	fs.Var(&stores, "store", "")
	listen := fs.String("listen", "127.0.0.1:9460", "")
	htpasswd := fs.String("htpasswd", "", "")
	tokens := fs.String("tokens", "", "")
	tlsCert := fs.String("tls-cert", "", "")
	tlsKey := fs.String("tls-key", "", "")
	clientCA := fs.String("tls-client-ca", "", "")
	noAuth := fs.Bool("no-auth", false, "")
	jobsDir := fs.String("jobs-dir", "", "")
	pageSize := fs.Int("page-size", 10000, "")
	jobLimit := fs.Int("job-limit", 1, "")
	retention := fs.Duration("job-retention", 24*time.Hour, "")
	workers := fs.Int("workers", 0, "")
	var peers, flows cliflag.List
	fs.Var(&peers, "peer", "")
	fs.Var(&flows, "flows", "")
	peerToken := fs.String("peer-token-file", "", "")
	peerUser := fs.String("peer-user", "", "")
	peerCA := fs.String("peer-ca", "", "")
	peerCert := fs.String("peer-cert", "", "")
	peerKey := fs.String("peer-key", "", "")
	s3Endpoint := fs.String("s3-endpoint", "", "")
	s3TLS := fs.Bool("s3-tls", false, "")
	s3Region := fs.String("s3-region", "us-east-1", "")
	logLevel := fs.String("log-level", "info", "")
	logJSON := fs.Bool("log-json", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "pcapstore serve: "+format+"\n", a...)
		return 2
	}
	stores = append(stores, fs.Args()...)
	if len(stores) == 0 {
		return fail("name the stores to serve (pcapstore serve -h)")
	}
	if *pageSize < 1 || *jobLimit < 1 || *retention <= 0 || *workers < 0 {
		return fail("-page-size and -job-limit take a number ≥ 1, -job-retention a duration > 0, -workers ≥ 0")
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return fail("give -tls-cert and -tls-key together")
	}
	if *clientCA != "" && *tlsCert == "" {
		return fail("-tls-client-ca needs HTTPS: give -tls-cert and -tls-key")
	}
	log, err := newSinkLogger(*logLevel, *logJSON)
	if err != nil {
		return fail("-log-level: %v", err)
	}
	auth, err := serve.LoadAuth(*htpasswd, *tokens, *clientCA != "")
	if err != nil {
		return fail("%v", err)
	}
	if err := serve.CheckListen(*listen, auth, *noAuth); err != nil {
		return fail("%v", err)
	}
	if *jobsDir == "" {
		*jobsDir = defaultJobsDir()
	}
	var local []string
	var buckets []serve.Bucket
	for _, st := range stores {
		rest, ok := strings.CutPrefix(st, "s3://")
		if !ok {
			local = append(local, st)
			continue
		}
		if *s3Endpoint == "" {
			return fail("%s: give the object store's -s3-endpoint", st)
		}
		bucket, prefix, _ := strings.Cut(rest, "/")
		r, err := objstore.NewReader(objstore.Spec{Endpoint: *s3Endpoint, TLS: *s3TLS, Region: *s3Region,
			Bucket: bucket, Prefix: prefix, Credentials: objstore.Credentials{FromEnv: true}, Logger: log})
		if err != nil {
			return fail("%s: %v", st, err)
		}
		defer r.Close()
		buckets = append(buckets, serve.Bucket{Name: st, Reader: r})
	}
	pc := serve.Client{User: *peerUser, Password: os.Getenv("PCAPSTORE_PEER_PASSWORD")}
	if *peerToken != "" {
		b, err := os.ReadFile(*peerToken)
		if err != nil {
			return fail("-peer-token-file: %v", err)
		}
		pc.Token = strings.TrimSpace(string(b))
	}
	if *peerCA != "" || *peerCert != "" {
		tc, err := serve.ClientTLS(*peerCA, *peerCert, *peerKey)
		if err != nil {
			return fail("%v", err)
		}
		pc.HTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}
	}
	var ps []serve.Peer
	for _, u := range peers {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return fail("-peer %q: give its URL, http://HOST:PORT or https://…", u)
		}
		c := pc
		c.URL = u
		ps = append(ps, serve.Peer{URL: u, Client: &c})
	}
	s, err := serve.New(serve.Config{
		Stores: local, Buckets: buckets, Flows: flows, Auth: auth, Workers: *workers, Log: log, Peers: ps,
		Jobs: serve.JobsConfig{Dir: *jobsDir, PageSize: *pageSize, Limit: *jobLimit, Retention: *retention},
	})
	if err != nil {
		return fail("%v", err)
	}
	defer s.Close()
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	if *tlsCert != "" {
		if srv.TLSConfig, err = serve.ServerTLS(*tlsCert, *tlsKey, *clientCA); err != nil {
			return fail("%v", err)
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fail("%v", err)
	}
	ctx, stop := daemonsig.Notify(log, nil)
	defer stop()
	scheme := "http"
	if srv.TLSConfig != nil {
		scheme = "https"
	}
	log.Info("serving", "url", scheme+"://"+ln.Addr().String(), "stores", []string(stores), "peers", []string(peers), "jobs", *jobsDir,
		"auth", authNote(auth, *clientCA != ""))
	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		log.Error("serve", "err", err)
		return 1
	case <-ctx.Done():
	}
	// Answers in flight get a few seconds to end; then they are cut (a
	// client sees no trailers: a cut answer).
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	log.Info("stopped")
	return 0
}

// defaultJobsDir is where jobs go without -jobs-dir: systemd's state
// directory, else the user's cache.
func defaultJobsDir() string {
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		return filepath.Join(d, "jobs")
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "pcapstore", "jobs")
	}
	return filepath.Join(os.TempDir(), "pcapstore-jobs")
}

// authNote says who may ask, for the start-up line.
func authNote(a *serve.Auth, certs bool) string {
	switch {
	case a.Open():
		return "none: anyone who reaches the address"
	case certs:
		return "client certificates (and any tokens or passwords)"
	}
	return "tokens or passwords"
}
