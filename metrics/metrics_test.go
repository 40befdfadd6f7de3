package metrics

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// oneGauge is a collector of one const gauge, test_value{kind="x"}.
type oneGauge struct{ m Metric }

func newOneGauge() oneGauge {
	return oneGauge{NewMetric("test_value", "A value for the test.", prometheus.GaugeValue, "kind")}
}
func (g oneGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.m.Desc }
func (g oneGauge) Collect(ch chan<- prometheus.Metric) { ch <- g.m.Const(42, "x") }

func TestMetricConst(t *testing.T) {
	want := `
# HELP test_value A value for the test.
# TYPE test_value gauge
test_value{kind="x"} 42
`
	if err := testutil.CollectAndCompare(newOneGauge(), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// TestServe: /healthz answers while serving, /readyz follows the
// readiness func, /metrics serves the collector with Go's and the
// process's metrics.
func TestServe(t *testing.T) {
	var notReady atomic.Pointer[error]
	starting := errors.New("starting")
	notReady.Store(&starting)
	ready := func() error {
		if e := notReady.Load(); e != nil {
			return *e
		}
		return nil
	}
	s, err := Serve("127.0.0.1:0", newOneGauge(), ready, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := "http://" + s.Addr()
	for _, tc := range []struct {
		path      string
		ready     bool
		code      int
		body      string // the whole body, or (metrics) lines it holds
		wholeBody bool
	}{
		{"/healthz", false, 200, "ok\n", true},
		{"/readyz", false, 503, "not ready: starting\n", true},
		{"/readyz", true, 200, "ready\n", true},
		{"/metrics", true, 200, "test_value{kind=\"x\"} 42\n", false},
		{"/metrics", true, 200, "\ngo_goroutines ", false},
		{"/metrics", true, 200, "\nprocess_start_time_seconds ", false},
	} {
		if tc.ready {
			notReady.Store(nil)
		}
		code, body := get(t, base+tc.path)
		if code != tc.code || (tc.wholeBody && body != tc.body) || (!tc.wholeBody && !strings.Contains(body, tc.body)) {
			t.Errorf("GET %s (ready %v) = %d %q, want %d and %q", tc.path, tc.ready, code, body, tc.code, tc.body)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("still serving after Close")
	}
}

// TestServeAddressInUse: the error names the address, for one line at
// start-up.
func TestServeAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	_, err = Serve(addr, newOneGauge(), func() error { return nil }, slog.New(slog.DiscardHandler))
	if err == nil || !strings.HasPrefix(err.Error(), "metrics address "+addr+": listen tcp "+addr+": bind: address already in use") {
		t.Errorf("Serve on a bound address: %v", err)
	}
}
