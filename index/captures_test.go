package index

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// frameRef is one frame of the shared captures.
type frameRef struct {
	file string // base name
	path string
	rec  pcap.Record
}

// sharedFrames reads every record of the shared captures, in order.
func sharedFrames(t testing.TB) []frameRef {
	t.Helper()
	var out []frameRef
	for _, p := range testenv.AllPcaps(t) {
		_, recs, err := pcap.ReadFile(p)
		if err != nil && len(recs) == 0 && filepath.Base(p) != "empty.pcap" {
			t.Logf("%s: %v", p, err)
		}
		for _, r := range recs {
			out = append(out, frameRef{filepath.Base(p), p, r})
		}
	}
	return out
}

// tsharkFields writes frames into one pcap file and returns, per frame,
// tshark's values of fields (reassembly off, so each frame shows only
// its own headers).
func tsharkFields(t *testing.T, frames []frameRef, fields ...string) [][]string {
	t.Helper()
	tshark := testenv.RequireTool(t, "tshark")
	all := filepath.Join(t.TempDir(), "all.pcap")
	recs := make([]pcap.Record, 0, len(frames))
	for _, fr := range frames {
		if fr.rec.LinkType != pcap.LinkTypeEthernet {
			t.Fatalf("%s: link type %d: the joined file is Ethernet", fr.file, fr.rec.LinkType)
		}
		recs = append(recs, fr.rec)
	}
	pcaptest.WriteCapture(t, all, pcaptest.File{}, recs)
	args := []string{"-r", all, "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
		"-T", "fields", "-E", "separator=|", "-E", "aggregator=,"}
	for _, fl := range fields {
		args = append(args, "-e", fl)
	}
	res, err := exec.Command(tshark, args...).Output()
	if err != nil && len(res) == 0 {
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Split(strings.TrimRight(string(res), "\n"), "\n")
	if len(lines) != len(frames) {
		t.Fatalf("tshark read %d frames, we wrote %d", len(lines), len(frames))
	}
	out := make([][]string, len(lines))
	for i, l := range lines {
		out[i] = strings.Split(l, "|")
		if len(out[i]) != len(fields) {
			t.Fatalf("frame %d: %d fields from tshark: %q", i+1, len(out[i]), l)
		}
	}
	return out
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// Where tshark sees more than the walk reads, by design: these
// protocols quote other packets' headers inside their own messages.
// Values tshark reports in a frame whose protocols include one of them
// may be missing from the walk.
var notWalked = map[string]string{
	"sflow": "sFlow samples carry the headers of other, sampled packets",
	"nhrp":  "NHRP error indications quote the packet in error",
}

// tsharkValues are what tshark's fields report for one frame as
// constraints of one value each.
func tsharkValues(t *testing.T, fl []string) []Constraints {
	var qs []Constraints
	for _, s := range append(splitList(fl[1]), splitList(fl[2])...) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			t.Fatalf("tshark address %q: %v", s, err)
		}
		qs = append(qs, Constraints{Hosts: []netip.Addr{a}})
	}
	for _, s := range append(append(splitList(fl[3]), splitList(fl[4])...), splitList(fl[5])...) {
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil {
			t.Fatalf("tshark port %q: %v", s, err)
		}
		qs = append(qs, Constraints{Ports: []uint16{uint16(n)}})
	}
	for _, s := range append(splitList(fl[6]), splitList(fl[7])...) {
		n, err := strconv.ParseUint(s, 10, 8)
		if err != nil {
			t.Fatalf("tshark protocol %q: %v", s, err)
		}
		qs = append(qs, Constraints{Protocols: []uint8{uint8(n)}})
	}
	return qs
}

func describe(q Constraints) string {
	switch {
	case len(q.Hosts) > 0:
		return "host " + q.Hosts[0].String()
	case len(q.Ports) > 0:
		return fmt.Sprint("port ", q.Ports[0])
	}
	return fmt.Sprint("protocol ", q.Protocols[0])
}

// TestCapturesAgainstTshark: in every frame of the shared captures,
// every address (ip.addr, ipv6.addr), port (tcp, udp, sctp) and
// protocol (ip.proto, ipv6.nxt) tshark finds at any layer — outer,
// inner, in tunnels, in quoted ICMP errors — Match finds too, within
// the frame's own time, and the index of the frame's file (BuildFile)
// may match it; except inside the protocols of notWalked. tshark runs
// with reassembly off: a frame shows only its own headers. The indexes
// are exact here, so random addresses tshark does not report are never
// answered for.
func TestCapturesAgainstTshark(t *testing.T) {
	frames := sharedFrames(t)
	fl := tsharkFields(t, frames, "frame.protocols", "ip.addr", "ipv6.addr", "tcp.port", "udp.port", "sctp.port", "ip.proto", "ipv6.nxt")
	indexes := map[string]*Index{}
	seen := map[string]map[netip.Addr]bool{}
	for _, fr := range frames {
		if indexes[fr.file] != nil {
			continue
		}
		ix, err := BuildFile(fr.path)
		if err != nil {
			// A capture cut short: index what pcap reads of it, as
			// the frames here are.
			t.Logf("%v", err)
			var b Builder
			for _, g := range frames {
				if g.file == fr.file {
					b.AddRecord(g.rec)
				}
			}
			ix = b.Index()
		}
		indexes[fr.file] = ix
		seen[fr.file] = map[netip.Addr]bool{}
	}
	var values, excused int
	excusedBy := map[string]int{}
	for i, fr := range frames {
		var skip []string
		for _, p := range strings.Split(fl[i][0], ":") {
			if notWalked[p] != "" {
				skip = append(skip, p)
			}
		}
		ix := indexes[fr.file]
		at := time.Unix(0, fr.rec.Timestamp)
		for _, q := range tsharkValues(t, fl[i]) {
			values++
			if len(q.Hosts) > 0 {
				seen[fr.file][q.Hosts[0]] = true
			}
			q.From, q.To = at, at
			if !q.Match(fr.rec) {
				if len(skip) > 0 {
					excused++
					excusedBy[skip[0]]++
					continue
				}
				t.Errorf("%s frame %d (%s): tshark finds %s, Match does not", fr.file, i+1, fl[i][0], describe(q))
				continue
			}
			if !ix.MayMatch(q) {
				t.Errorf("%s frame %d: %s at its time pruned by the index", fr.file, i+1, describe(q))
			}
		}
	}
	t.Logf("%d frames of %d files: %d values compared, %d inside %v not walked", len(frames), len(indexes), values, excused, excusedBy)

	r := rand.New(rand.NewPCG(11, 11))
	positives, probes := 0, 0
	for file, ix := range indexes {
		if !ix.Stats().AddressesExact {
			t.Errorf("%s: address filter, not exact", file)
		}
		for range 200 {
			var a [4]byte
			binary.BigEndian.PutUint32(a[:], r.Uint32())
			h := netip.AddrFrom4(a)
			if seen[file][h] {
				continue
			}
			probes++
			if ix.MayMatch(Constraints{Hosts: []netip.Addr{h}}) {
				positives++
			}
		}
	}
	if positives > 0 {
		t.Errorf("%d of %d random addresses answered for", positives, probes)
	}
}
