package records_test

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
	"github.com/fastcapa-go/fastcapa/records"
)

// never is a timeout no flow of the shared captures reaches: their
// flows end with the input, as tshark's conversations do.
const never = 200 * 365 * 24 * time.Hour

// shared is the shared captures' records, written by RunFiles over
// their directory, and every frame of them in one capture for tshark.
type shared struct {
	out    string        // the records' root
	all    string        // every frame, in one capture
	frames []pcap.Record // as all holds them
	refs   []string      // each frame's source and position: "PATH#N"
	res    records.FilesResult
}

func loadShared(t *testing.T) *shared {
	t.Helper()
	s := &shared{out: t.TempDir()}
	for _, p := range testenv.AllPcaps(t) {
		c, err := pcap.OpenFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := pcap.ReadAll(c)
		c.Close()
		if err != nil {
			t.Logf("%s: %v: the records before it are used", p, err)
		}
		for i, r := range rs {
			if r.LinkType != pcap.LinkTypeEthernet {
				t.Fatalf("%s: link type %d: the shared captures are Ethernet", p, r.LinkType)
			}
			s.frames = append(s.frames, r)
			s.refs = append(s.refs, fmt.Sprintf("%s#%d", p, i+1))
		}
	}
	s.all = filepath.Join(t.TempDir(), "all.pcap")
	s.frames = pcaptest.WriteCapture(t, s.all, pcaptest.File{}, s.frames)
	var err error
	s.res, err = records.RunFiles(context.Background(), records.FilesSpec{
		Paths: []string{testenv.Pcaps(t)},
		Writer: records.WriterSpec{Dir: s.out, Packets: true, Flows: true, Stem: "test",
			Timeouts: records.Timeouts{Idle: never, Active: never, Close: never}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.res.Failed) > 0 || s.res.Packets != int64(len(s.frames)) {
		t.Fatalf("RunFiles: %d packets of %d, failed %v", s.res.Packets, len(s.frames), s.res.Failed)
	}
	return s
}

// duck opens DuckDB in memory, UTC.
func duck(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`SET TimeZone = 'UTC'`); err != nil {
		t.Fatal(err)
	}
	return db
}

// tsharkFields runs tshark over path and returns a line of fields per
// frame.
func tsharkFields(t *testing.T, path string, fields ...string) [][]string {
	t.Helper()
	tshark := testenv.RequireTool(t, "tshark")
	args := []string{"-r", path, "-n", "-o", "tcp.desegment_tcp_streams:FALSE", "-o", "ip.defragment:FALSE",
		"-o", "ipv6.defragment:FALSE", "--enable-protocol", "communityid", "-T", "fields", "-E", "occurrence=a", "-E", "separator=\t"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command(tshark, args...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		rows = append(rows, strings.Split(line, "\t"))
	}
	return rows
}

// differentFromTshark are the frames whose headers tshark and index's
// walk read differently, by capture, and why. Each is checked to
// differ (so the list stays true) and left out of the comparisons.
var differentFromTshark = map[string]string{
	"bigtcp-ipv4-vxlan-ipv6.pcap":            "tshark does not decode the inner packet of a 64 KiB big TCP VXLAN frame",
	"bigtcp-ipv6-vxlan-ipv6.pcap":            "tshark does not decode the inner packet of a 64 KiB big TCP VXLAN frame",
	"bigtcp-ipv6.pcap":                       "IPv6 payload length 0 (big TCP): tshark gives no Community ID",
	"ipv4_invalid_total_length_2.pcap":       "an IPv4 total length under the header's: tshark drops the header, the walk reads it",
	"ipv6-bad-version.pcap":                  "a version-4 nibble under EtherType 0x86dd: tshark shows data, the walk reads it",
	"ipv6_39_byte_header.pcap":               "an IPv6 header cut short: tshark shows its addresses, the walk needs 40 bytes",
	"ipv6_invalid_length.pcap":               "an IPv6 header cut short: tshark shows its addresses, the walk needs 40 bytes",
	"sflow-print-v6.pcap":                    "tshark decodes the packets sFlow samples carry; the walk does not",
	"nhrp-trace.pcap":                        "tshark decodes the packet an NHRP error indication quotes; the walk does not",
	"icmp-icmp_print-oobr-1.pcap":            "an ICMP header cut short: tshark hashes no type and code",
	"udp-length-heapoverflow.pcap":           "a UDP length past the frame: tshark hashes no ports",
	"ip_printroute_asan.pcap":                "malformed IPv4 options: tshark does not decode the UDP header",
	"rpl-dao-oobr.pcap":                      "a malformed ICMPv6 RPL message: tshark gives no Community ID",
	"ip6_frag_asan.pcap":                     "an IPv6 fragment header cut short: tshark gives no next header, the walk reads it",
	"ipv6_frag6_negative_len.pcap":           "IPv6 payload length 0: tshark does not read the fragment header's next header",
	"bad-ipv4-version-pgm-heapoverflow.pcap": "an IPv6 header cut short behind EtherType 0x0800: tshark shows its hop limit, the walk needs 40 bytes",
}

// tsharkFrame is one frame as tshark reads it: its innermost IP header
// (the last before any ICMP, whose quoted packet is not a layer of
// ours) and what follows it.
type tsharkFrame struct {
	ts, length, caplen       string
	src, dst, ttl, proto     string
	sport, dport             string
	seq, ack, tcpFlags       string
	ipFlags, vlan, community string
	ipv6Upper                string // the token after the innermost IPv6 chain
}

var tsharkFieldNames = []string{"frame.time_epoch", "frame.len", "frame.cap_len", "frame.protocols",
	"ip.src", "ip.dst", "ip.ttl", "ip.proto", "ip.flags", "ipv6.src", "ipv6.dst", "ipv6.hlim",
	"tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags",
	"vlan.id", "communityid", "ipv6.nxt",
	"ipv6.hopopts.nxt", "ipv6.routing.nxt", "ipv6.fraghdr.nxt", "ipv6.dstopts.nxt", "ah.next_header"}

// protocol is the innermost IP header's upper-layer protocol number, ""
// without an IP header.
func (f tsharkFrame) protocol(t *testing.T, ref string) string {
	if f.ipv6Upper == "" {
		return f.proto
	}
	p, ok := protoNumbers[f.ipv6Upper]
	if !ok {
		t.Fatalf("%s: tshark's %q after an extension header: add its number to protoNumbers", ref, f.ipv6Upper)
	}
	return p
}

func parseTshark(f []string) tsharkFrame {
	get := func(name string, occ int) string { // occ 0: the last
		for i, n := range tsharkFieldNames {
			if n == name && i < len(f) && f[i] != "" {
				vs := strings.Split(f[i], ",")
				if occ == 0 {
					return vs[len(vs)-1]
				}
				if occ <= len(vs) {
					return vs[occ-1]
				}
			}
		}
		return ""
	}
	t := tsharkFrame{ts: get("frame.time_epoch", 1), length: get("frame.len", 1), caplen: get("frame.cap_len", 1),
		vlan: get("vlan.id", 1), community: get("communityid", 1)}
	protos := strings.Split(f[3], ":")
	nip, nip6, last, at := 0, 0, "", -1
	vlans := 0
	for i, p := range protos {
		if p == "icmp" || p == "icmpv6" {
			break
		}
		switch p {
		case "vlan":
			if at < 0 {
				vlans++
			}
		case "ip":
			nip++
			last, at = p, i
		case "ipv6":
			nip6++
			last, at = p, i
		}
	}
	if vlans == 0 {
		t.vlan = "" // only the tags before the outer IP header are the frame's
	}
	next, ext, lastExt := "", false, ""
	if at >= 0 {
		for _, p := range protos[at+1:] {
			if strings.HasPrefix(p, "ipv6.") || p == "ah" { // AH is one of IPv6's extension headers
				ext, lastExt = true, p
				continue
			}
			next = p
			break
		}
	}
	switch last {
	case "ip":
		t.src, t.dst, t.ttl, t.proto, t.ipFlags = get("ip.src", nip), get("ip.dst", nip), get("ip.ttl", nip), get("ip.proto", nip), get("ip.flags", nip)
		if ext {
			t.proto, t.ipv6Upper = "", next // behind IPv4's AH: the upper layer, by name
		}
	case "ipv6":
		t.src, t.dst, t.ttl = get("ipv6.src", nip6), get("ipv6.dst", nip6), get("ipv6.hlim", nip6)
		if ext {
			t.ipv6Upper = next // the protocol by name: tshark gives each extension header's next header apart
		} else {
			t.proto = get("ipv6.nxt", nip6)
		}
	}
	if ext && next == "" {
		// The chain ends at an extension header: its next header field.
		field := lastExt + ".nxt"
		if lastExt == "ah" {
			field = "ah.next_header"
		}
		t.proto, t.ipv6Upper = get(field, 0), ""
	}
	switch next {
	case "tcp":
		t.sport, t.dport = get("tcp.srcport", 0), get("tcp.dstport", 0)
		t.seq, t.ack, t.tcpFlags = get("tcp.seq_raw", 0), get("tcp.ack_raw", 0), get("tcp.flags", 0)
	case "udp":
		t.sport, t.dport = get("udp.srcport", 0), get("udp.dstport", 0)
	}
	return t
}

// ourRow is a packet record as DuckDB reads it back, each column as
// text ("" for null), in tsharkFrame's terms.
type ourRow struct {
	ts, length, caplen               string
	src, dst, ttl, proto             string
	sport, dport, seq, ack, tcpFlags string
	ipFlags, vlan, community         string
}

// readPackets reads every packet record under out with DuckDB, by
// "SOURCE#POSITION".
func readPackets(t *testing.T, db *sql.DB, out string) map[string]ourRow {
	t.Helper()
	rows, err := db.Query(`SELECT source || '#' || position,
		ts_ns::VARCHAR, length::VARCHAR, caplen::VARCHAR,
		coalesce(src, ''), coalesce(dst, ''), coalesce(ttl::VARCHAR, ''), coalesce(proto::VARCHAR, ''),
		coalesce(src_port::VARCHAR, ''), coalesce(dst_port::VARCHAR, ''),
		coalesce(tcp_seq::VARCHAR, ''), coalesce(tcp_ack::VARCHAR, ''), coalesce(printf('0x%04x', tcp_flags), ''),
		coalesce(printf('0x%02x', ip_flags), ''), coalesce(vlan::VARCHAR, ''), coalesce(community_id, '')
		FROM read_parquet(?, hive_partitioning = true)`, out+"/packets/**/*.parquet")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	m := map[string]ourRow{}
	for rows.Next() {
		var ref string
		var r ourRow
		if err := rows.Scan(&ref, &r.ts, &r.length, &r.caplen, &r.src, &r.dst, &r.ttl, &r.proto, &r.sport, &r.dport,
			&r.seq, &r.ack, &r.tcpFlags, &r.ipFlags, &r.vlan, &r.community); err != nil {
			t.Fatal(err)
		}
		m[ref] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// epochNs turns tshark's frame.time_epoch ("1431031896.723375000") into
// ns.
func epochNs(t *testing.T, s string) string {
	sec, frac, _ := strings.Cut(s, ".")
	frac = (frac + "000000000")[:9]
	n, err := strconv.ParseInt(sec+frac, 10, 64)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return strconv.FormatInt(n, 10)
}

// TestPacketsMatchTshark: every packet record of the shared captures,
// read back by DuckDB, holds what tshark reads in the same frame: time
// (ns), lengths, the first VLAN ID, the innermost IP header's
// addresses, TTL, flags and protocol, the ports, TCP's sequence,
// acknowledgement and flags behind it, and tshark's own Community ID
// (for TCP, UDP, SCTP, ICMP and ICMPv6: tshark gives none for other
// protocols, which the specification hashes on addresses). The frames
// of differentFromTshark are the only ones that differ, and each does.
func TestPacketsMatchTshark(t *testing.T) {
	s := loadShared(t)
	ours := readPackets(t, duck(t), s.out)
	if len(ours) != len(s.frames) {
		t.Fatalf("%d packet records for %d frames", len(ours), len(s.frames))
	}
	lines := tsharkFields(t, s.all, tsharkFieldNames...)
	if len(lines) != len(s.frames) {
		t.Fatalf("tshark printed %d lines for %d frames", len(lines), len(s.frames))
	}
	differs := map[string]bool{}
	compared, cids, tcps := 0, 0, 0
	for i, line := range lines {
		ref := s.refs[i]
		file := filepath.Base(ref[:strings.LastIndexByte(ref, '#')])
		want := parseTshark(line)
		got, ok := ours[ref]
		if !ok {
			t.Fatalf("%s: no packet record", ref)
		}
		var bad []string
		check := func(what, g, w string) {
			if g != w {
				bad = append(bad, fmt.Sprintf("%s %q, tshark %q", what, g, w))
			}
		}
		check("ts", got.ts, epochNs(t, want.ts))
		check("length", got.length, want.length)
		check("caplen", got.caplen, want.caplen)
		check("vlan", got.vlan, want.vlan)
		check("src", got.src, want.src)
		check("dst", got.dst, want.dst)
		check("ttl", got.ttl, want.ttl)
		check("proto", got.proto, want.protocol(t, ref))
		if want.ipFlags != "" {
			check("ip_flags", got.ipFlags, want.ipFlags)
		}
		if want.sport != "" {
			check("src_port", got.sport, want.sport)
			check("dst_port", got.dport, want.dport)
		}
		if want.seq != "" {
			tcps++
			check("tcp_seq", got.seq, want.seq)
			check("tcp_ack", got.ack, want.ack)
			check("tcp_flags", got.tcpFlags, want.tcpFlags)
		}
		switch got.proto {
		case "1", "6", "17", "58", "132":
			if got.community != "" || want.community != "" {
				cids++
				check("community_id", got.community, want.community)
			}
		}
		if _, known := differentFromTshark[file]; known {
			if len(bad) > 0 {
				differs[file] = true
			}
			continue
		}
		compared++
		if len(bad) > 0 {
			t.Errorf("%s: %s", ref, strings.Join(bad, "; "))
		}
	}
	for file, why := range differentFromTshark {
		if !differs[file] {
			t.Errorf("%s no longer differs from tshark (%s): take it off the list", file, why)
		}
	}
	t.Logf("%d frames compared (%d TCP, %d Community IDs); %d captures differ as listed", compared, tcps, cids, len(differs))
	if compared < 6000 || tcps < 1000 || cids < 2000 {
		t.Errorf("too little compared")
	}
}

// protoNumbers are the protocols that follow an IPv6 header's chain in
// the shared captures, by tshark's name.
var protoNumbers = map[string]string{"tcp": "6", "udp": "17", "icmpv6": "58", "sctp": "132", "gre": "47",
	"ip": "4", "ipv6": "41", "ospf": "89", "pim": "103", "esp": "50", "ah": "51", "vrrp": "112"}

// The seed's three Drill queries, in DuckDB's SQL over the Parquet tree
// read in place with its Hive partitions.
const (
	seedCount    = `SELECT count(*) FROM read_parquet($1, hive_partitioning = true)`
	seedPerProto = `SELECT coalesce(proto, -1) AS proto, count(*) AS packets, max(length), avg(length)
		FROM read_parquet($1, hive_partitioning = true) WHERE %s GROUP BY ALL ORDER BY proto`
	seedPerMilli = `SELECT ms, packets, sum(packets) OVER (ORDER BY ms) AS running,
			packets - coalesce(lag(packets) OVER (ORDER BY ms), 0) AS change
		FROM (SELECT epoch_ms(ts) AS ms, count(*) AS packets FROM read_parquet($1, hive_partitioning = true) GROUP BY ms)
		ORDER BY ms`
)

// TestSeedQueriesMatchTshark runs the seed's queries — how many packets;
// per protocol the packets and their largest and average length; per
// millisecond the packets, with a running total and the change from the
// millisecond before (window functions) — with DuckDB over the records
// of every shared capture, and compares each answer with the same
// figures computed from tshark's reading of the frames. Per protocol
// leaves out the captures tshark decodes differently
// (differentFromTshark, checked frame by frame above).
func TestSeedQueriesMatchTshark(t *testing.T) {
	s := loadShared(t)
	db := duck(t)
	glob := s.out + "/packets/**/*.parquet"
	lines := tsharkFields(t, s.all, tsharkFieldNames...)

	var n, off int64
	if err := db.QueryRow(seedCount, glob).Scan(&n); err != nil {
		t.Fatal(err)
	}
	// ts, the timestamp engines read, is ts_ns to the microsecond.
	if err := db.QueryRow(`SELECT count(*) FROM read_parquet($1) WHERE epoch_us(ts) != ts_ns // 1000`, glob).Scan(&off); err != nil || off != 0 {
		t.Errorf("%d records whose ts is not ts_ns in µs (%v)", off, err)
	}
	if n != int64(len(lines)) {
		t.Errorf("count: DuckDB %d, tshark %d frames", n, len(lines))
	}

	type protoStat struct {
		packets, max int64
		sum          float64
	}
	want := map[int64]*protoStat{}
	perMs := map[int64]int64{}
	var excluded []string
	for file := range differentFromTshark {
		excluded = append(excluded, "'"+file+"'")
	}
	for i, line := range lines {
		f := parseTshark(line)
		ns, _ := strconv.ParseInt(epochNs(t, f.ts), 10, 64)
		perMs[ns/1e6]++
		ref := s.refs[i]
		if _, skip := differentFromTshark[filepath.Base(ref[:strings.LastIndexByte(ref, '#')])]; skip {
			continue
		}
		proto := int64(-1)
		if p := f.protocol(t, ref); p != "" {
			proto, _ = strconv.ParseInt(p, 10, 64)
		}
		length, _ := strconv.ParseInt(f.length, 10, 64)
		st := want[proto]
		if st == nil {
			st = &protoStat{}
			want[proto] = st
		}
		st.packets++
		st.max = max(st.max, length)
		st.sum += float64(length)
	}

	rows, err := db.Query(fmt.Sprintf(seedPerProto, "parse_filename(source) NOT IN ("+strings.Join(excluded, ",")+")"), glob)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for rows.Next() {
		var proto, packets, mx int64
		var avg float64
		if err := rows.Scan(&proto, &packets, &mx, &avg); err != nil {
			t.Fatal(err)
		}
		seen++
		w := want[proto]
		if w == nil {
			t.Errorf("protocol %d: DuckDB %d packets, tshark none", proto, packets)
			continue
		}
		if packets != w.packets || mx != w.max || math.Abs(avg-w.sum/float64(w.packets)) > 1e-6 {
			t.Errorf("protocol %d: DuckDB %d packets, max %d, avg %.6f; tshark %d, %d, %.6f",
				proto, packets, mx, avg, w.packets, w.max, w.sum/float64(w.packets))
		}
	}
	rows.Close()
	if seen != len(want) || seen < 10 {
		t.Errorf("DuckDB gave %d protocols, tshark %d", seen, len(want))
	}

	rows, err = db.Query(seedPerMilli, glob)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var running, prev int64
	ms := 0
	for rows.Next() {
		var milli, packets, run, change int64
		if err := rows.Scan(&milli, &packets, &run, &change); err != nil {
			t.Fatal(err)
		}
		running += perMs[milli]
		if packets != perMs[milli] || run != running || change != perMs[milli]-prev {
			t.Errorf("ms %d: DuckDB %d packets, running %d, change %d; tshark %d, %d, %d",
				milli, packets, run, change, perMs[milli], running, perMs[milli]-prev)
		}
		prev = perMs[milli]
		ms++
	}
	if ms != len(perMs) {
		t.Errorf("DuckDB gave %d milliseconds, tshark %d", ms, len(perMs))
	}
	t.Logf("%d packets, %d protocols, %d milliseconds", n, seen, ms)
}

// endpoint is an address and port as tshark prints them, "ADDR:PORT".
type convKey struct{ a, b string } // ordered: a < b

// convCount is what a conversation carried from its key's a to b and
// from b to a: frames, and bytes exactly (ours) or as the range tshark's
// rendering allows ("231 kB": 231000 to 231999; summed when it lists a
// conversation more than once).
type convCount struct {
	abFrames, baFrames int64
	abBytes, baBytes   int64
	abLo, abHi         int64
	baLo, baHi         int64
}

// sizeRange is the range of byte counts tshark renders as size
// (wsutil's format_size with SI prefixes: the largest unit of which
// there are at least 10, truncated).
func sizeRange(t *testing.T, n, unit string) (lo, hi int64) {
	v, err := strconv.ParseInt(n, 10, 64)
	mult := map[string]int64{"bytes": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[unit]
	if err != nil || mult == 0 {
		t.Fatalf("tshark size %q %q", n, unit)
	}
	return v * mult, v*mult + mult - 1
}

// tsharkConversations runs tshark -q -z conv,PROTO over path.
func tsharkConversations(t *testing.T, path, proto string) map[convKey]*convCount {
	t.Helper()
	tshark := testenv.RequireTool(t, "tshark")
	out, err := exec.Command(tshark, "-r", path, "-n", "-q", "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
		"-z", "conv,"+proto).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	convs := map[convKey]*convCount{}
	for _, line := range strings.Split(string(out), "\n") {
		// A:pa <-> B:pb  F bytes|kB  F bytes|kB  F size  start  duration
		f := strings.Fields(line)
		if len(f) < 11 || f[1] != "<->" {
			continue
		}
		a, b := f[0], f[2]
		baFrames, _ := strconv.ParseInt(f[3], 10, 64)
		abFrames, _ := strconv.ParseInt(f[6], 10, 64)
		baLo, baHi := sizeRange(t, f[4], f[5])
		abLo, abHi := sizeRange(t, f[7], f[8])
		if a > b {
			a, b, abFrames, baFrames, abLo, abHi, baLo, baHi = b, a, baFrames, abFrames, baLo, baHi, abLo, abHi
		}
		c := convs[convKey{a, b}]
		if c == nil {
			c = &convCount{}
			convs[convKey{a, b}] = c
		}
		c.abFrames += abFrames
		c.baFrames += baFrames
		c.abLo, c.abHi, c.baLo, c.baHi = c.abLo+abLo, c.abHi+abHi, c.baLo+baLo, c.baHi+baHi
	}
	return convs
}

// TestFlowsMatchTsharkConversations: the packets and bytes each way of
// every TCP and UDP flow of the shared captures (flow records read back
// by DuckDB; summed over VLANs and tunnels, which tshark's conversations
// do not tell apart) equal tshark's conversation tables, conv,tcp and
// conv,udp; and each flow's Community ID is the one tshark gives its
// packets. The only conversations tshark lists that are not flows are
// the outer UDP of tunnels (VXLAN, Geneve, GTP-U), whose packets belong
// to their inner flows here, and those of the captures tshark reads
// differently (differentFromTshark).
func TestFlowsMatchTsharkConversations(t *testing.T) {
	s := loadShared(t)
	db := duck(t)
	excluded := maps.Clone(differentFromTshark)
	maps.Copy(excluded, notInConversations)
	// tshark over the frames of the captures it reads as we do.
	var frames []pcap.Record
	for i, r := range s.frames {
		ref := s.refs[i]
		if _, skip := excluded[filepath.Base(ref[:strings.LastIndexByte(ref, '#')])]; !skip {
			frames = append(frames, r)
		}
	}
	for file := range notInConversations {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM read_parquet($1) WHERE list_contains(list_transform(sources, x -> parse_filename(x)), $2)`,
			s.out+"/flows/**/*.parquet", file).Scan(&n); err != nil || n == 0 {
			t.Errorf("%s: no flow (%v): take it off notInConversations", file, err)
		}
	}
	all := filepath.Join(t.TempDir(), "comparable.pcap")
	pcaptest.WriteCapture(t, all, pcaptest.File{}, frames)

	// A packet record's Community ID is its flow's.
	var orphans int
	if err := db.QueryRow(`SELECT count(*) FROM read_parquet($1) p WHERE community_id IS NOT NULL
			AND community_id NOT IN (SELECT community_id FROM read_parquet($2))`,
		s.out+"/packets/**/*.parquet", s.out+"/flows/**/*.parquet").Scan(&orphans); err != nil || orphans != 0 {
		t.Errorf("%d packet records with a Community ID no flow has (%v)", orphans, err)
	}
	for _, proto := range []struct {
		name   string
		number int
	}{{"tcp", 6}, {"udp", 17}} {
		want := tsharkConversations(t, all, proto.name)
		rows, err := db.Query(`SELECT orig_addr, orig_port, resp_addr, resp_port,
				sum(orig_packets)::BIGINT, sum(orig_bytes)::BIGINT, sum(resp_packets)::BIGINT, sum(resp_bytes)::BIGINT
			FROM read_parquet($1, hive_partitioning = true)
			WHERE proto = $2 AND orig_port IS NOT NULL
				AND NOT list_has_any(['`+strings.Join(sortedKeys(excluded), "','")+`'], list_transform(sources, x -> parse_filename(x)))
			GROUP BY ALL`, s.out+"/flows/**/*.parquet", proto.number)
		if err != nil {
			t.Fatal(err)
		}
		got := map[convKey]*convCount{}
		for rows.Next() {
			var oa, ra string
			var op, rp int64
			var c convCount
			if err := rows.Scan(&oa, &op, &ra, &rp, &c.abFrames, &c.abBytes, &c.baFrames, &c.baBytes); err != nil {
				t.Fatal(err)
			}
			a, b := endpoint(oa, op), endpoint(ra, rp)
			if a > b {
				a, b = b, a
				c.abFrames, c.baFrames, c.abBytes, c.baBytes = c.baFrames, c.abFrames, c.baBytes, c.abBytes
			}
			if g := got[convKey{a, b}]; g != nil { // the same endpoints under another VLAN or tunnel
				c.abFrames, c.baFrames, c.abBytes, c.baBytes = c.abFrames+g.abFrames, c.baFrames+g.baFrames, c.abBytes+g.abBytes, c.baBytes+g.baBytes
			}
			got[convKey{a, b}] = &c
		}
		rows.Close()
		outer := 0
		for k, w := range want {
			g := got[k]
			if g == nil {
				if tunnelEndpoint(k.a) || tunnelEndpoint(k.b) {
					outer++
					continue
				}
				t.Errorf("%s %s <-> %s: tshark %d/%d frames, no flow", proto.name, k.a, k.b, w.abFrames, w.baFrames)
				continue
			}
			if g.abFrames != w.abFrames || g.baFrames != w.baFrames ||
				g.abBytes < w.abLo || g.abBytes > w.abHi || g.baBytes < w.baLo || g.baBytes > w.baHi {
				t.Errorf("%s %s <-> %s: flows %d frames %d bytes and %d frames %d bytes; tshark %d frames %d-%d bytes and %d frames %d-%d bytes",
					proto.name, k.a, k.b, g.abFrames, g.abBytes, g.baFrames, g.baBytes, w.abFrames, w.abLo, w.abHi, w.baFrames, w.baLo, w.baHi)
			}
		}
		for k := range got {
			if want[k] == nil {
				t.Errorf("%s %s <-> %s: a flow tshark does not list", proto.name, k.a, k.b)
			}
		}
		t.Logf("%s: %d conversations equal, %d outer tunnel conversations", proto.name, len(want)-outer, outer)
		if len(want)-outer < 50 {
			t.Errorf("%s: too few conversations compared", proto.name)
		}
	}
}

// notInConversations are the captures whose flows tshark's conversation
// tables leave out or count otherwise, though it reads their headers as
// we do, and why.
var notInConversations = map[string]string{
	"heapoverflow-tcp_print.pcap":  "a TCP header tshark finds malformed: no conversation",
	"tcp-auth-heapoverflow.pcap":   "a TCP header tshark finds malformed: no conversation",
	"tcp_header_heapoverflow.pcap": "a TCP header tshark finds malformed: no conversation",
	"mptcp-dss-oobr.pcap":          "malformed MPTCP options: tshark's exception comes before its conversation",
	"ipv6-routing-header.pcap":     "tshark's conversation takes the routing header's final destination",
}

// endpoint renders an address and port as tshark does.
func endpoint(addr string, port int64) string { return addr + ":" + strconv.FormatInt(port, 10) }

// tunnelEndpoint reports whether a tshark endpoint is on a UDP tunnel
// port.
func tunnelEndpoint(e string) bool {
	switch e[strings.LastIndexByte(e, ':')+1:] {
	case "4789", "4790", "6081", "2152":
		return true
	}
	return false
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
