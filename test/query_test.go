package test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fastcapa-go/fastcapa/filter"
	"github.com/fastcapa-go/fastcapa/index"
	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/packet"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// pcapstore runs pcapstore with args, its stdout into stdout, and
// returns its stderr and exit status.
func pcapstore(t *testing.T, stdout io.Writer, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "pcapstore"), args...)
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return stderr.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stderr.String(), 0
}

// pcapQuery runs pcapstore query and returns stdout, stderr and the exit
// status.
func pcapQuery(t *testing.T, args ...string) ([]byte, string, int) {
	t.Helper()
	var stdout bytes.Buffer
	stderr, code := pcapstore(t, &stdout, append([]string{"query"}, args...)...)
	return stdout.Bytes(), stderr, code
}

// TestQueryFixed runs pcapstore query fixed with Metron's options, short
// and long, over metron-example.pcap and checks the file it writes holds
// exactly the packets tcpdump keeps for the equivalent expression (on
// the packet inside VLAN tags too, the fixed query's default), and that
// -st/-et are inclusive in epoch milliseconds and with -df.
func TestQueryFixed(t *testing.T) {
	src := filepath.Join(testenv.Pcaps(t), "metron-example.pcap")
	dir := t.TempDir()
	out := filepath.Join(dir, "out.pcap")
	all := pcaptest.TcpdumpKeeps(t, src, "")
	for _, c := range []struct {
		args   []string
		oracle string
		from   int // -st at all[from] (ms, rounded down), -1: none
		to     int
	}{
		{[]string{"-sa", "192.168.138.158", "-da", "62.75.195.236", "-ir"},
			"(ip src host 192.168.138.158 and ip dst host 62.75.195.236) or (ip src host 62.75.195.236 and ip dst host 192.168.138.158)", -1, -1},
		{[]string{"--ip_dst_port", "80", "--protocol", "6", "--include_reverse"},
			"(ip proto 6 or ip6 proto 6) and (tcp dst port 80 or udp dst port 80 or tcp src port 80 or udp src port 80)", -1, -1},
		{[]string{"-p", "udp", "-sp", "53"}, "(ip proto 17 or ip6 proto 17) and (tcp src port 53 or udp src port 53)", -1, -1},
		{[]string{"-sa", "192.168.138.158"}, "ip src host 192.168.138.158", 100, 400},
		{[]string{}, "", 10, 20},
	} {
		args := append([]string{"fixed", "-bp", src, "-o", out}, c.args...)
		want := pcaptest.TcpdumpKeeps(t, src, filter.VLANExpr(c.oracle))
		if c.from >= 0 {
			lo, hi := all[c.from].Timestamp/1e6, all[c.to].Timestamp/1e6
			args = append(args, "-st", strconv.FormatInt(lo, 10), "-et", strconv.FormatInt(hi, 10))
			var in []pcap.Record
			for _, r := range want {
				if r.Timestamp >= lo*1e6 && r.Timestamp <= hi*1e6 {
					in = append(in, r)
				}
			}
			want = in
		}
		_, stderr, code := pcapQuery(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", c.args, code, stderr)
		}
		if d := pcaptest.Diff(want, pcaptest.ReadAll(t, out)); d != "" {
			t.Errorf("%v: %s", c.args, d)
		}
		if !strings.Contains(stderr, fmt.Sprintf("%d packets", len(want))) || strings.Contains(stderr, "\r") {
			t.Errorf("%v: summary %q", c.args, stderr)
		}
		// The same window as dates.
		if c.from >= 0 {
			f := "yyyy-MM-dd HH:mm:ss.SSS Z"
			date := func(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05.000 -0700") }
			args := append([]string{"fixed", "-bp", src, "-o", out, "-df", f,
				"-st", date(all[c.from].Timestamp / 1e6), "-et", date(all[c.to].Timestamp / 1e6)}, c.args...)
			if _, stderr, code := pcapQuery(t, args...); code != 0 {
				t.Fatalf("-df: exit %d: %s", code, stderr)
			}
			if d := pcaptest.Diff(want, pcaptest.ReadAll(t, out)); d != "" {
				t.Errorf("%v with -df: %s", c.args, d)
			}
		}
	}
}

// queryStore writes a small store: metron-example.pcap's records in three
// overlapping files, plain, zstd and pcapng.
func queryStore(t *testing.T) string {
	t.Helper()
	recs := pcaptest.ReadAll(t, filepath.Join(testenv.Pcaps(t), "metron-example.pcap"))
	dir := t.TempDir()
	part := func(k int) []pcap.Record {
		var out []pcap.Record
		for i, r := range recs {
			if i%3 == k {
				out = append(out, r)
			}
		}
		return out
	}
	pcaptest.WriteCapture(t, filepath.Join(dir, "p0.pcap"), pcaptest.File{}, part(0))
	pcaptest.WriteCapture(t, filepath.Join(dir, "p1.pcap.zst"), pcaptest.File{Compression: pcap.CompressZstd}, part(1))
	pcaptest.WriteCapture(t, filepath.Join(dir, "p2.pcapng"), pcaptest.File{Format: pcap.FormatPcapNG}, part(2))
	return dir
}

// TestQueryOutputs: one file, pages (Metron's two naming schemes), stdout
// read by tshark, the limits; and the pages put together are the one
// file.
func TestQueryOutputs(t *testing.T) {
	store := queryStore(t)
	dir := t.TempDir()
	single := filepath.Join(dir, "all.pcap")
	if _, stderr, code := pcapQuery(t, "expr", "tcp", store, "-o", single); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	whole := pcaptest.ReadAll(t, single)
	if len(whole) < 500 {
		t.Fatalf("%d tcp packets", len(whole))
	}
	for i := 1; i < len(whole); i++ {
		if whole[i].Timestamp < whole[i-1].Timestamp {
			t.Fatalf("out of time order at %d", i)
		}
	}

	pages := filepath.Join(dir, "pages")
	if _, stderr, code := pcapQuery(t, "expr", "tcp", "-bp", store, "-rpf", "100", "-o", pages); code != 0 {
		t.Fatalf("pages: exit %d: %s", code, stderr)
	}
	var joined []pcap.Record
	n := (len(whole) + 99) / 100
	for i := 1; i <= n; i++ {
		recs := pcaptest.ReadAll(t, filepath.Join(pages, fmt.Sprintf("page-%d.pcap", i)))
		if i < n && len(recs) != 100 {
			t.Errorf("page %d: %d packets", i, len(recs))
		}
		joined = append(joined, recs...)
	}
	if exists(filepath.Join(pages, fmt.Sprintf("page-%d.pcap", n+1))) {
		t.Errorf("page %d written", n+1)
	}
	if d := pcaptest.Diff(whole, joined); d != "" {
		t.Errorf("pages: %s", d)
	}
	// Metron's command-line names; and no page overwritten.
	if _, stderr, code := pcapQuery(t, "expr", "tcp", store, "-rpf", "1000", "-pre", "run1", "-o", pages); code != 0 {
		t.Fatalf("prefix: exit %d: %s", code, stderr)
	}
	if !exists(filepath.Join(pages, "pcap-data-run1+0001.pcap")) {
		t.Errorf("no pcap-data-run1+0001.pcap")
	}
	if _, stderr, code := pcapQuery(t, "expr", "tcp", store, "-rpf", "100", "-o", pages); code != 2 || !strings.Contains(stderr, "exists") {
		t.Errorf("pages again: exit %d: %s", code, stderr)
	}

	// stdout, for tshark.
	tshark := testenv.RequireTool(t, "tshark")
	cmd := exec.Command(filepath.Join(bin, "pcapstore"), "query", "expr", "tcp", store, "-o", "-")
	read := exec.Command(tshark, "-r", "-", "-T", "fields", "-e", "frame.len")
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	read.Stdin = pipe
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines, err := read.Output()
	if werr := cmd.Wait(); werr != nil || err != nil {
		t.Fatalf("pcapstore %v (%s), tshark %v", werr, stderr.String(), err)
	}
	if got := strings.Count(string(lines), "\n"); got != len(whole) {
		t.Errorf("tshark read %d packets from stdout, want %d", got, len(whole))
	}

	// Limits stop where they say, and exit 0 saying so.
	_, errs, code := pcapQuery(t, "expr", "tcp", store, "-o", single, "-max-packets", "7")
	if got := pcaptest.ReadAll(t, single); code != 0 || pcaptest.Diff(whole[:7], got) != "" || !strings.Contains(errs, "stopped at the limit") {
		t.Errorf("-max-packets: exit %d, %d packets: %s", code, len(got), errs)
	}
	var sum int
	k := 0
	for ; sum+len(whole[k].Data) <= 50000; k++ {
		sum += len(whole[k].Data)
	}
	_, errs, code = pcapQuery(t, "expr", "tcp", store, "-o", single, "-max-bytes", "50000")
	if got := pcaptest.ReadAll(t, single); code != 0 || pcaptest.Diff(whole[:k], got) != "" {
		t.Errorf("-max-bytes: exit %d, %d packets, want %d: %s", code, len(got), k, errs)
	}
}

// TestQueryBadInput: clear errors and exit statuses for bad usage, a
// directory without captures, and corrupt or cut-short captures among
// good ones (whose packets are still all written; the answer is
// incomplete).
func TestQueryBadInput(t *testing.T) {
	store := queryStore(t)
	out := filepath.Join(t.TempDir(), "out.pcap")
	empty := t.TempDir()
	writeFile(t, empty, "notes.txt", []byte("not a capture"))
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"expr", "tcp and", store, "-o", out}, 2, "syntax error"},
		{[]string{"fixed", "-bogus", "1", store, "-o", out}, 2, "-bogus"},
		{[]string{"fixed", "-sa", "10.0.0.300", store, "-o", out}, 2, "address"},
		{[]string{"fixed", "-p", "tcpx", store, "-o", out}, 2, "protocol"},
		{[]string{"expr", "tcp", store}, 2, "-o"},
		{[]string{"expr", "tcp", "-o", out}, 2, "captures to search"},
		{[]string{"expr", "tcp", store, "-o", out, "-st", "yesterday"}, 2, "epoch milliseconds"},
		{[]string{"expr", "tcp", store, "-o", out, "-df", "yyyy-MM-dd", "-st", "2024-02-30"}, 2, "day 30"},
		{[]string{"expr", "tcp", store, "-o", out, "-pf", "zz"}, 2, "packet filter \"zz\""},
		{[]string{"expr", "tcp", filepath.Join(store, "nope"), "-o", out}, 2, "no such file"},
		{[]string{"expr", "tcp", empty, "-o", out}, 1, "no capture files"},
		{[]string{"lookup"}, 2, "unknown query"},
	} {
		_, stderr, code := pcapQuery(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("%v: exit %d (want %d): %s", c.args, code, c.code, stderr)
		}
		if exists(out) {
			t.Errorf("%v: an output file was left by a query that did not run", c.args)
			os.Remove(out)
		}
	}
	// The output never overwrites a capture searched.
	p0 := filepath.Join(store, "p0.pcap")
	before, _ := os.ReadFile(p0)
	if _, stderr, code := pcapQuery(t, "expr", "tcp", store, "-o", p0); code != 2 || !strings.Contains(stderr, "among the captures") {
		t.Errorf("-o a searched capture: exit %d: %s", code, stderr)
	}
	if after, _ := os.ReadFile(p0); !bytes.Equal(before, after) {
		t.Errorf("a searched capture was overwritten")
	}

	// Corrupt and cut-short captures among good ones.
	whole := pcaptest.ReadAll(t, filepath.Join(store, "p0.pcap"))
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pcap")
	pcaptest.WriteCapture(t, good, pcaptest.File{}, whole)
	b, _ := os.ReadFile(good)
	writeFile(t, dir, "cut.pcap", b[:len(b)-7])
	// Cut short: the answer lacks the cut record, as tcpdump -r exits 1.
	_, stderr, code := pcapQuery(t, "expr", "", dir, "-o", out)
	if code != 1 || !strings.Contains(stderr, "CUT SHORT "+filepath.Join(dir, "cut.pcap")) || !strings.Contains(stderr, "incomplete") {
		t.Errorf("cut short: exit %d: %s", code, stderr)
	}
	bad := append([]byte(nil), b...)
	copy(bad[24+8:], []byte{0xff, 0xff, 0xff, 0x7f}) // first record: 2 GB long
	writeFile(t, dir, "corrupt.pcap", bad)
	_, stderr, code = pcapQuery(t, "expr", "", dir, "-o", out)
	if code != 1 || !strings.Contains(stderr, "FAILED "+filepath.Join(dir, "corrupt.pcap")) || !strings.Contains(stderr, "incomplete") {
		t.Errorf("corrupt: exit %d: %s", code, stderr)
	}
	if got := len(pcaptest.ReadAll(t, out)); got != 2*len(whole)-1 {
		t.Errorf("corrupt: %d packets written, want %d (good, and cut but its last)", got, 2*len(whole)-1)
	}
}

// TestQueryIndexPrunes: with sidecar indexes beside the captures, a
// fixed query for a host only one file holds opens only that file, and
// writes what it writes without the indexes.
func TestQueryIndexPrunes(t *testing.T) {
	recs := pcaptest.ReadAll(t, filepath.Join(testenv.Pcaps(t), "metron-example.pcap"))
	dir := t.TempDir()
	// Five files of consecutive records: the DNS server 192.168.138.2
	// talks in some and not in others.
	for k := range 5 {
		lo, hi := k*len(recs)/5, (k+1)*len(recs)/5
		p := filepath.Join(dir, fmt.Sprintf("f%d.pcap", k))
		pcaptest.WriteCapture(t, p, pcaptest.File{}, recs[lo:hi])
		ix, err := index.BuildFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := ix.Save(p); err != nil {
			t.Fatal(err)
		}
	}
	out, plain := filepath.Join(t.TempDir(), "a.pcap"), filepath.Join(t.TempDir(), "b.pcap")
	_, stderr, code := pcapQuery(t, "fixed", "-sa", "192.168.138.2", "-ir", dir, "-o", out)
	if code != 0 || !strings.Contains(stderr, "pruned") {
		t.Errorf("with indexes: exit %d: %s", code, stderr)
	}
	_, stderr2, code := pcapQuery(t, "fixed", "-sa", "192.168.138.2", "-ir", dir, "-o", plain, "-no-index")
	if code != 0 || strings.Contains(stderr2, "pruned") {
		t.Errorf("without: exit %d: %s", code, stderr2)
	}
	if d := pcaptest.Diff(pcaptest.ReadAll(t, plain), pcaptest.ReadAll(t, out)); d != "" || len(pcaptest.ReadAll(t, out)) == 0 {
		t.Errorf("pruned query differs: %s", d)
	}
	t.Logf("%s", strings.TrimSpace(stderr))
}

// TestQueryPayloadPattern: -pf keeps, of the packets the fixed query
// keeps, those whose bytes hold the pattern ("GET /" in hex).
func TestQueryPayloadPattern(t *testing.T) {
	src := filepath.Join(testenv.Pcaps(t), "metron-example.pcap")
	dir := t.TempDir()
	all, some := filepath.Join(dir, "all.pcap"), filepath.Join(dir, "some.pcap")
	if _, stderr, code := pcapQuery(t, "fixed", "-dp", "80", src, "-o", all); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, stderr, code := pcapQuery(t, "fixed", "-dp", "80", "-pf", "47 45 54 20 2f", src, "-o", some); code != 0 {
		t.Fatalf("-pf: exit %d: %s", code, stderr)
	}
	var want []pcap.Record
	for _, r := range pcaptest.ReadAll(t, all) {
		if bytes.Contains(r.Data, []byte("GET /")) {
			want = append(want, r)
		}
	}
	if d := pcaptest.Diff(want, pcaptest.ReadAll(t, some)); d != "" || len(want) == 0 {
		t.Errorf("-pf: %s (%d GETs)", d, len(want))
	}
}

// TestQueryStdoutNotTerminal: -o - writes to stdout unless stdout is a
// terminal. /dev/null is a character device but not a terminal: the query
// runs (exit 0); the slave side of a pseudo-terminal is refused (exit 2).
func TestQueryStdoutNotTerminal(t *testing.T) {
	store := queryStore(t)
	run := func(stdout *os.File) (string, int) {
		t.Helper()
		return pcapstore(t, stdout, "query", "expr", "tcp", store, "-o", "-")
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if stderr, code := run(null); code != 0 || !strings.Contains(stderr, "→ stdout") {
		t.Errorf("-o - > /dev/null: exit %d: %s", code, stderr)
	}

	pty := openPTY(t)
	if stderr, code := run(pty); code != 2 || !strings.Contains(stderr, "stdout is a terminal") {
		t.Errorf("-o - on a terminal: exit %d: %s", code, stderr)
	}
}

// openPTY opens a new pseudo-terminal and returns its slave side (a real
// terminal); both sides are closed at the end of the test.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty slave: %v", err)
	}
	t.Cleanup(func() { slave.Close() })
	return slave
}

// overSnapLen lists the shared captures holding a record longer than the
// file's snapshot length, read from their bytes (not through package
// pcap): classic pcap, either byte order.
func overSnapLen(t *testing.T) []string {
	t.Helper()
	var found []string
	for _, p := range testenv.AllPcaps(t) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 24 {
			continue
		}
		var order binary.ByteOrder = binary.LittleEndian
		if b[0] == 0xa1 {
			order = binary.BigEndian
		}
		snap := order.Uint32(b[16:])
		for off := 24; off+16 <= len(b); off += 16 + int(order.Uint32(b[off+8:])) {
			if c := order.Uint32(b[off+8:]); c > snap && snap != 0 {
				found = append(found, p)
				break
			}
		}
	}
	return found
}

// TestQueryRecordsOverSnapLen: the shared captures with records longer
// than their snapshot length are answered as tcpdump -r answers them
// (those records cut to the snapshot length, libpcap's read rule), for
// several filters, and pcapstore inspect describes the records tcpdump
// writes. A pcapng file with a record longer than its interface's
// snapshot length is corrupt to libpcap: tcpdump and the query fail on
// it after the same packets, and the query names it (exit 1).
func TestQueryRecordsOverSnapLen(t *testing.T) {
	files := overSnapLen(t)
	if len(files) < 10 {
		t.Fatalf("%d shared captures with records over their snapshot length, expected 12", len(files))
	}
	out := filepath.Join(t.TempDir(), "out.pcap")
	compared := 0
	for _, f := range files {
		for _, expr := range []string{"", "tcp", "udp", "ip6", "icmp or icmp6", "len > 100", "ip[2:2] > 60"} {
			want := pcaptest.TcpdumpKeeps(t, f, expr)
			_, stderr, code := pcapQuery(t, "expr", expr, f, "-o", out)
			if code != 0 {
				t.Fatalf("%s %q: exit %d: %s", f, expr, code, stderr)
			}
			if d := pcaptest.Diff(want, pcaptest.ReadAll(t, out)); d != "" {
				t.Errorf("%s %q: %s", filepath.Base(f), expr, d)
			}
			compared += len(want)
		}
		var lines strings.Builder
		for _, r := range pcaptest.TcpdumpKeeps(t, f, "") {
			fmt.Fprintf(&lines, "%d %d %s\n", r.Timestamp, r.OrigLen, packet.Decode(r.Data))
		}
		if got, errs, code := inspect(t, f); code != 0 || got != lines.String() {
			t.Errorf("inspect %s: exit %d %s:\n%s\nwant (from tcpdump's records):\n%s", filepath.Base(f), code, errs, got, lines.String())
		}
	}
	t.Logf("%d captures, %d packets compared with tcpdump", len(files), compared)

	// pcapng: a record over its interface's snapshot length (64).
	dir := t.TempDir()
	le := binary.LittleEndian
	block := func(b []byte, typ uint32, body []byte) []byte {
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		b = le.AppendUint32(b, typ)
		b = le.AppendUint32(b, uint32(12+len(body)))
		b = append(b, body...)
		return le.AppendUint32(b, uint32(12+len(body)))
	}
	ng := block(nil, 0x0a0d0d0a, []byte{0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	ng = block(ng, 1, le.AppendUint32(le.AppendUint32(nil, 1), 64))
	metron := pcaptest.ReadAll(t, filepath.Join(testenv.Pcaps(t), "metron-example.pcap"))
	for i, r := range metron[:4] {
		data := r.Data[:min(len(r.Data), 64)]
		if i == 2 {
			data = r.Data[:65] // over the snapshot length
		}
		us := uint64(r.Timestamp / 1000)
		epb := le.AppendUint32(nil, 0)
		epb = le.AppendUint32(epb, uint32(us>>32))
		epb = le.AppendUint32(epb, uint32(us))
		epb = le.AppendUint32(epb, uint32(len(data)))
		epb = le.AppendUint32(epb, r.OrigLen)
		ng = block(ng, 6, append(epb, data...))
	}
	bad := writeFile(t, dir, "over.pcapng", ng)
	want, err := pcaptest.Tcpdump(context.Background(), testenv.RequireTool(t, "tcpdump"), []string{bad}, "")
	var te *pcaptest.TcpdumpError
	if !errors.As(err, &te) {
		t.Fatalf("tcpdump reads %s without an error (%v)", bad, err)
	}
	_, stderr, code := pcapQuery(t, "expr", "", bad, "-o", out)
	if code != 1 || !strings.Contains(stderr, "FAILED "+bad) || !strings.Contains(stderr, "snapshot length") {
		t.Errorf("pcapng over its snapshot length: exit %d: %s", code, stderr)
	}
	if d := pcaptest.Diff(want, pcaptest.ReadAll(t, out)); d != "" || len(want) != 2 {
		t.Errorf("pcapng over its snapshot length: %s (tcpdump wrote %d)", d, len(want))
	}
}

// TestQueryUnreadableCaptures: among good captures, a pcap whose first 4
// bytes are corrupt, a .pcap.gz that is not gzip, a capture cut in its
// last record and a file named like a capture in a format nothing here
// reads are each named on stderr, and the answer is marked incomplete
// (exit 1) with every good packet written — as tcpdump -r exits 1 and
// mergecap 2 on each of them. Files that are clearly not captures (a
// README, dead letters, the sink's hidden temporary files, sidecar
// indexes) are not. pcapstore index counts the same files as failed and
// skips the same ones.
func TestQueryUnreadableCaptures(t *testing.T) {
	src := filepath.Join(testenv.Pcaps(t), "metron-example.pcap")
	metron := pcaptest.ReadAll(t, src)
	dir := t.TempDir()
	pcaptest.WriteCapture(t, filepath.Join(dir, "good.pcap"), pcaptest.File{}, metron[:400])
	pcaptest.WriteCapture(t, filepath.Join(dir, "good2.pcapng.zst"), pcaptest.File{Format: pcap.FormatPcapNG, Compression: pcap.CompressZstd}, metron[400:])
	whole, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	bad4 := append([]byte{0, 0, 0, 0}, whole[4:]...)
	unreadable := map[string][]byte{
		"bad4.pcap":           bad4,
		"notgz.pcap.gz":       []byte("this is not gzip\n"),
		"cut.pcap":            whole[:100000],
		"sub/archive.pcap.xz": {0xfd, '7', 'z', 'X', 'Z', 0},
	}
	for name, b := range unreadable {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		writeFile(t, dir, name, b)
	}
	writeFile(t, dir, "README.txt", []byte("captures of the lab network\n"))
	writeFile(t, dir, "deadletter.jsonl", []byte("{}\n"))
	writeFile(t, dir, ".good.pcap.0123456789abcdef.inprogress", whole[:1000])

	tcpdump := testenv.RequireTool(t, "tcpdump")
	mergecap := testenv.RequireTool(t, "mergecap")
	for name := range unreadable {
		p := filepath.Join(dir, name)
		if exec.Command(tcpdump, "-r", p, "-w", os.DevNull).Run() == nil || exec.Command(mergecap, "-w", os.DevNull, p).Run() == nil {
			t.Fatalf("tcpdump or mergecap reads %s without an error", name)
		}
	}

	out := filepath.Join(t.TempDir(), "out.pcap")
	_, stderr, code := pcapQuery(t, "expr", "", dir, "-o", out)
	if code != 1 || !strings.Contains(stderr, "incomplete") {
		t.Errorf("exit %d, want 1 (incomplete): %s", code, stderr)
	}
	for name := range unreadable {
		if !strings.Contains(stderr, filepath.Join(dir, name)+":") {
			t.Errorf("%s not named: %s", name, stderr)
		}
	}
	for _, name := range []string{"README.txt", "deadletter.jsonl", ".good.pcap.0123456789abcdef.inprogress"} {
		for _, l := range strings.Split(stderr, "\n") {
			if strings.Contains(l, name) && (strings.Contains(l, "FAILED") || strings.Contains(l, "CUT")) {
				t.Errorf("%s named as a failure: %s", name, l)
			}
		}
	}
	got := pcaptest.ReadAll(t, out)
	// Every good packet, and the cut file's whole records (120 of them).
	if len(got) != len(metron)+120 {
		t.Errorf("%d packets written, want the %d good ones and the cut file's 120 whole ones", len(got), len(metron))
	}

	// pcapstore index agrees: the same four fail, the README is skipped.
	stderr, code = pcapstore(t, nil, "index", dir)
	if code != 1 || !strings.Contains(stderr, "2 built") || !strings.Contains(stderr, "4 failed") {
		t.Errorf("index: exit %d: %s", code, stderr)
	}
	for name := range unreadable {
		if !strings.Contains(stderr, filepath.Join(dir, name)) {
			t.Errorf("index: %s not named: %s", name, stderr)
		}
	}
	if !strings.Contains(stderr, "1 not a capture") || strings.Contains(stderr, "index "+filepath.Join(dir, "README.txt")) {
		t.Errorf("index: README.txt not skipped as not a capture: %s", stderr)
	}
}
