package test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

// writeCapture writes recs in a format and compression to dir/name.
func writeCapture(t *testing.T, dir, name string, format pcap.Format, comp pcap.Compression, recs []pcap.Record) string {
	t.Helper()
	var buf bytes.Buffer
	cw, err := pcap.NewCompressor(&buf, comp, 0)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcap.NewFormatWriter(cw, format, true, pcap.MaxSnapLen)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
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
			path := writeCapture(t, dir, "m."+format.String()+comp.Suffix(), format, comp, recs)
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
	raw := classicWithLinkType(t, 101, recs[:5], 14)
	out, errs, code := inspect(t, writeFile(t, dir, "raw.pcap", raw))
	if code != 0 || out != strings.Join(strings.SplitAfter(want.String(), "\n")[:5], "") {
		t.Errorf("raw IP: exit %d:\n%s", code, out)
	}
	if !strings.Contains(errs, "link type 101 (raw IP): decoded from its network header") {
		t.Errorf("raw IP: stderr %q", errs)
	}
	// USER0 (147): not decoded, and said so.
	out, errs, code = inspect(t, writeFile(t, dir, "user0.pcap", classicWithLinkType(t, 147, recs[:2], 0)))
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

// classicWithLinkType is a microsecond classic pcap of link type lt
// holding recs with their first cut bytes removed.
func classicWithLinkType(t *testing.T, lt uint32, recs []pcap.Record, cut int) []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, 0xa1b2c3d4)
	b = le.AppendUint16(b, 2)
	b = le.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = le.AppendUint32(b, 65535)
	b = le.AppendUint32(b, lt)
	for _, r := range recs {
		d := r.Data[cut:]
		b = le.AppendUint32(b, uint32(r.Timestamp/1e9))
		b = le.AppendUint32(b, uint32(r.Timestamp%1e9/1e3))
		b = le.AppendUint32(b, uint32(len(d)))
		b = le.AppendUint32(b, r.OrigLen)
		b = append(b, d...)
	}
	return b
}
