package test

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/config"
	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// TestCaptureRoutes: one capture of every shared capture (filterInput)
// through five routes, each checked against tcpdump on the file:
//   - web: "tcp port 80", cut to 64 bytes, keyed in microseconds;
//   - dns: "udp port 53", 1 in 3: exactly the 1st, 4th, 7th… of
//     tcpdump's answer;
//   - rest: unmatched, what no other route's filter matched;
//   - tenth: 10 % of everything at random: a subsequence of the file,
//     delivered + sampled = every packet, and near a tenth;
//   - rr: "tcp" round robin over a topic's 4 partitions: the k-th packet
//     on partition k mod 4.
//
// A packet goes to several topics (web, rr, tenth); every route's
// accounting holds on its own (received = delivered + filtered + sampled).
func TestCaptureRoutes(t *testing.T) {
	testenv.RequireRoot(t)
	in := makeFilterInput(t)
	file := in.input
	all := pcaptest.TcpdumpKeeps(t, file, "")
	web := pcaptest.TcpdumpKeeps(t, file, "tcp port 80")
	dns := pcaptest.TcpdumpKeeps(t, file, "udp port 53")
	tcp := pcaptest.TcpdumpKeeps(t, file, "tcp")
	// rest: what none of the other routes' filters matched (tenth has
	// none: it does not count). The complement of their answers, not
	// tcpdump's "not (...) and not (...)": a load past a short frame
	// rejects it even under "not".
	matched := map[int]bool{}
	for _, keep := range [][]pcap.Record{web, dns, tcp} {
		for _, i := range subsequenceIndex(t, all, keep) {
			matched[i] = true
		}
	}
	var rest []pcap.Record
	for i, r := range all {
		if !matched[i] {
			rest = append(rest, r)
		}
	}
	if len(web) == 0 || len(dns) < 10 || len(rest) == 0 {
		t.Fatalf("the input has %d web, %d dns, %d other packets", len(web), len(dns), len(rest))
	}
	snap := 64
	routes := []config.Route{
		{Name: "web", Filter: "tcp port 80", Topic: "r-web", Snaplen: &snap, KeyUnit: "us"},
		{Name: "dns", Filter: "udp port 53", Topic: "r-dns", Sample: "1/3"},
		{Name: "rest", Unmatched: true, Topic: "r-rest"},
		{Name: "tenth", Topic: "r-tenth", Sample: "10%"},
		{Name: "rr", Filter: "tcp", Topic: "r-rr", Partitioner: "round_robin"},
	}
	b := startBroker(t, 0, "pcap", "", "r-rr:4")
	d := startDaemon(t, []string{"FASTCAPA_DEBUG_POISON=1"}, append(ealArgs(t), "-config", writeRoutes(t, routes),
		"-brokers", b.Addr, "-vdev", "net_pcap0,rx_pcap="+file, "-port", "net_pcap0")...)
	waitReceived(t, d, len(all), 30*time.Second)
	if code := d.stop(t); code != 0 {
		t.Errorf("exit status %d", code)
	}
	f := d.final(t)
	f.check(t)
	if !strings.Contains(d.stderr.String(), `"route":"rr","topic":"r-rr","key_unit":"1ns","snaplen":0,"partitioner":"round_robin","partitions":4`) {
		t.Errorf("the round-robin route's partition count, 4, was not asked of the broker")
	}

	var dnsWant []pcap.Record
	for i := 0; i < len(dns); i += 3 {
		dnsWant = append(dnsWant, dns[i])
	}
	webMsgs := kcatRead(t, b.Addr, "r-web")
	sameFrames(t, "r-web", byOffset(webMsgs), web, snap)
	for i, m := range byOffset(webMsgs) {
		if i < len(web) && binary.BigEndian.Uint64(m.Key) != uint64(web[i].Timestamp/1000) {
			t.Errorf("r-web message %d: key %d, want the time in µs %d", i, binary.BigEndian.Uint64(m.Key), web[i].Timestamp/1000)
			break
		}
	}
	sameFrames(t, "r-dns", byOffset(kcatRead(t, b.Addr, "r-dns")), dnsWant, 0)
	sameFrames(t, "r-rest", byOffset(kcatRead(t, b.Addr, "r-rest")), rest, 0)

	// Round robin: partition p holds packets p, p+4, p+8… of tcpdump's
	// answer, in order.
	parts := map[int][]message{}
	for _, m := range kcatRead(t, b.Addr, "r-rr") {
		parts[m.Partition] = append(parts[m.Partition], m)
	}
	for p := 0; p < 4; p++ {
		var want []pcap.Record
		for i := p; i < len(tcp); i += 4 {
			want = append(want, tcp[i])
		}
		sameFrames(t, "r-rr partition "+string(rune('0'+p)), byOffset(parts[p]), want, 0)
	}

	// 10 % at random: a subsequence of the file, all counted.
	tenth := byOffset(kcatRead(t, b.Addr, "r-tenth"))
	var got []pcap.Record
	for _, m := range tenth {
		got = append(got, pcap.Record{Timestamp: int64(binary.BigEndian.Uint64(m.Key)), Data: m.Value})
	}
	subsequenceIndex(t, all, got)
	mean, sd := 0.1*float64(len(all)), math.Sqrt(float64(len(all))*0.1*0.9)
	if n := float64(len(tenth)); math.Abs(n-mean) > 6*sd {
		t.Errorf("10%% of %d packets kept %v, more than 6 standard deviations from %v", len(all), n, mean)
	}

	want := map[string]struct{ delivered, filtered, sampled int }{
		"web":   {len(web), len(all) - len(web), 0},
		"dns":   {len(dnsWant), len(all) - len(dns), len(dns) - len(dnsWant)},
		"rest":  {len(rest), len(all) - len(rest), 0},
		"tenth": {len(tenth), 0, len(all) - len(tenth)},
		"rr":    {len(tcp), len(all) - len(tcp), 0},
	}
	for _, r := range f.Routes {
		w := want[r.Route]
		if r.Delivered != uint64(w.delivered) || r.Filtered != uint64(w.filtered) || r.Sampled != uint64(w.sampled) {
			t.Errorf("route %s: delivered %d, filtered %d, sampled %d; want %d, %d, %d", r.Route, r.Delivered, r.Filtered,
				r.Sampled, w.delivered, w.filtered, w.sampled)
		}
	}
	t.Logf("web %d, dns %d of %d, rest %d, tenth %d of %d, rr %d", len(web), len(dnsWant), len(dns), len(rest),
		len(tenth), len(all), len(tcp))
}

// byOffset orders one partition's messages by offset (kcat reads the
// partitions of a topic interleaved).
func byOffset(msgs []message) []message {
	out := append([]message(nil), msgs...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && (out[j].Partition < out[j-1].Partition ||
			out[j].Partition == out[j-1].Partition && out[j].Offset < out[j-1].Offset); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
