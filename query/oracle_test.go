package query

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/filter"
	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// oracleQuery is a query and the tcpdump expression that must keep the
// same packets. Fixed queries carry their expression written out by hand
// from Metron's rules (Fixed's doc), not by Fixed.Expr, so a mistake in
// Expr shows.
type oracleQuery struct {
	name   string
	fixed  *Fixed // a fixed query, else expr
	expr   string
	vlan   bool   // MatchVLAN (tcpdump then runs filter.VLANExpr(oracle))
	oracle string // tcpdump's expression; for expr queries, expr
	// window, if set, bounds the time: from the record at window[0] of
	// the way through the input's sorted times to the one at window[1],
	// so that a record sits on each boundary (both inclusive).
	window *[2]float64
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

var oracleQueries = []oracleQuery{
	{name: "fixed src addr", fixed: &Fixed{SrcAddr: addr("192.168.138.158")}, vlan: true,
		oracle: "ip src host 192.168.138.158"},
	{name: "fixed dst addr and port", fixed: &Fixed{DstAddr: addr("62.75.195.236"), DstPort: 80}, vlan: true,
		oracle: "ip dst host 62.75.195.236 and (tcp dst port 80 or udp dst port 80)"},
	{name: "fixed pair include-reverse", fixed: &Fixed{SrcAddr: addr("192.168.138.158"), DstAddr: addr("62.75.195.236"), IncludeReverse: true}, vlan: true,
		oracle: "(ip src host 192.168.138.158 and ip dst host 62.75.195.236) or (ip src host 62.75.195.236 and ip dst host 192.168.138.158)"},
	{name: "fixed protocol 17", fixed: &Fixed{Protocol: 17}, vlan: true,
		oracle: "ip proto 17 or ip6 proto 17"},
	{name: "fixed tcp port 80 include-reverse", fixed: &Fixed{Protocol: 6, SrcPort: 80, IncludeReverse: true}, vlan: true,
		oracle: "(ip proto 6 or ip6 proto 6) and (tcp src port 80 or udp src port 80 or tcp dst port 80 or udp dst port 80)"},
	{name: "fixed src port 53", fixed: &Fixed{SrcPort: 53}, vlan: true,
		oracle: "tcp src port 53 or udp src port 53"},
	{name: "fixed icmp", fixed: &Fixed{Protocol: 1}, vlan: true,
		oracle: "ip proto 1 or ip6 proto 1"},
	{name: "fixed ipv6 include-reverse", fixed: &Fixed{SrcAddr: addr("fe80::1"), IncludeReverse: true}, vlan: true,
		oracle: "ip6 src host fe80::1 or ip6 dst host fe80::1"},
	{name: "fixed 4-tuple include-reverse", fixed: &Fixed{SrcAddr: addr("10.21.11.94"), SrcPort: 80, DstAddr: addr("10.114.101.120"), DstPort: 5767, IncludeReverse: true}, vlan: true,
		oracle: "(ip src host 10.21.11.94 and ip dst host 10.114.101.120 and (tcp src port 80 or udp src port 80) and (tcp dst port 5767 or udp dst port 5767))" +
			" or (ip src host 10.114.101.120 and ip dst host 10.21.11.94 and (tcp src port 5767 or udp src port 5767) and (tcp dst port 80 or udp dst port 80))"},
	{name: "fixed without VLAN", fixed: &Fixed{Protocol: 6, DstPort: 80},
		oracle: "(ip proto 6 or ip6 proto 6) and (tcp dst port 80 or udp dst port 80)"},
	{name: "fixed nothing", fixed: &Fixed{}, vlan: true, oracle: ""},
	{name: "fixed in a time window", fixed: &Fixed{SrcAddr: addr("192.168.138.158"), IncludeReverse: true}, vlan: true, window: &[2]float64{0.82, 0.87},
		oracle: "ip src host 192.168.138.158 or ip dst host 192.168.138.158"},
	{name: "tcp", expr: "tcp"},
	{name: "udp port 53", expr: "udp port 53"},
	{name: "net", expr: "net 10.0.0.0/8"},
	{name: "syn from a host", expr: "host 192.168.138.158 and tcp[tcpflags] & tcp-syn != 0"},
	{name: "ip6", expr: "ip6"},
	{name: "vlan and tcp", expr: "vlan and tcp"},
	{name: "port 80 inside VLANs", expr: "tcp port 80", vlan: true},
	{name: "len", expr: "len > 1000"},
	{name: "tcp in a time window", expr: "tcp", window: &[2]float64{0.5, 0.9}},
	{name: "everything", expr: ""},
}

// spec is q's Spec over paths, for the given time window (ns, 0 open).
func (q oracleQuery) spec(paths []string, start, end int64) Spec {
	s := Spec{Paths: paths, Filter: q.expr, MatchVLAN: q.vlan}
	if q.fixed != nil {
		s.Filter = q.fixed.Expr()
	}
	if start != 0 {
		s.Start = time.Unix(0, start)
	}
	if end != 0 {
		s.End = time.Unix(0, end)
	}
	return s
}

// tcpdumpExpr is the expression tcpdump runs for q.
func (q oracleQuery) tcpdumpExpr() string {
	e := q.oracle
	if q.fixed == nil {
		e = q.expr
	}
	if q.vlan {
		e = filter.VLANExpr(e)
	}
	return e
}

// bounds is q's time window over the given times (sorted here), or 0, 0.
func (q oracleQuery) bounds(times []int64) (int64, int64) {
	if q.window == nil || len(times) == 0 {
		return 0, 0
	}
	slices.Sort(times)
	at := func(f float64) int64 { return times[min(len(times)-1, int(f*float64(len(times))))] }
	return at(q.window[0]), at(q.window[1])
}

// sharedRecords returns a shared capture's records, read with package
// pcap, and whether it is a nanosecond file.
func sharedRecords(t *testing.T, path string) ([]pcap.Record, bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcap.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := pcap.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs, r.Header().Nanos
}

// TestSharedCapturesAgainstTcpdump queries every shared capture on its
// own, with every oracle query, and checks the packets returned equal,
// byte for byte and in order, what tcpdump keeps reading the same file.
// tcpdump reads the microsecond files in one run per query (-V, a list of
// files, each read on its own; tcpdump 4.99 opens the files after the
// first at the default precision, so that run is at microseconds), and
// any nanosecond file in a run of its own; the query's results per file
// are concatenated in the same order. Thirteen captures hold records
// longer than their snapshot length: the query returns them cut to it,
// as tcpdump does.
func TestSharedCapturesAgainstTcpdump(t *testing.T) {
	bin := testenv.RequireTool(t, "tcpdump")
	start := time.Now()
	paths := testenv.AllPcaps(t)
	if len(paths) < 200 {
		t.Fatalf("%d shared captures, expected over 200", len(paths))
	}
	var micros, nanos []string
	var times []int64
	for _, p := range paths {
		recs, ns := sharedRecords(t, p)
		if ns {
			nanos = append(nanos, p)
		} else {
			micros = append(micros, p)
		}
		for _, r := range recs {
			times = append(times, r.Timestamp)
		}
	}
	inputs := append(slices.Clone(micros), nanos...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	compared := 0
	for _, q := range oracleQueries {
		// A window is over the times of all the files: it takes some
		// files whole, some in part, and most not at all.
		lo, hi := q.bounds(slices.Clone(times))
		want, err := pcaptest.Tcpdump(ctx, bin, micros, q.tcpdumpExpr())
		if err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		for _, p := range nanos {
			recs, err := pcaptest.Tcpdump(ctx, bin, []string{p}, q.tcpdumpExpr())
			if err != nil {
				t.Fatalf("%s: %v", q.name, err)
			}
			want = append(want, recs...)
		}
		want = inRange(want, lo, hi)
		if len(want) == 0 {
			t.Errorf("%s: tcpdump keeps nothing: the check would be vacuous", q.name)
		}
		var got []pcap.Record
		for _, in := range inputs {
			recs, st, err := collect(ctx, q.spec([]string{in}, lo, hi))
			if err != nil {
				t.Fatalf("%s: %s: %v", q.name, in, err)
			}
			if len(st.Failed)+len(st.Truncated) > 0 || st.Captures != 1 {
				t.Errorf("%s: %s: %+v", q.name, in, st)
			}
			got = append(got, recs...)
		}
		if d := pcaptest.Diff(want, got); d != "" {
			t.Errorf("%s: %s", q.name, d)
		}
		compared += len(got)
	}
	t.Logf("%d queries × %d captures (%d nanosecond): %d packets compared, in %v", len(oracleQueries), len(inputs), len(nanos), compared, time.Since(start).Round(time.Millisecond))
}

// mixedFile is one file of the directory TestMergedDirectoryAgainstTcpdump
// builds.
type mixedFile struct {
	name string
	opts pcaptest.File
	recs []pcap.Record // as they read back
}

// mixedDir writes a directory of captures that overlap in time: copies of
// metron-example.pcap shifted by 20 s steps (so up to six overlap), some
// under one or two VLAN tags, one exactly as another but tagged (every
// record a tie), in every format and compression package pcap writes, in
// a subdirectory too; and shared captures whose records go back in time,
// shifted into the same span. Besides, the files a store directory holds
// that are not captures. It returns the captures in lexical path order.
func mixedDir(t *testing.T, dir string) []mixedFile {
	t.Helper()
	pcaps := testenv.Pcaps(t)
	metron := pcaptest.ReadAll(t, filepath.Join(pcaps, "metron-example.pcap"))
	base := int64(1_700_000_000e9) - metron[0].Timestamp
	var files []mixedFile
	add := func(name string, o pcaptest.File, recs []pcap.Record) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		files = append(files, mixedFile{name: name, opts: o, recs: pcaptest.WriteCapture(t, p, o, recs)})
	}
	tag := func(recs []pcap.Record, stack ...uint16) []pcap.Record {
		out := make([]pcap.Record, len(recs))
		for i, r := range recs {
			out[i] = tagged(r, stack...)
		}
		return out
	}
	step := int64(20e9)
	add("a/p0-0000.pcap", pcaptest.File{}, shifted(metron, base))
	add("a/p0-0001.pcap.zst", pcaptest.File{Compression: pcap.CompressZstd}, shifted(metron, base+2*step+7))
	add("b/p1-0000.pcapng", pcaptest.File{Format: pcap.FormatPcapNG}, tag(shifted(metron, base+step+3), 0x8100, 100))
	add("b/p1-0001.pcap.gz", pcaptest.File{Compression: pcap.CompressGzip, Micro: true}, tag(shifted(metron, base+3*step), 0x88a8, 200, 0x8100, 101))
	add("b/p1-0002.pcapng.lz4", pcaptest.File{Format: pcap.FormatPcapNG, Compression: pcap.CompressLZ4}, shifted(metron, base+4*step+11))
	add("c/same-time-tagged.pcap", pcaptest.File{}, tag(shifted(metron, base), 0x9100, 300))
	add("c/sub/p2-0000.pcap", pcaptest.File{Micro: true}, shifted(metron, base+5*step))
	for i, n := range []string{"kday4.pcap", "babel_update_oobr.pcap", "bgp_vpn_rt-oobr.pcap", "vxlan.pcap", "ipv6-routing-header.pcap"} {
		recs := pcaptest.ReadAll(t, filepath.Join(pcaps, "tcpdump-tests", n))
		add("d/"+n, pcaptest.File{}, shifted(recs, int64(1_700_000_010e9)+int64(i)*7e9-recs[0].Timestamp))
	}
	// Not captures: skipped, each for its reason.
	for name, data := range map[string]string{
		"a/.p0-0002.pcap.0123456789abcdef.inprogress": "\xd4\xc3\xb2\xa1 partial",
		"deadletter.jsonl":                            "{}\n",
		"a/p0-0000.pcap.idx":                          "index",
		"README.txt":                                  "not a capture\n",
		".hidden/p9-0000.pcap":                        "\xd4\xc3\xb2\xa1",
		"d/empty-but-named.bin":                       "",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	slices.SortFunc(files, func(a, b mixedFile) int { return strings.Compare(a.name, b.name) })
	return files
}

// TestMergedDirectoryAgainstTcpdump queries a directory of overlapping
// captures (mixedDir) and checks the packets equal, byte for byte and in
// order, what tcpdump keeps of mergecap's chronological merge of the same
// records, for every oracle query and with 1, 2 and 8 workers. The files
// go to mergecap in reverse of the query's order (first record's time,
// then path), since mergecap gives ties to the file named last.
func TestMergedDirectoryAgainstTcpdump(t *testing.T) {
	bin := testenv.RequireTool(t, "tcpdump")
	mc := testenv.RequireTool(t, "mergecap")
	start := time.Now()
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	files := mixedDir(t, store)

	// The oracle's inputs: each file's records as plain pcap, named in
	// reverse of the query's order.
	order := slices.Clone(files)
	slices.SortStableFunc(order, func(a, b mixedFile) int {
		return cmp.Compare(a.recs[0].Timestamp, b.recs[0].Timestamp)
	})
	var plain []string
	var times []int64
	for i := len(order) - 1; i >= 0; i-- {
		p := filepath.Join(dir, fmt.Sprintf("plain-%02d.pcap", i))
		pcaptest.WriteCapture(t, p, pcaptest.File{}, order[i].recs)
		plain = append(plain, p)
		for _, r := range order[i].recs {
			times = append(times, r.Timestamp)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	merged := filepath.Join(dir, "merged.pcap")
	if err := mergecap(ctx, mc, merged, plain); err != nil {
		t.Fatal(err)
	}

	compared := 0
	for _, q := range oracleQueries {
		want, err := pcaptest.Tcpdump(ctx, bin, []string{merged}, q.tcpdumpExpr())
		if err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		lo, hi := q.bounds(slices.Clone(times))
		want = inRange(want, lo, hi)
		for _, workers := range []int{1, 2, 8} {
			spec := q.spec([]string{store}, lo, hi)
			spec.Workers = workers
			got, st, err := collect(ctx, spec)
			if err != nil {
				t.Fatalf("%s: %v", q.name, err)
			}
			if d := pcaptest.Diff(want, got); d != "" {
				t.Errorf("%s, %d workers: %s", q.name, workers, d)
			}
			if st.Captures != len(files) || st.Scanned != len(files) || len(st.Failed) != 0 || len(st.Truncated) != 0 || st.Unread != 0 {
				t.Errorf("%s: stats %+v", q.name, st)
			}
			if st.Matched != int64(len(got)) {
				t.Errorf("%s: Matched %d, emitted %d", q.name, st.Matched, len(got))
			}
		}
		compared += len(want)
	}
	// Every skip named, for its reason.
	_, st, err := collect(ctx, Spec{Paths: []string{store}})
	if err != nil {
		t.Fatal(err)
	}
	wantSkips := map[string]string{
		"a/.p0-0002.pcap.0123456789abcdef.inprogress": SkipHidden,
		".hidden":               SkipHidden,
		"deadletter.jsonl":      SkipSidecar,
		"a/p0-0000.pcap.idx":    SkipIndex,
		"README.txt":            SkipNotCapture,
		"d/empty-but-named.bin": SkipNotCapture,
	}
	gotSkips := map[string]string{}
	for _, s := range st.Skipped {
		rel, _ := filepath.Rel(store, s.Path)
		gotSkips[rel] = s.Reason
	}
	if fmt.Sprint(gotSkips) != fmt.Sprint(wantSkips) {
		t.Errorf("skipped %v, want %v", gotSkips, wantSkips)
	}
	if st.OutOfOrder == 0 {
		t.Errorf("OutOfOrder 0: the files going back in time should show")
	}
	t.Logf("%d files, %d queries × 3 worker counts: %d packets compared, in %v", len(files), len(oracleQueries), compared, time.Since(start).Round(time.Millisecond))
}
