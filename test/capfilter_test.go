package test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
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

// TestCaptureFilterMatchesTcpdump replays every shared capture, as one
// file, through net_pcap with -filter EXPR for each of captureFilters: the
// topic holds exactly the frames `tcpdump -r FILE -w - EXPR` keeps, byte
// for byte and in order, the rest are counted filtered (received =
// delivered + filtered, nothing lost, no mbuf left), and the filter runs
// JIT-compiled.
//
// The file the oracle reads is the replayed one with each record's
// original length set to its captured length: net_pcap delivers the
// captured bytes, so pkt_len, which "len", "greater" and "less" read in
// the RX loop, is the captured length, where tcpdump reads the original
// one. On the replayed file itself tcpdump differs for those expressions
// exactly on truncated records; the test checks that too and logs how
// many.
func TestCaptureFilterMatchesTcpdump(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	var recs []pcap.Record
	oversize := 0
	for _, f := range testenv.AllPcaps(t) {
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
	input := filepath.Join(dir, "all.pcap")
	pcaptest.WriteCapture(t, input, pcaptest.File{}, recs)
	// The concatenation keeps every frame byte for byte, and every
	// original length, as libpcap reads it back.
	back := pcaptest.TcpdumpKeeps(t, input, "")
	if len(back) != len(recs) {
		t.Fatalf("%s: libpcap reads %d records, %d written", input, len(back), len(recs))
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
	asDelivered := filepath.Join(dir, "as-delivered.pcap")
	pcaptest.WriteCapture(t, asDelivered, pcaptest.File{}, delivered)
	t.Logf("%d frames from %d captures (%d truncated; %d over %d B left out)", len(recs), len(testenv.AllPcaps(t)),
		truncated, oversize, netPcapMaxFrame)

	b := startBroker(t, 0, "pcap", "")
	for i, expr := range captureFilters {
		t.Run(expr, func(t *testing.T) {
			want := pcaptest.TcpdumpKeeps(t, asDelivered, expr)
			onOrig := pcaptest.TcpdumpKeeps(t, input, expr)
			lenDiff := subsequenceDiff(t, recs, want, onOrig)
			if lenDiff != 0 && !usesLen(expr) {
				t.Errorf("tcpdump keeps %d records differently with original lengths", lenDiff)
			}
			if lenDiff != 0 {
				t.Logf("on the original lengths tcpdump keeps %d truncated records differently", lenDiff)
			}
			topic := fmt.Sprintf("filter%d", i)
			d := startDaemon(t, []string{"FASTCAPA_DEBUG_POISON=1"}, append(ealArgs(t), "-brokers", b.Addr, "-topic", topic,
				"-vdev", "net_pcap0,rx_pcap="+input, "-port", "net_pcap0", "-filter", expr)...)
			if engine := logField(t, d, "capture filter loaded", "engine"); engine != "jit" {
				t.Errorf("filter engine %q, want jit", engine)
			}
			waitReceived(t, d, len(recs), 30*time.Second)
			if got := waitRecords(t, b.Addr, topic, len(want), 30*time.Second); got < len(want) {
				t.Errorf("topic has %d records, want %d", got, len(want))
			}
			if code := d.stop(t); code != 0 {
				t.Errorf("exit status %d", code)
			}
			f := d.final(t)
			f.check(t)
			if f.Received != uint64(len(recs)) || f.Delivered != uint64(len(want)) ||
				f.Filtered != uint64(len(recs)-len(want)) {
				t.Errorf("received %d, delivered %d, filtered %d; want %d, %d, %d", f.Received, f.Delivered, f.Filtered,
					len(recs), len(want), len(recs)-len(want))
			}
			msgs := kcatRead(t, b.Addr, topic)
			if len(msgs) != len(want) {
				t.Fatalf("topic holds %d frames, tcpdump keeps %d", len(msgs), len(want))
			}
			for j, m := range msgs {
				if !bytes.Equal(m.Value, want[j].Data) {
					t.Fatalf("frame %d of the topic (%d B) is not tcpdump's frame %d (%d B)", j, len(m.Value), j,
						len(want[j].Data))
				}
			}
			t.Logf("%d of %d frames kept, as tcpdump", len(want), len(recs))
		})
	}
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
