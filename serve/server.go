package serve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fastcapa-go/fastcapa/query"
)

// Config is what a Server serves and how.
type Config struct {
	// Stores are the directories (or capture files) queries search:
	// the sink's stores, or any directories of captures.
	Stores []string
	// Auth decides who asks (LoadAuth); nil: everyone is Anonymous.
	Auth *Auth
	// Workers is each query's Spec.Workers (0: GOMAXPROCS).
	Workers int
	// Peers are other servers every query is sent to as well (Peer).
	Peers []Peer
	// Buckets are stores in object stores, searched with Stores.
	Buckets []Bucket
	// Flows are the output directories of `pcapstore records` (or their
	// flows directories): the page's histogram is drawn from their flow
	// records too.
	Flows []string
	// Jobs configures Metron's REST jobs.
	Jobs JobsConfig
	// Log gets a line per request and per job; nil: slog.Default().
	Log *slog.Logger
	// Now is the clock (Stenographer's "3h ago"); nil: time.Now.
	Now func() time.Time
}

// Server answers the HTTP API. It is an http.Handler.
type Server struct {
	cfg    Config
	stores []string // absolute
	log    *slog.Logger
	mux    *http.ServeMux
	jobs   *jobs
	spans  spanCache
}

// New makes a Server, reading its jobs directory (Metron's jobs of an
// earlier run that were still running are failed: a restart ends
// them). Stores that do not exist are an error.
func New(cfg Config) (*Server, error) {
	if len(cfg.Stores) == 0 && len(cfg.Buckets) == 0 {
		return nil, errors.New("name at least one store to serve")
	}
	if cfg.Auth == nil {
		cfg.Auth = &Auth{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, log: cfg.Log, mux: http.NewServeMux()}
	for _, p := range cfg.Stores {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		s.stores = append(s.stores, abs)
	}
	for _, p := range cfg.Flows {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("flows: %w", err)
		}
	}
	j, err := newJobs(cfg.Jobs, s)
	if err != nil {
		return nil, err
	}
	s.jobs = j
	s.mux.HandleFunc("POST /query", s.stream)
	s.mux.HandleFunc("GET /query", s.stream)
	s.jobs.routes(s.mux)
	s.webRoutes()
	return s, nil
}

// Close kills the running jobs and waits for them.
func (s *Server) Close() { s.jobs.close() }

// ServeHTTP authenticates, logs and routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	began := time.Now()
	lw := &logWriter{ResponseWriter: w}
	e := &entry{}
	user, err := s.cfg.Auth.Identify(r)
	e.user = user
	if err != nil {
		w.Header().Set("WWW-Authenticate", s.cfg.Auth.challenge())
		http.Error(lw, "unauthorized: give a valid token, password or client certificate", http.StatusUnauthorized)
	} else {
		s.mux.ServeHTTP(lw, r.WithContext(context.WithValue(r.Context(), entryKey{}, e)))
	}
	attrs := []any{"user", user, "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path,
		"status", lw.status(), "bytes", lw.n.Load(), "took", time.Since(began).Round(time.Microsecond)}
	if user == "" {
		attrs[1] = "-"
	}
	if e.query != "" {
		attrs = append(attrs, "query", e.query)
	}
	if e.result != "" {
		attrs = append(attrs, "result", e.result, "packets", e.packets)
	}
	if e.job != "" {
		attrs = append(attrs, "job", e.job)
	}
	s.log.Info("request", attrs...)
}

// entry is what a handler adds to its request's log line.
type entry struct {
	user    string
	query   string // what was asked, as the server reads it
	job     string
	result  string // how a query ended
	packets int64
}

type entryKey struct{}

func entryOf(r *http.Request) *entry {
	if e, ok := r.Context().Value(entryKey{}).(*entry); ok {
		return e
	}
	return &entry{}
}

// logWriter counts what a handler writes, for the log line.
type logWriter struct {
	http.ResponseWriter
	code int
	n    atomic.Int64
}

func (w *logWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *logWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n.Add(int64(n))
	return n, err
}

func (w *logWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// Unwrap lets http.ResponseController reach the connection (Flush).
func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// paths are the paths a query searches: every store, or basePath if it
// is a store or under one.
func (s *Server) paths(basePath string) ([]string, error) {
	if basePath == "" {
		return s.stores, nil
	}
	abs, err := filepath.Abs(basePath)
	if err != nil {
		return nil, err
	}
	for _, st := range s.stores {
		if rel, err := filepath.Rel(st, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return []string{abs}, nil
		}
	}
	return nil, fmt.Errorf("%w: basePath %s is not a store this server serves (%s)", query.ErrSpec, basePath, strings.Join(s.stores, ", "))
}

// badRequest answers a query that is wrong with its message.
func badRequest(w http.ResponseWriter, err error) {
	http.Error(w, err.Error(), http.StatusBadRequest)
}

// CheckListen refuses to serve addr without credentials unless it is a
// loopback address or noAuth says anyone may ask.
func CheckListen(addr string, a *Auth, noAuth bool) error {
	if !a.Open() || noAuth {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %v", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("listen address %q is not loopback and no credentials are configured: give -htpasswd, -tokens or -tls-client-ca, or -no-auth to let anyone who reaches it read every packet", addr)
}

// ServerTLS is the TLS configuration of a server with certificate and
// key files, and, with clientCA, the client certificates it requires
// and verifies against that CA bundle (Stenographer's setup).
func ServerTLS(certFile, keyFile, clientCA string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCA != "" {
		pool, err := certPool(clientCA)
		if err != nil {
			return nil, err
		}
		c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// ClientTLS is a client's TLS configuration: the CA bundle that
// verifies the server ("" for the system's), and a client certificate
// and key ("" for none).
func ClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := certPool(caFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

func certPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", file)
	}
	return pool, nil
}
