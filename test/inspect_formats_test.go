package test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/packet"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// inspect runs pcapstore inspect and returns stdout, stderr and the exit
// status.
func inspect(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout bytes.Buffer
	stderr, code := pcapstore(t, &stdout, append([]string{"inspect"}, args...)...)
	return stdout.String(), stderr, code
}

// TestInspectFormats: pcapstore inspect reads pcap and pcapng, plain and
// compressed, one line per packet (time in ns, length, summary), takes
// -n before or after the file, decodes raw-IP frames from their IP header
// and says so, prints frames of a link type it does not know as such,
// and fails on what is not a capture (2) or is cut short (1, after the
// packets before the cut).
func TestInspectFormats(t *testing.T) {
	_, recs, err := pcap.ReadFile(filepath.Join(testenv.Pcaps(t), "metron-example.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&want, "%d %d %s\n", r.Timestamp, r.OrigLen, packet.Decode(r.Data))
	}
	dir := t.TempDir()
	for _, format := range []pcap.Format{pcap.FormatPcap, pcap.FormatPcapNG} {
		for _, comp := range []pcap.Compression{pcap.CompressNone, pcap.CompressGzip, pcap.CompressZstd, pcap.CompressLZ4} {
			path := filepath.Join(dir, "m."+format.String()+comp.Suffix())
			pcaptest.WriteCapture(t, path, pcaptest.File{Format: format, Compression: comp}, recs)
			out, errs, code := inspect(t, path)
			if code != 0 || out != want.String() || errs != "" {
				t.Errorf("%s: exit %d, %d lines, stderr %q; want %d lines", path, code, strings.Count(out, "\n"), errs, len(recs))
			}
			if !strings.Contains(out, " tcp ") || !strings.Contains(out, " udp ") {
				t.Errorf("%s: no tcp or udp summaries", path)
			}
		}
	}
	first3 := strings.Join(strings.SplitAfter(want.String(), "\n")[:3], "")
	path := filepath.Join(dir, "m.pcapng.zst")
	for _, args := range [][]string{{"-n", "3", path}, {path, "-n", "3"}} {
		if out, _, code := inspect(t, args...); code != 0 || out != first3 {
			t.Errorf("inspect %q: exit %d:\n%s", args, code, out)
		}
	}

	// Raw IP (link type 101): a classic pcap header saying so, the
	// Ethernet frames without their Ethernet header.
	out, errs, code := inspect(t, classicWithLinkType(t, filepath.Join(dir, "raw.pcap"), 101, recs[:5], 14))
	if code != 0 || out != strings.Join(strings.SplitAfter(want.String(), "\n")[:5], "") {
		t.Errorf("raw IP: exit %d:\n%s", code, out)
	}
	if !strings.Contains(errs, "link type 101 (raw IP): decoded from its network header") {
		t.Errorf("raw IP: stderr %q", errs)
	}
	// USER0 (147): not decoded, and said so.
	out, errs, code = inspect(t, classicWithLinkType(t, filepath.Join(dir, "user0.pcap"), 147, recs[:2], 0))
	wantUser := fmt.Sprintf("%d %d linktype 147, not decoded\n%d %d linktype 147, not decoded\n",
		recs[0].Timestamp, recs[0].OrigLen, recs[1].Timestamp, recs[1].OrigLen)
	if code != 0 || out != wantUser || !strings.Contains(errs, "link type 147") {
		t.Errorf("link type 147: exit %d:\n%s%s", code, out, errs)
	}

	if _, errs, code := inspect(t, writeFile(t, dir, "text", []byte("not a capture\n"))); code != 2 || !strings.Contains(errs, "not a valid capture file") {
		t.Errorf("not a capture: exit %d, %q", code, errs)
	}
	whole, _ := os.ReadFile(filepath.Join(dir, "m.pcap.gz"))
	out, errs, code = inspect(t, writeFile(t, dir, "cut.pcap.gz", whole[:len(whole)/2]))
	if code != 1 || !strings.HasPrefix(want.String(), out) || out == "" || !strings.Contains(errs, "unexpected EOF") {
		t.Errorf("cut file: exit %d, %d lines, %q", code, strings.Count(out, "\n"), errs)
	}
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// classicWithLinkType writes a classic pcap of link type lt to path
// holding recs with their first cut bytes removed (original lengths
// kept), and returns path.
func classicWithLinkType(t *testing.T, path string, lt uint32, recs []pcap.Record, cut int) string {
	t.Helper()
	out := make([]pcap.Record, len(recs))
	for i, r := range recs {
		out[i] = pcap.Record{Timestamp: r.Timestamp, OrigLen: r.OrigLen, Data: r.Data[cut:]}
	}
	pcaptest.WriteLinkType(t, path, lt, out)
	return path
}
