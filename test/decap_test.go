package test

import (
	"encoding/binary"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/config"
	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// tunnelPcaps are the shared captures with VLANs, MPLS and tunnels, and
// Metron's example (plain Ethernet) beside them.
func tunnelPcaps(t *testing.T) []string {
	t.Helper()
	re := regexp.MustCompile(`(?i)vlan|qinq|8021ad|mpls|gre|erspan|vxlan|geneve|gtp`)
	files := []string{filepath.Join(testenv.Pcaps(t), "metron-example.pcap")}
	for _, f := range testenv.AllPcaps(t) {
		if re.MatchString(filepath.Base(f)) {
			files = append(files, f)
		}
	}
	if len(files) < 8 {
		t.Fatalf("only %d tunnel captures in %s", len(files)-1, testenv.Pcaps(t))
	}
	return files
}

// decapFilters are the expressions TestCaptureDecapMatchesTcpdump runs
// on the inner packets.
var decapFilters = []string{
	"tcp",
	"udp",
	"icmp or icmp6",
	"ip6",
	"not ip and not ip6",
	"tcp port 80",
	"udp port 53",
	"net 10.0.0.0/8",
	"net 192.168.0.0/16 and tcp",
	"ip[8] < 64",
	"tcp[tcpflags] & tcp-syn != 0",
	"greater 200",
	"vlan",
	"ether broadcast",
}

// TestCaptureDecapMatchesTcpdump: with -decap (capture.decap), each
// route's filter sees the innermost packet. The oracle is tshark's decode
// of every frame (pcaptest.Decapsulated: where the innermost Ethernet or
// IP header starts, never our decoder), the inner packets written as a
// capture, and tcpdump's answer on that capture: the topic holds the
// original frames of the packets tcpdump keeps there, byte for byte and
// in order. With send_inner, a route's topic holds the inner packets
// themselves. At least one expression must answer differently with and
// without decapsulation, or the input would not test it.
func TestCaptureDecapMatchesTcpdump(t *testing.T) {
	testenv.RequireRoot(t)
	in := makeFilterInputFrom(t, tunnelPcaps(t))
	decaps := pcaptest.Decapsulated(t, in.asDelivered)
	inner := make([]pcap.Record, len(in.recs))
	tunnelled := 0
	for i, r := range in.recs {
		inner[i] = pcap.Record{Timestamp: r.Timestamp, Data: decaps[i].Frame, OrigLen: uint32(len(decaps[i].Frame))}
		if decaps[i].Kind != pcaptest.InnerNone {
			tunnelled++
		}
	}
	innerFile := filepath.Join(t.TempDir(), "inner.pcap")
	pcaptest.WriteCapture(t, innerFile, pcaptest.File{}, inner)
	t.Logf("%d of %d frames decapsulated by tshark's reading", tunnelled, len(in.recs))

	wants := make([][]pcap.Record, len(decapFilters))
	var routes []config.Route
	differs := 0
	for i, expr := range decapFilters {
		for _, j := range subsequenceIndex(t, inner, pcaptest.TcpdumpKeeps(t, innerFile, expr)) {
			wants[i] = append(wants[i], in.recs[j])
		}
		if outer := pcaptest.TcpdumpKeeps(t, in.asDelivered, expr); len(outer) != len(wants[i]) {
			differs++
		}
		routes = append(routes, config.Route{Name: "d" + string(rune('a'+i)), Filter: expr, Topic: "decap-" + string(rune('a'+i))})
	}
	if differs == 0 {
		t.Errorf("no expression answers differently on the inner packets: the input does not test decapsulation")
	}
	// send_inner: a route of every packet, sent as tshark's inner packet.
	b := startBroker(t, 0, "pcap", "")
	cfg := writeRoutes(t, routes)
	d := startDaemon(t, []string{"FASTCAPA_DEBUG_POISON=1"}, append(ealArgs(t), "-config", cfg, "-decap",
		"-brokers", b.Addr, "-vdev", "net_pcap0,rx_pcap="+in.input, "-port", "net_pcap0")...)
	waitReceived(t, d, len(in.recs), 60*time.Second)
	if code := d.stop(t); code != 0 {
		t.Errorf("exit status %d", code)
	}
	f := d.final(t)
	f.check(t)
	for i, expr := range decapFilters {
		t.Run(expr, func(t *testing.T) {
			r := f.Routes[i]
			if r.Delivered != uint64(len(wants[i])) {
				t.Errorf("route %s: delivered %d, tcpdump keeps %d inner packets", r.Route, r.Delivered, len(wants[i]))
			}
			if len(wants[i]) > 0 {
				sameFrames(t, routes[i].Topic, byOffset(kcatRead(t, b.Addr, routes[i].Topic)), wants[i], 0)
			}
			t.Logf("%d of %d frames kept", len(wants[i]), len(in.recs))
		})
	}

	t.Run("send_inner", func(t *testing.T) {
		cfg := writeConfig(t, map[string]any{"capture": map[string]any{"decap": true, "send_inner": true}})
		d := startDaemon(t, []string{"FASTCAPA_DEBUG_POISON=1"}, append(ealArgs(t), "-config", cfg, "-topic", "inner",
			"-brokers", b.Addr, "-vdev", "net_pcap0,rx_pcap="+in.input, "-port", "net_pcap0")...)
		waitReceived(t, d, len(in.recs), 60*time.Second)
		if code := d.stop(t); code != 0 {
			t.Errorf("exit status %d", code)
		}
		d.final(t).check(t)
		sameFrames(t, "inner", byOffset(kcatRead(t, b.Addr, "inner")), inner, 0)
	})
}

// TestCaptureFlowPartitions: -partitioner flow on a topic of 8
// partitions puts every packet of a conversation, both directions, on one
// partition — the innermost conversation for tunnels, as tshark names it
// (pcaptest.Decap.Tuple) — uses most partitions, and puts each packet on
// the same partition in a second run (the hash is stable across
// restarts).
func TestCaptureFlowPartitions(t *testing.T) {
	testenv.RequireRoot(t)
	in := makeFilterInputFrom(t, tunnelPcaps(t))
	decaps := pcaptest.Decapsulated(t, in.asDelivered)
	b := startBroker(t, 0, "pcap", "", "flows1:8", "flows2:8")
	run := func(topic string) []int {
		d := startDaemon(t, nil, append(ealArgs(t), "-partitioner", "flow", "-topic", topic,
			"-brokers", b.Addr, "-vdev", "net_pcap0,rx_pcap="+in.input, "-port", "net_pcap0")...)
		waitReceived(t, d, len(in.recs), 60*time.Second)
		if code := d.stop(t); code != 0 {
			t.Errorf("exit status %d", code)
		}
		d.final(t).check(t)
		// Each record's partition: each partition holds a subsequence of
		// the input, in order.
		part := make([]int, len(in.recs))
		for i := range part {
			part[i] = -1
		}
		byPart := map[int][]pcap.Record{}
		for _, m := range byOffset(kcatRead(t, b.Addr, topic)) {
			byPart[m.Partition] = append(byPart[m.Partition], pcap.Record{Timestamp: int64(binary.BigEndian.Uint64(m.Key)), Data: m.Value})
		}
		for p, recs := range byPart {
			for _, i := range subsequenceIndex(t, in.recs, recs) {
				part[i] = p
			}
		}
		for i, p := range part {
			if p < 0 {
				t.Fatalf("%s: record %d is on no partition", topic, i)
			}
		}
		return part
	}
	first, second := run("flows1"), run("flows2")
	flowPart := map[string]int{}
	used := map[int]bool{}
	flows := 0
	for i, d := range decaps {
		if first[i] != second[i] {
			t.Errorf("record %d: partition %d, then %d after a restart", i, first[i], second[i])
		}
		used[first[i]] = true
		if d.Tuple == "" {
			continue
		}
		p, seen := flowPart[d.Tuple]
		if !seen {
			flowPart[d.Tuple] = first[i]
			flows++
			continue
		}
		if p != first[i] {
			t.Errorf("record %d of %s is on partition %d, earlier ones on %d", i, d.Tuple, first[i], p)
		}
	}
	if len(used) < 6 {
		t.Errorf("%d flows on only %d of 8 partitions", flows, len(used))
	}
	t.Logf("%d records, %d conversations, %d partitions used", len(in.recs), flows, len(used))
}
