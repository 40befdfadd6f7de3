package test

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMetricsAndHealth scrapes a running daemon: /healthz answers, /readyz
// turns 200 once the broker answered, /metrics passes promtool's checks,
// and its counters agree with the replay and with the accounting.
func TestMetricsAndHealth(t *testing.T) {
	testenv.RequireRoot(t)
	promtool := testenv.RequireTool(t, "promtool")
	file := filepath.Join(testenv.Pcaps(t), "metron-example.pcap")
	const want = 761
	b := startBroker(t, 0, "pcap", "")
	d := startDaemon(t, nil, append(ealArgs(t), "-vdev", "net_pcap0,rx_pcap="+file, "-port", "net_pcap0",
		"-brokers", b.Addr, "-topic", "metrics", "-X", "statistics.interval.ms=500")...)
	addr := logField(t, d, "metrics", "listen")

	if code, body := get(t, "http://"+addr+"/healthz"); code != 200 {
		t.Errorf("/healthz: %d %s", code, body)
	}
	waitReady(t, addr)
	if got := waitRecords(t, b.Addr, "metrics", want, 30*time.Second); got < want {
		t.Fatalf("topic has %d records, want %d", got, want)
	}

	// Delivery reports may trail the broker by a moment; then every
	// counter must agree.
	var m map[string]float64
	var text string
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, text = get(t, "http://"+addr+"/metrics")
		m = parseMetrics(t, text)
		if m["fastcapa_kafka_delivered_messages_total"] == want || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for name, v := range map[string]float64{
		"fastcapa_nic_received_packets_total":         want,
		"fastcapa_rx_packets_total":                   want,
		"fastcapa_worker_packets_total":               want,
		"fastcapa_kafka_produced_messages_total":      want,
		"fastcapa_kafka_delivered_messages_total":     want,
		"fastcapa_ring_dropped_packets_total":         0,
		"fastcapa_kafka_failed_messages_total":        0,
		"fastcapa_kafka_queue_dropped_messages_total": 0,
		"fastcapa_kafka_queued_messages":              0,
		"fastcapa_ring_packets":                       0,
		"fastcapa_ready":                              1,
		"fastcapa_build_info":                         1,
	} {
		if got, ok := m[name]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, v)
		}
	}
	// librdkafka's statistics arrive every 500 ms: the broker's round trip
	// is a real, positive figure.
	for deadline := time.Now().Add(5 * time.Second); m["fastcapa_kafka_broker_rtt_p99_seconds"] == 0 && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		_, text = get(t, "http://"+addr+"/metrics")
		m = parseMetrics(t, text)
	}
	if m["fastcapa_kafka_broker_rtt_p99_seconds"] <= 0 {
		t.Errorf("no broker round trip from librdkafka's statistics")
	}

	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	if code := d.stop(t); code != 0 {
		t.Errorf("exit status %d", code)
	}
	d.final(t).check(t)
	// The stats table and the final table name every stage.
	for _, row := range []string{"[nic]", "[rx]", "[tx]", "[kaf]"} {
		if !strings.Contains(d.stdout.String(), row) {
			t.Errorf("final table lacks %s:\n%s", row, d.stdout.String())
		}
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func waitReady(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := get(t, "http://"+addr+"/readyz")
		if code == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d after 20 s: %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// parseMetrics sums each metric's samples over their labels.
func parseMetrics(t *testing.T, text string) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	s := bufio.NewScanner(strings.NewReader(text))
	for s.Scan() {
		line := s.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		m[name] += v
	}
	return m
}

// logField waits for a JSON log line with msg and returns its field.
func logField(t *testing.T, d *daemon, msg, field string) string {
	t.Helper()
	waitLog(t, d, msg, 30*time.Second)
	for _, line := range strings.Split(d.stderr.String(), "\n") {
		var v map[string]any
		if json.Unmarshal([]byte(line), &v) == nil && v["msg"] == msg {
			return fmt.Sprint(v[field])
		}
	}
	t.Fatalf("no %q line with %s", msg, field)
	return ""
}

// TestReadinessFollowsBroker: /readyz says whether packets can be
// delivered now. With the only broker up it is 200; killed (SIGKILL), 503
// within a few seconds, naming the broker; restarted on its port, 200
// again. fastcapa_ready follows it.
func TestReadinessFollowsBroker(t *testing.T) {
	testenv.RequireRoot(t)
	file := filepath.Join(testenv.Pcaps(t), "metron-example.pcap")
	port := freePort(t)
	b := startBroker(t, port, "pcap", "")
	d := startDaemon(t, nil, append(ealArgs(t), "-vdev", "net_pcap0,rx_pcap="+file, "-port", "net_pcap0",
		"-brokers", b.Addr, "-X", "reconnect.backoff.max.ms=1000")...)
	addr := logField(t, d, "metrics", "listen")
	waitReady(t, addr)
	if got := waitRecords(t, b.Addr, "pcap", 761, 30*time.Second); got < 761 {
		t.Fatalf("topic has %d records, want 761", got)
	}

	killBrokerUnready(t, b, addr)
	if m := parseMetrics(t, func() string { _, s := get(t, "http://"+addr+"/metrics"); return s }()); m["fastcapa_ready"] != 0 {
		t.Errorf("fastcapa_ready = %v with the broker down, want 0", m["fastcapa_ready"])
	}
	stillUnready(t, addr)

	startBroker(t, port, "pcap", "")
	up := time.Now()
	waitReady(t, addr)
	t.Logf("ready again %v after the restart", time.Since(up).Round(time.Millisecond))
	if m := parseMetrics(t, func() string { _, s := get(t, "http://"+addr+"/metrics"); return s }()); m["fastcapa_ready"] != 1 {
		t.Errorf("fastcapa_ready = %v with the broker up, want 1", m["fastcapa_ready"])
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("exit status %d", code)
	}
	d.final(t).check(t)
}

// killBrokerUnready kills b, the only broker of the daemon serving
// metrics at addr, and waits (5 s at most) for its /readyz to say 503,
// naming the broker.
func killBrokerUnready(t *testing.T, b *broker, addr string) {
	t.Helper()
	b.kill()
	killed := time.Now()
	for {
		code, body := get(t, "http://"+addr+"/readyz")
		if code == http.StatusServiceUnavailable {
			t.Logf("%v after the kill: %d %s", time.Since(killed).Round(time.Millisecond), code, strings.TrimSpace(body))
			if !strings.Contains(body, b.Addr) {
				t.Errorf("/readyz does not name the broker %s: %s", b.Addr, body)
			}
			return
		}
		if time.Since(killed) > 5*time.Second {
			t.Fatalf("/readyz still %d %s 5 s after the only broker was killed", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stillUnready checks /readyz at addr is still 503 two seconds on, the
// broker still down.
func stillUnready(t *testing.T, addr string) {
	t.Helper()
	time.Sleep(2 * time.Second)
	if code, body := get(t, "http://"+addr+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz back to %d %s while the broker is still down", code, body)
	}
}

// TestSinkReadinessFollowsBroker: pcapstore sink's /readyz is 200 while
// it reaches a broker, 503 naming the brokers within seconds of its only
// broker's kill and for as long as it is down, and 200 again once it is
// back.
func TestSinkReadinessFollowsBroker(t *testing.T) {
	port := freePort(t)
	b := startBroker(t, port, "ready", "")
	produce(t, b.Addr, "ready", []*kgo.Record{{Key: binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano())), Value: make([]byte, 60)}})
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s := &sinkProc{t: t, args: []string{"sink", "-brokers", b.Addr, "-topic", "ready", "-group", "g", "-dir", t.TempDir(),
		"-log-json", "-metrics-listen", addr, "-X", "reconnect.backoff.max.ms=1000"}}
	s.start()
	t.Cleanup(s.kill)
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(s.logs.String(), `"msg":"metrics"`); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) || !s.running() {
			t.Fatalf("the sink does not serve metrics:\n%s", lastLines(s.logs.String(), 20))
		}
	}
	waitReady(t, addr)

	killBrokerUnready(t, b, addr)
	stillUnready(t, addr)

	startBroker(t, port, "ready", "")
	up := time.Now()
	waitReady(t, addr)
	t.Logf("ready again %v after the restart", time.Since(up).Round(time.Millisecond))
	if code := s.stop(); code != 0 {
		t.Errorf("sink exit status %d\n%s", code, lastLines(s.logs.String(), 20))
	}
}
