package dpdk

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fastcapa-go/fastcapa/filter"
	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
)

// filterFrames are real frames of several kinds, each at most 9000 B:
// HTTP and DNS over IPv4, IPv6, ARP, VLAN-tagged, MPLS, and malformed
// ones.
func filterFrames(t *testing.T) [][]byte {
	t.Helper()
	var frames [][]byte
	for _, f := range []string{"metron-example.pcap", "tcpdump-tests/icmpv6.pcap", "tcpdump-tests/arp-oobr.pcap",
		"tcpdump-tests/tok2str-oobr-2.pcap", "tcpdump-tests/various_gre.pcap", "tcpdump-tests/ipv6-routing-header.pcap",
		"tcpdump-tests/accecn_handshake.pcap"} {
		path := filepath.Join(pcaps, f)
		recs := pcaptest.ReadAll(t, path)
		for i, r := range recs {
			if len(r.Data) <= 9000 && (len(frames) < 200 || i < 40) {
				frames = append(frames, r.Data)
			}
		}
	}
	if len(frames) < 100 {
		t.Fatalf("only %d frames", len(frames))
	}
	return frames
}

// TestFilterMatchesLibpcap loads libpcap's programs into librte_bpf, JIT
// and interpreter, and runs them over bursts of real frames in mbufs (one
// segment, and chains of 60-byte segments, so loads straddle segments):
// each keeps exactly the frames package filter keeps (libpcap's
// semantics, checked against pcap_offline_filter in filter's tests),
// in order, and frees the others.
func TestFilterMatchesLibpcap(t *testing.T) {
	requireEAL(t)
	pool, err := NewMempool(MempoolSpec{Name: "p-filter", Mbufs: 8191, Cache: 0, DataRoom: 2048 + 128, Socket: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	frames := filterFrames(t)
	t.Logf("%d frames", len(frames))
	for _, expr := range []string{
		"tcp", "udp port 53", "host 192.168.66.1", "net 192.168.0.0/16 and tcp dst port 80",
		"ip[8] < 64", "tcp[tcpflags] & tcp-syn != 0", "greater 500", "less 100", "not ip", "ip6", "arp",
		"vlan", "mpls", "icmp6 and ip6[40] == 128", "tcp[((tcp[12] & 0xf0) >> 2):4] = 0x47455420",
		"ether[0] & 1 != 0", "ip[6:2] & 0x1fff != 0 or ip[2:2] > 1400", "src portrange 1024-65535 and not udp",
	} {
		f, err := filter.New(filter.Spec{Expr: expr})
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		var want []int
		for i, fr := range frames {
			if f.Match(fr, uint32(len(fr))) {
				want = append(want, i)
			}
		}
		for _, interpret := range []bool{true, false} {
			lf, err := NewFilter(FilterSpec{Expr: expr, Program: f.Program(), Interpret: interpret})
			if err != nil {
				t.Fatalf("%s: %v", expr, err)
			}
			if !interpret && !lf.JIT() {
				t.Errorf("%s: no JIT code on this machine", expr)
			}
			for _, seg := range []int{0, 60} {
				var got []int
				for lo := 0; lo < len(frames); lo += 32 {
					hi := min(lo+32, len(frames))
					kept, err := filterForTest(lf, pool, frames[lo:hi], seg)
					if err != nil {
						t.Fatal(err)
					}
					for _, k := range kept {
						got = append(got, lo+k)
					}
				}
				if !slices.Equal(got, want) {
					t.Errorf("%q (%s, segments of %d B): kept %d frames %v,\nlibpcap keeps %d %v", expr, lf.Engine(), seg,
						len(got), got, len(want), want)
				}
			}
			lf.Close()
		}
	}
	if a := pool.Audit(); a.InUse != 0 {
		t.Errorf("%d mbufs in use after the test", a.InUse)
	}
}

// TestFilterRefuses: an empty program is an error, not a filter that
// keeps or drops everything; a loop ("protochain"), which
// rte_bpf_convert refuses with a bare EPERM, is named.
func TestFilterRefuses(t *testing.T) {
	requireEAL(t)
	if _, err := NewFilter(FilterSpec{Expr: "x"}); !errors.Is(err, ErrEmptyFilter) {
		t.Errorf("empty program: %v, want ErrEmptyFilter", err)
	}
	f, err := filter.New(filter.Spec{Expr: "ip6 protochain 6"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewFilter(FilterSpec{Expr: f.Expr(), Program: f.Program()}); !errors.Is(err, ErrBackwardJump) {
		t.Errorf("protochain: %v, want ErrBackwardJump", err)
	}
}
