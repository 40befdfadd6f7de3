package filter

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

var perFile = flag.Bool("oracle.perfile", false,
	"run tcpdump on each capture file for each filter (about a minute), rather than on one file per link type made of all of them")

// oracleFilters cover protocols, hosts, nets, ports and ranges, TCP
// flags, byte offsets (direct and indirect), ALU operations (division by
// a zero register, shifts by 32 or more, negation), len, Ethernet
// broadcast and multicast, VLAN, MPLS, IPv6, ICMPv6, ARP, boolean
// operators, and some that do not compile on a link type.
var oracleFilters = []string{
	"tcp",
	"udp port 53",
	"host 10.0.0.1",
	"host 192.168.138.158",
	"src net 62.75.0.0/16 and src port 80",
	"net 10.0.0.0/8",
	"dst net 224.0.0.0/4",
	"tcp portrange 1-1023",
	"udp portrange 5000-65535",
	"tcp[tcpflags] & (tcp-syn|tcp-fin) != 0",
	"tcp[13] = 0x12",
	"ip[6:2] & 0x3fff != 0",
	"ip[0] & 0xf != 5",
	"tcp[((tcp[12] & 0xf0) >> 2):4] = 0x47455420",
	"tcp port 80 and (((ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2)) != 0)",
	"icmp[icmptype] = icmp-echo or icmp[icmptype] = icmp-echoreply",
	"ip[2:2] / (ip[9] - 6) > 0",
	"ip[2:2] << ip[9] = 0 or ip[2:2] % 7 = 3 or ip[8] ^ 0xff < 200",
	"ip and -ip[8] < 0xffffffc0",
	"len > 1000",
	"less 64",
	"greater 9000",
	"ether broadcast",
	"ether multicast",
	"ether host 01:80:c2:00:00:0e or ether src aa:bb:cc:00:03:10",
	"ether proto 0x88cc",
	"vlan",
	"vlan and tcp",
	"vlan 100 and vlan 7",
	"mpls",
	"mpls and ip",
	"pppoes and ip",
	"geneve and ip",
	"ip6",
	"icmp6",
	"ip6 and tcp",
	"ip6 protochain 17",
	"ip6 dst net ff02::/16",
	"arp",
	"rarp",
	"isis or stp",
	"not ip and not ip6 and not arp",
	"icmp or (udp and not port 53)",
	"ip proto 47",
	"udp dst port 4789 or udp dst port 6081",
	"inbound",
	"ip broadcast",
	"wlan type mgt",
	"(tcp and (port 80 or port 443 or port 8080) and not src net 10.0.0.0/8) or (udp and portrange 5000-6000) or (icmp and ip[8] < 64) or (ip6 and tcp[tcpflags] & tcp-push != 0) or (arp and ether broadcast) or (len >= 1500 and ip[9] = 17) or ip6 protochain 58",
}

// innerFilters are matched with MatchVLAN against tcpdump running the
// expression package doc promises (vlanExprDoc); "vlan and tcp" is
// refused.
var innerFilters = []string{
	"tcp",
	"udp port 53",
	"host 10.21.11.94",
	"host 192.168.138.158 and tcp",
	"not ip",
	"ip6",
	"arp",
	"ether broadcast",
	"len > 100",
	"tcp[13] & 2 != 0",
	"ip[2:2] / (ip[9] - 6) > 0",
	"icmp or (udp and not port 53)",
	"ether[12:2] = 0x8100",
	"vlan and tcp",
}

// vlanExprDoc writes out VLANExpr's documented expression from its doc
// comment, independently of VLANExpr's code.
func vlanExprDoc(f string) string {
	tag := func(n string) string {
		return "(ether[" + n + ":2] = 0x8100 or ether[" + n + ":2] = 0x88a8 or ether[" + n + ":2] = 0x9100)"
	}
	s := "(not T12 and (F)) or (vlan and not T16 and (F)) or (T12 and vlan and (F))"
	return strings.NewReplacer("T12", tag("12"), "T16", tag("16"), "F", f).Replace(s)
}

// oracleInput is one file tcpdump reads and the records it holds.
type oracleInput struct {
	name     string
	path     string
	linkType uint32 // the file's
	recs     []pcap.Record
	origin   []string // capture and record index of each record, for messages
}

// oracleJob is one (input, filter) run.
type oracleJob struct {
	in    *oracleInput
	expr  string // ours
	vlan  bool   // MatchVLAN
	tcpEx string // what tcpdump runs
}

// tally counts what the oracle compared and skipped.
type tally struct {
	mu      sync.Mutex
	runs    int
	packets int            // packets compared
	matched int            // packets both kept
	skipped map[string]int // reason → (input, filter) runs
}

func (t *tally) skip(reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.skipped[reason]++
}

// TestAgainstTcpdump is the oracle: for every shared capture (and
// derived ones: QinQ-tagged frames, raw IP), every filter compiled for
// the capture's own link type keeps exactly the packets (timestamp,
// wire length, bytes, in order) `tcpdump -r FILE -w - FILTER` keeps. An
// expression that compiles for neither is skipped with libpcap's reason
// counted; one that compiles for only one is a failure unless it is
// "ip broadcast" (tcpdump -r compiles with netmask 0, we with none).
//
// By default tcpdump reads one file per link type holding every
// capture's records as libpcap reads them (checked against tcpdump
// reading each file unfiltered); -oracle.perfile runs it on each
// original file instead.
func TestAgainstTcpdump(t *testing.T) {
	bin := testenv.RequireTool(t, "tcpdump")
	start := time.Now()
	dir := t.TempDir()
	shared := sharedCaptures(t)
	caps := append([]capture{}, shared...)
	caps = append(caps, taggedCapture(t, dir, taggedSources(t, shared)), rawCapture(t, dir, shared))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	workers := 2 * runtime.GOMAXPROCS(0)

	// Every capture read as libpcap reads it, checked against tcpdump.
	var readErrs []string
	var mu sync.Mutex
	parallel(workers, len(caps), func(i int) {
		c := caps[i]
		want, err := pcaptest.Tcpdump(ctx, bin, []string{c.path}, "")
		msg := ""
		if err != nil {
			msg = err.Error()
		} else if d := pcaptest.Diff(want, c.recs); d != "" {
			msg = d
		}
		if msg != "" {
			mu.Lock()
			readErrs = append(readErrs, c.name+": "+msg)
			mu.Unlock()
		}
	})
	readTime := time.Since(start)
	for _, e := range readErrs {
		t.Errorf("read: %s", e)
	}

	inputs := mergedInputs(t, dir, caps)
	if *perFile {
		inputs = nil
		for _, c := range caps {
			in := &oracleInput{name: c.name, path: c.path, linkType: c.linkType, recs: c.recs}
			for j := range c.recs {
				in.origin = append(in.origin, fmt.Sprintf("%s #%d", c.name, j))
			}
			inputs = append(inputs, in)
		}
	}
	var jobs []oracleJob
	for _, in := range inputs {
		for _, e := range oracleFilters {
			jobs = append(jobs, oracleJob{in: in, expr: e, tcpEx: e})
		}
		for _, e := range innerFilters {
			jobs = append(jobs, oracleJob{in: in, expr: e, vlan: true, tcpEx: vlanExprDoc(e)})
		}
	}

	tl := &tally{skipped: map[string]int{}}
	var failures []string
	parallel(workers, len(jobs), func(i int) {
		if msg := runOracle(ctx, bin, jobs[i], tl); msg != "" {
			mu.Lock()
			failures = append(failures, msg)
			mu.Unlock()
		}
	})
	sort.Strings(failures)
	for _, f := range failures {
		t.Error(f)
	}

	reasons := make([]string, 0, len(tl.skipped))
	for r, n := range tl.skipped {
		reasons = append(reasons, fmt.Sprintf("%5d  %s", n, r))
	}
	sort.Strings(reasons)
	t.Logf("%d captures (%d shared), %d tcpdump inputs, %d filters plain + %d MatchVLAN: %d runs compared, %d packet decisions, %d kept; %s (reading and checking the captures %s)",
		len(caps), len(shared), len(inputs), len(oracleFilters), len(innerFilters), tl.runs, tl.packets, tl.matched,
		time.Since(start).Round(time.Millisecond), readTime.Round(time.Millisecond))
	t.Logf("skipped (runs, reason):\n%s", strings.Join(reasons, "\n"))
	if tl.runs == 0 {
		t.Fatal("nothing compared")
	}
}

// runOracle runs one job and returns a failure, or "".
func runOracle(ctx context.Context, bin string, j oracleJob, tl *tally) string {
	label := fmt.Sprintf("%s, %q", j.in.name, j.expr)
	if j.vlan {
		label += " MatchVLAN"
	}
	f, ourErr := New(Spec{Expr: j.expr, LinkType: dltOf(j.in.linkType), MatchVLAN: j.vlan})
	if ourErr == nil && j.vlan && f.Expr() != j.tcpEx {
		return fmt.Sprintf("%s: compiled %q, not the documented %q", label, f.Expr(), j.tcpEx)
	}
	if ourErr != nil && j.vlan && errors.Is(ourErr, ErrMatchVLAN) {
		tl.skip(fmt.Sprintf("link type %d: MatchVLAN: %s", j.in.linkType, strings.TrimPrefix(ourErr.Error(), fmt.Sprintf("filter %q: ", j.expr))))
		return ""
	}
	want, tcpErr := pcaptest.Tcpdump(ctx, bin, []string{j.in.path}, j.tcpEx)
	var te *pcaptest.TcpdumpError
	if tcpErr != nil && !errors.As(tcpErr, &te) {
		return fmt.Sprintf("%s: %v", label, tcpErr)
	}
	switch {
	case ourErr != nil && tcpErr != nil:
		msg := strings.TrimPrefix(ourErr.Error(), fmt.Sprintf("filter %q: ", j.expr))
		if errors.Is(ourErr, ErrKernelOnly) && strings.Contains(te.Message(), "when reading savefiles") {
			tl.skip(fmt.Sprintf("link type %d: %q: %v; tcpdump: %s", j.in.linkType, j.expr, ErrKernelOnly, te.Message()))
			return ""
		}
		if !errors.Is(ourErr, ErrCompile) || !strings.Contains(te.Message(), msg) {
			return fmt.Sprintf("%s: both refuse, for different reasons: we %v; %v", label, ourErr, tcpErr)
		}
		tl.skip(fmt.Sprintf("link type %d: %s", j.in.linkType, msg))
		return ""
	case ourErr != nil:
		if strings.Contains(ourErr.Error(), "netmask not known") {
			tl.skip(fmt.Sprintf("link type %d: %q: netmask unknown here, 0 in tcpdump -r", j.in.linkType, j.expr))
			return ""
		}
		return fmt.Sprintf("%s: we refuse (%v), tcpdump compiles it", label, ourErr)
	case tcpErr != nil:
		return fmt.Sprintf("%s: we compile it, tcpdump refuses: %v", label, tcpErr)
	}
	var got []pcap.Record
	var origin []string
	for i, r := range j.in.recs {
		if f.Match(r.Data, r.OrigLen) {
			got = append(got, r)
			origin = append(origin, j.in.origin[i])
		}
	}
	if d := pcaptest.Diff(want, got); d != "" {
		return fmt.Sprintf("%s: %s (our matches come from %s)", label, d, summarize(origin))
	}
	tl.mu.Lock()
	tl.runs++
	tl.packets += len(j.in.recs)
	tl.matched += len(got)
	tl.mu.Unlock()
	return ""
}

// summarize shortens a list of record origins for a message.
func summarize(origin []string) string {
	if len(origin) > 5 {
		return strings.Join(origin[:5], ", ") + fmt.Sprintf(" and %d more", len(origin)-5)
	}
	return strings.Join(origin, ", ")
}

// mergedInputs writes one file per link type holding every capture's
// records in turn.
func mergedInputs(t *testing.T, dir string, caps []capture) []*oracleInput {
	t.Helper()
	byType := map[uint32]*oracleInput{}
	var out []*oracleInput
	for _, c := range caps {
		in := byType[c.linkType]
		if in == nil {
			in = &oracleInput{
				name:     fmt.Sprintf("all link-type-%d captures", c.linkType),
				path:     filepath.Join(dir, fmt.Sprintf("merged-%d.pcap", c.linkType)),
				linkType: c.linkType,
			}
			byType[c.linkType] = in
			out = append(out, in)
		}
		for j, r := range c.recs {
			in.recs = append(in.recs, r)
			in.origin = append(in.origin, fmt.Sprintf("%s #%d", c.name, j))
		}
	}
	for _, in := range out {
		pcaptest.WriteLinkType(t, in.path, in.linkType, in.recs)
	}
	return out
}

// taggedSources picks real frames to tag: HTTP and DNS over IPv4, IPv6
// and ICMPv6, ARP, LLDP and CDP.
func taggedSources(t *testing.T, shared []capture) []pcap.Record {
	t.Helper()
	want := map[string]int{
		"metron-example.pcap": 200, "icmpv6.pcap": 50, "dns_udp.pcap": 50, "dhcpv6-ia-na.pcap": 50,
		"LLDP_and_CDP.pcap": 50, "arp-oobr.pcap": 50, "ipv6-routing-header.pcap": 50,
	}
	var recs []pcap.Record
	for _, c := range shared {
		if n, ok := want[c.name]; ok {
			recs = append(recs, c.recs[:min(n, len(c.recs))]...)
			delete(want, c.name)
		}
	}
	if len(want) > 0 {
		t.Fatalf("captures missing: %v", want)
	}
	return recs
}

// parallel runs fn(0..n-1) on workers goroutines.
func parallel(workers, n int, fn func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}
