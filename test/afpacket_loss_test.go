package test

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/packet"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// burstFrames is the burst of issue 9: 100,000 64-byte frames sent by
// tcpreplay --topspeed, each different (its UDP ports number it).
const burstFrames = 100000

// burstFrame is frame i of the burst.
func burstFrame(i int) []byte { return packet.UDPFrame(64, uint16(i), uint16(i>>16)) }

// burstPcap writes that burst to a capture file in the test's directory.
func burstPcap(t *testing.T) string {
	t.Helper()
	recs := make([]pcap.Record, burstFrames)
	for i := range recs {
		recs[i] = pcap.Record{Timestamp: int64(i) * 1000, Data: burstFrame(i)}
	}
	path := filepath.Join(t.TempDir(), "burst64.pcap")
	pcaptest.WriteCapture(t, path, pcaptest.File{}, recs)
	return path
}

// sendTopSpeed sends a capture into the pair as fast as tcpreplay can and
// returns the frames the interface accepted (tcpreplay's "Successful
// packets").
func (v vethPair) sendTopSpeed(t *testing.T, file string) int {
	t.Helper()
	testenv.RequireTool(t, "tcpreplay")
	n, err := v.send(file, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tcpreplay --topspeed: %d packets sent", n)
	return n
}

// settle waits until the daemon's counters stop moving after a replay:
// every packet the RX lcores took is delivered or dropped, and nothing
// new arrived for half a second. It returns the last scrape.
func settle(t *testing.T, addr string, limit time.Duration) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last float64 = -1
	for {
		_, text := get(t, "http://"+addr+"/metrics")
		m := parseMetrics(t, text)
		rx := m["fastcapa_rx_packets_total"]
		done := m["fastcapa_kafka_delivered_messages_total"] + m["fastcapa_ring_dropped_packets_total"] +
			m["fastcapa_malformed_packets_total"] + m["fastcapa_kafka_queue_dropped_messages_total"] +
			m["fastcapa_kafka_failed_messages_total"]
		if rx == done && rx == last {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters still moving after %v: rx %v, delivered or dropped %v", limit, rx, done)
		}
		last = rx
		time.Sleep(500 * time.Millisecond)
	}
}

// burst is what one top-speed burst run saw.
type burst struct {
	sent    int                // frames tcpreplay sent
	metrics map[string]float64 // the last scrape before the daemon stopped
	code    int                // fastcapa's exit status
	d       *daemon
	final   final
	// In the topic: frames of the burst, each at most once (a duplicate
	// fails the test), and frames from elsewhere. DPDK 22.11's
	// net_af_packet sets up its sockets before binding them to the
	// interface, so frames of any interface (the test's own loopback
	// HTTP to /readyz) can enter its rings at probe: none may reach the
	// topic.
	inTopic, foreign int
}

// burstRun captures one top-speed burst on a fresh veth pair with the
// given vdev arguments after the interface name, and fastcapa's further
// arguments.
func burstRun(t *testing.T, vdevArgs string, args ...string) burst {
	t.Helper()
	v := newVethPair(t)
	file := burstPcap(t)
	b := startBroker(t, 0, "pcap", "")
	r := burst{}
	r.d = startDaemon(t, nil, append(append(ealArgs(t), "-vdev", v.vdev()+vdevArgs, "-port", "net_af_packet0",
		"-brokers", b.Addr, "-topic", "burst"), args...)...)
	addr := logField(t, r.d, "metrics", "listen")
	waitReady(t, addr)
	r.sent = v.sendTopSpeed(t, file)
	r.metrics = settle(t, addr, 30*time.Second)
	r.code = r.d.stop(t)
	f := r.d.final(t)
	f.check(t)
	r.final = f

	frames := map[string]bool{}
	for i := 0; i < burstFrames; i++ {
		frames[string(burstFrame(i))] = false
	}
	n := readTopic(t, b.Addr, "burst", int(f.Delivered), 20*time.Second, func(rec *kgo.Record) {
		seen, ours := frames[string(rec.Value)]
		switch {
		case !ours:
			r.foreign++
		case seen:
			t.Errorf("frame %x twice in the topic", rec.Value)
		default:
			frames[string(rec.Value)] = true
			r.inTopic++
		}
	})
	if n != int(f.Delivered) {
		t.Errorf("topic has %d records, delivered says %d", n, f.Delivered)
	}
	if r.foreign != 0 {
		t.Errorf("%d frames in the topic are not from the burst", r.foreign)
	}
	t.Logf("sent %d: received %d, delivered %d (%d of the burst, %d from elsewhere), nic_dropped %d, ring_dropped %d, "+
		"queue_dropped %d, failed %d; exit %d", r.sent, f.Received, f.Delivered, r.inTopic, r.foreign, f.NICDropped,
		f.RingDropped, f.QueueDropped, f.Failed, r.code)
	return r
}

// TestAFPacketSmallRingLossCounted: a top-speed burst into a packet ring
// of 64 frames overflows it in the kernel. Every frame tcpreplay sent is
// then delivered or in a drop counter, exactly; the kernel's drops are
// device-side loss (nic_dropped, the [nic] row, the metrics), and the
// exit status is 1.
func TestAFPacketSmallRingLossCounted(t *testing.T) {
	r := burstRun(t, ",framecnt=64")
	f := r.final
	if f.NICDropped == 0 {
		t.Errorf("nic_dropped 0: a burst of %d frames into a 64-frame ring lost none? received %d", r.sent, f.Received)
	}
	if sum := f.Delivered + f.RingDropped + f.Malformed + f.QueueDropped + f.Failed + f.NICDropped; sum != uint64(r.sent) {
		t.Errorf("delivered + every drop counter = %d, tcpreplay sent %d: %+v", sum, r.sent, f)
	}
	if r.code != 1 {
		t.Errorf("exit status %d, want 1 (frames lost)", r.code)
	}
	if got := r.metrics["fastcapa_nic_kernel_dropped_packets_total"]; got == 0 || got > float64(f.NICDropped) {
		t.Errorf("fastcapa_nic_kernel_dropped_packets_total = %v, final nic_dropped %d", got, f.NICDropped)
	}
	// The row's numbers end with its drops (in, queued, out, filtered, drops).
	nic := regexp.MustCompile(`(?m)^\[nic\]((?:\s+\d+){5})$`).FindStringSubmatch(r.d.stdout.String())
	if nic == nil {
		t.Fatalf("no [nic] row in the final table:\n%s", r.d.stdout.String())
	}
	if cols := strings.Fields(nic[1]); cols[4] != fmt.Sprint(f.NICDropped) {
		t.Errorf("[nic] row drops %s, nic_dropped %d", cols[4], f.NICDropped)
	}
}

// TestAFPacketDefaultRingHoldsBurst: with no ring geometry given, the
// same burst lands whole, and the log says which ring fastcapa chose.
func TestAFPacketDefaultRingHoldsBurst(t *testing.T) {
	r := burstRun(t, "")
	if r.inTopic != r.sent {
		t.Errorf("%d of the %d frames sent are in the topic", r.inTopic, r.sent)
	}
	if r.code != 0 {
		t.Errorf("exit status %d, want 0", r.code)
	}
	if !strings.Contains(r.d.stderr.String(), "framecnt=") {
		t.Errorf("no log line saying which ring geometry fastcapa chose")
	}
}
