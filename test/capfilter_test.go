package test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/config"
	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
	"gopkg.in/yaml.v3"
)

// captureFilters are the expressions TestCaptureFilterMatchesTcpdump
// runs: hosts, nets, ports, protocols, VLAN and MPLS (which move
// libpcap's offsets), byte offsets, TCP flags, lengths, negations.
var captureFilters = []string{
	"tcp",
	"udp port 53",
	"host 192.168.138.158",
	"src host 62.75.195.236 and tcp src port 80",
	"net 192.168.0.0/16 and tcp dst port 80",
	"dst net 10.0.0.0/8 or src net 172.16.0.0/12",
	"portrange 1024-2048 or port 443",
	"ip[8] < 64",
	"ip[6:2] & 0x1fff != 0 or ip[6] & 0x20 != 0",
	"tcp[tcpflags] & tcp-syn != 0",
	"tcp[tcpflags] & (tcp-fin|tcp-rst) != 0 and not tcp[tcpflags] & tcp-ack != 0",
	"tcp[((tcp[12] & 0xf0) >> 2):4] = 0x47455420",
	"greater 500",
	"less 100",
	"greater 200 and less 1000",
	"not ip",
	"not (tcp or udp)",
	"ip6",
	"ip6 and udp",
	"icmp or icmp6",
	"arp",
	"vlan",
	"vlan and ip",
	"mpls",
	"ip proto 47",
	"ether broadcast",
	"ether multicast and not ip6",
	"ether[12:2] > 0x0600 and ether[0] & 1 = 0",
}

// usesLen: the expression tests the packet's length, which libpcap reads
// as a record's original length and the RX loop as the bytes delivered.
func usesLen(expr string) bool {
	return strings.Contains(expr, "greater") || strings.Contains(expr, "less") || strings.Contains(expr, "len")
}

// filterInput is every shared capture as one file net_pcap can replay
// (frames it cannot carry left out), and the same with each record's
// original length set to its captured length: net_pcap delivers the
// captured bytes, so pkt_len, which "len", "greater" and "less" read in
// the RX loop, is the captured length, where tcpdump reads the original
// one. tcpdump on asDelivered is the oracle of what the RX loop keeps.
type filterInput struct {
	input, asDelivered string
	recs               []pcap.Record
}

func makeFilterInput(t *testing.T) filterInput {
	t.Helper()
	return makeFilterInputFrom(t, testenv.AllPcaps(t))
}

// makeFilterInputFrom is makeFilterInput over some captures.
func makeFilterInputFrom(t *testing.T, files []string) filterInput {
	t.Helper()
	dir := t.TempDir()
	var recs []pcap.Record
	oversize := 0
	for _, f := range files {
		rs, err := libpcapRecords(t, f)
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		for _, r := range rs {
			if len(r.Data) > netPcapMaxFrame {
				oversize++ // net_pcap cannot carry it (TestReplayEveryCapture)
				continue
			}
			// pcap's writers raise an original length below the
			// captured one (a few damaged records hold 0) to it.
			r.OrigLen = max(r.OrigLen, uint32(len(r.Data)))
			recs = append(recs, r)
		}
	}
	in := filterInput{input: filepath.Join(dir, "all.pcap"), asDelivered: filepath.Join(dir, "as-delivered.pcap"), recs: recs}
	pcaptest.WriteCapture(t, in.input, pcaptest.File{}, recs)
	// The concatenation keeps every frame byte for byte, and every
	// original length, as libpcap reads it back.
	back := pcaptest.TcpdumpKeeps(t, in.input, "")
	if len(back) != len(recs) {
		t.Fatalf("%s: libpcap reads %d records, %d written", in.input, len(back), len(recs))
	}
	truncated := 0
	delivered := make([]pcap.Record, len(recs))
	for i, r := range recs {
		if !bytes.Equal(back[i].Data, r.Data) || back[i].OrigLen != r.OrigLen {
			t.Fatalf("record %d: read back %d B of %d, written %d B of %d", i, len(back[i].Data), back[i].OrigLen,
				len(r.Data), r.OrigLen)
		}
		if r.OrigLen > uint32(len(r.Data)) {
			truncated++
		}
		delivered[i] = r
		delivered[i].OrigLen = uint32(len(r.Data))
	}
	pcaptest.WriteCapture(t, in.asDelivered, pcaptest.File{}, delivered)
	t.Logf("%d frames from %d captures (%d truncated; %d over %d B left out)", len(recs), len(files),
		truncated, oversize, netPcapMaxFrame)
	return in
}

// writeRoutes writes a configuration holding only routes (the rest
// comes from flags) and returns its path.
func writeRoutes(t *testing.T, routes []config.Route) string {
	t.Helper()
	return writeConfig(t, map[string]any{"routes": routes})
}

// writeConfig writes a configuration of the given sections (the rest
// comes from defaults and flags) and returns its path.
func writeConfig(t *testing.T, sections map[string]any) string {
	t.Helper()
	y, err := yaml.Marshal(sections)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fastcapa.yaml")
	if err := os.WriteFile(path, y, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// sameFrames fails unless the topic's messages are want's frames, byte
// for byte and in order (cut to snaplen, if above 0).
func sameFrames(t *testing.T, topic string, msgs []message, want []pcap.Record, snaplen int) {
	t.Helper()
	if len(msgs) != len(want) {
		t.Errorf("topic %s holds %d frames, want %d", topic, len(msgs), len(want))
		return
	}
	for j, m := range msgs {
		w := want[j].Data
		if snaplen > 0 && len(w) > snaplen {
			w = w[:snaplen]
		}
		if !bytes.Equal(m.Value, w) {
			t.Errorf("frame %d of topic %s (%d B) is not the expected frame %d (%d B)", j, topic, len(m.Value), j, len(w))
			return
		}
	}
}

// TestCaptureFilterMatchesTcpdump replays every shared capture, as one
// file, through net_pcap into one fastcapa with a route per expression
// of captureFilters, each to its own topic: each topic holds exactly the
// frames `tcpdump -r FILE -w - EXPR` keeps, byte for byte and in order,
// though a frame goes to as many topics as its routes; each route's
// accounting holds (received = delivered + filtered, nothing lost), the
// packets no route matched are counted filtered once, no mbuf is left,
// and every filter runs JIT-compiled. Then -filter, the one-route flag,
// does the same for one expression.
//
// On the replayed file itself (original lengths) tcpdump differs for
// length expressions exactly on truncated records; the test checks that
// too and logs how many (see filterInput).
func TestCaptureFilterMatchesTcpdump(t *testing.T) {
	testenv.RequireRoot(t)
	in := makeFilterInput(t)
	recs := in.recs
	wants := make([][]pcap.Record, len(captureFilters))
	var routes []config.Route
	for i, expr := range captureFilters {
		wants[i] = pcaptest.TcpdumpKeeps(t, in.asDelivered, expr)
		onOrig := pcaptest.TcpdumpKeeps(t, in.input, expr)
		lenDiff := subsequenceDiff(t, recs, wants[i], onOrig)
		if lenDiff != 0 && !usesLen(expr) {
			t.Errorf("%s: tcpdump keeps %d records differently with original lengths", expr, lenDiff)
		}
		if lenDiff != 0 {
			t.Logf("%s: on the original lengths tcpdump keeps %d truncated records differently", expr, lenDiff)
		}
		routes = append(routes, config.Route{Name: fmt.Sprint("f", i), Filter: expr, Topic: fmt.Sprint("filter", i)})
	}
	// What no route keeps: in none of tcpdump's answers. (Not tcpdump's
	// answer to their disjunction: "vlan" and "mpls" move libpcap's
	// offsets for the rest of an expression.)
	kept := make([]bool, len(recs))
	for _, want := range wants {
		for _, i := range subsequenceIndex(t, recs, want) {
			kept[i] = true
		}
	}
	noRoute := 0
	for _, k := range kept {
		if !k {
			noRoute++
		}
	}

	b := startBroker(t, 0, "pcap", "")
	d := startDaemon(t, []string{"FASTCAPA_DEBUG_POISON=1"}, append(ealArgs(t), "-config", writeRoutes(t, routes),
		"-brokers", b.Addr, "-vdev", "net_pcap0,rx_pcap="+in.input, "-port", "net_pcap0")...)
	waitReceived(t, d, len(recs), 60*time.Second)
	if n := strings.Count(d.stderr.String(), `"engine":"jit"`); n != len(routes) {
		t.Errorf("%d filters loaded JIT-compiled, want %d", n, len(routes))
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("exit status %d", code)
	}
	f := d.final(t)
	f.check(t)
	if f.Received != uint64(len(recs)) || f.Filtered != uint64(noRoute) || len(f.Routes) != len(routes) {
		t.Errorf("received %d, filtered %d, %d routes; want %d, %d, %d", f.Received, f.Filtered, len(f.Routes),
			len(recs), noRoute, len(routes))
	}
	for i, expr := range captureFilters {
		t.Run(expr, func(t *testing.T) {
			if i >= len(f.Routes) {
				t.Fatalf("no route %d in the final counters", i)
			}
			r := f.Routes[i]
			if r.Delivered != uint64(len(wants[i])) || r.Filtered != uint64(len(recs)-len(wants[i])) {
				t.Errorf("route %s: delivered %d, filtered %d; want %d, %d", r.Route, r.Delivered, r.Filtered,
					len(wants[i]), len(recs)-len(wants[i]))
			}
			if len(wants[i]) > 0 { // else nothing created the topic
				sameFrames(t, routes[i].Topic, kcatRead(t, b.Addr, routes[i].Topic), wants[i], 0)
			}
			t.Logf("%d of %d frames kept, as tcpdump", len(wants[i]), len(recs))
		})
	}

	t.Run("flag", func(t *testing.T) {
		expr := "tcp[tcpflags] & tcp-syn != 0"
		want := pcaptest.TcpdumpKeeps(t, in.asDelivered, expr)
		d := startDaemon(t, []string{"FASTCAPA_DEBUG_POISON=1"}, append(ealArgs(t), "-brokers", b.Addr, "-topic", "flag",
			"-vdev", "net_pcap0,rx_pcap="+in.input, "-port", "net_pcap0", "-filter", expr)...)
		if engine := logField(t, d, "capture filter loaded", "engine"); engine != "jit" {
			t.Errorf("filter engine %q, want jit", engine)
		}
		waitReceived(t, d, len(recs), 30*time.Second)
		if got := waitRecords(t, b.Addr, "flag", len(want), 30*time.Second); got < len(want) {
			t.Errorf("topic has %d records, want %d", got, len(want))
		}
		if code := d.stop(t); code != 0 {
			t.Errorf("exit status %d", code)
		}
		f := d.final(t)
		f.check(t)
		if f.Delivered != uint64(len(want)) || f.Filtered != uint64(len(recs)-len(want)) {
			t.Errorf("delivered %d, filtered %d; want %d, %d", f.Delivered, f.Filtered, len(want), len(recs)-len(want))
		}
		sameFrames(t, "flag", kcatRead(t, b.Addr, "flag"), want, 0)
	})
}

// subsequenceIndex returns the index in all of each record of sub, a
// subsequence of all (records told apart by time and bytes).
func subsequenceIndex(t *testing.T, all, sub []pcap.Record) []int {
	t.Helper()
	var idx []int
	for i, r := range all {
		if len(idx) < len(sub) && sub[len(idx)].Timestamp == r.Timestamp && bytes.Equal(sub[len(idx)].Data, r.Data) {
			idx = append(idx, i)
		}
	}
	if len(idx) != len(sub) {
		t.Fatalf("%d of %d records are not a subsequence of the input", len(sub)-len(idx), len(sub))
	}
	return idx
}

// subsequenceDiff: a (from the as-delivered file) and b (from the
// replayed one) are what tcpdump kept of all, in order;
// it returns how many records of all one keeps and the other does not,
// and fails the test if any of them is not truncated.
func subsequenceDiff(t *testing.T, all, a, b []pcap.Record) int {
	t.Helper()
	ia, ib, diff := 0, 0, 0
	for i, r := range all {
		// Records are told apart by time and bytes (a few captures hold
		// the same bytes twice, e.g. empty frames, truncated or not).
		inA := ia < len(a) && a[ia].Timestamp == r.Timestamp && bytes.Equal(a[ia].Data, r.Data)
		inB := ib < len(b) && b[ib].Timestamp == r.Timestamp && b[ib].OrigLen == r.OrigLen && bytes.Equal(b[ib].Data, r.Data)
		if inA {
			ia++
		}
		if inB {
			ib++
		}
		if inA != inB {
			diff++
			if r.OrigLen <= uint32(len(r.Data)) {
				t.Errorf("record %d (%d B, not truncated) kept by one oracle only", i, len(r.Data))
			}
		}
	}
	if ia != len(a) || ib != len(b) {
		t.Fatalf("tcpdump's answers are not subsequences of the input (%d/%d, %d/%d)", ia, len(a), ib, len(b))
	}
	return diff
}

// waitReceived polls /metrics until the RX lcores took n packets (the
// whole file net_pcap replays), or fails after limit.
func waitReceived(t *testing.T, d *daemon, n int, limit time.Duration) {
	t.Helper()
	addr := logField(t, d, "metrics", "listen")
	deadline := time.Now().Add(limit)
	for {
		_, body := get(t, "http://"+addr+"/metrics")
		got := parseMetrics(t, body)["fastcapa_rx_packets_total"]
		if int(got) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("fastcapa_rx_packets_total %v after %v, want %d", got, limit, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
