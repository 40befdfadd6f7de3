package index

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

func metronPath(t testing.TB) string {
	return filepath.Join(testenv.Pcaps(t), "metron-example.pcap")
}

// unbound is ix's encoding without its capture's identity.
func unbound(ix *Index) string {
	c := *ix
	c.CaptureSize, c.CaptureModTime = 0, 0
	b, _ := c.MarshalBinary()
	return string(b)
}

// TestBuildFileFormats: the Metron sample as classic pcap and pcapng,
// plain and compressed with each compression, gives one index, the same
// as a Builder fed its frames; BuildFile binds it to the file it read.
func TestBuildFileFormats(t *testing.T) {
	_, recs, err := pcap.ReadFile(metronPath(t))
	if err != nil {
		t.Fatal(err)
	}
	var b Builder
	for _, r := range recs {
		b.Add(r.Timestamp, r.Data)
	}
	want := unbound(b.Index())
	dir := t.TempDir()
	for _, format := range []pcap.Format{pcap.FormatPcap, pcap.FormatPcapNG} {
		for _, comp := range []pcap.Compression{pcap.CompressNone, pcap.CompressGzip, pcap.CompressZstd, pcap.CompressLZ4} {
			path := filepath.Join(dir, "m."+format.String()+comp.Suffix())
			pcaptest.WriteCapture(t, path, pcaptest.File{Format: format, Compression: comp}, recs)
			ix, err := BuildFile(path)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if unbound(ix) != want {
				t.Errorf("%s: index differs", path)
			}
			fi, _ := os.Stat(path)
			if ix.CaptureSize != fi.Size() || ix.CaptureModTime != fi.ModTime().UnixNano() {
				t.Errorf("%s: bound to %d bytes at %d", path, ix.CaptureSize, ix.CaptureModTime)
			}
		}
	}
}

// TestBuildFileCorrupt: a capture cut short or corrupt is an error that
// says after how many packets and where; a file that is not a capture is
// pcap.ErrFormat; a missing one fs.ErrNotExist.
func TestBuildFileCorrupt(t *testing.T) {
	data, err := os.ReadFile(metronPath(t))
	if err != nil {
		t.Fatal(err)
	}
	_, recs, _ := pcap.ReadFile(metronPath(t))
	dir := t.TempDir()
	// Cut in the middle of the 11th record's data.
	off := 24
	for _, r := range recs[:10] {
		off += 16 + len(r.Data)
	}
	cut := filepath.Join(dir, "cut.pcap")
	os.WriteFile(cut, data[:off+20], 0o644)
	// A 6th record header claiming a huge length.
	bad := filepath.Join(dir, "bad.pcap")
	b := bytes.Clone(data)
	o := 24
	for _, r := range recs[:5] {
		o += 16 + len(r.Data)
	}
	b[o+8], b[o+9], b[o+10], b[o+11] = 0xff, 0xff, 0xff, 0x7f
	os.WriteFile(bad, b, 0o644)
	// pcapng cut in its last block.
	ng := filepath.Join(dir, "cut.pcapng")
	pcaptest.WriteCapture(t, ng, pcaptest.File{Format: pcap.FormatPcapNG}, recs[:20])
	nb, _ := os.ReadFile(ng)
	os.WriteFile(ng, nb[:len(nb)-30], 0o644)
	// gzip of a classic pcap cut in its 11th record.
	gz := filepath.Join(dir, "cut.pcap.gz")
	pcaptest.WriteCapture(t, gz, pcaptest.File{}, nil)
	var zb bytes.Buffer
	zc, _ := pcap.NewCompressor(&zb, pcap.CompressGzip, 0)
	zc.Write(data[:off+20])
	zc.Close()
	os.WriteFile(gz, zb.Bytes(), 0o644)
	for _, c := range []struct {
		path string
		msg  string
	}{
		{cut, "after 10 packets, at byte " + strconv.Itoa(off) + ": record 11"},
		{bad, "after 5 packets, at byte " + strconv.Itoa(o) + ": record 6"},
		{ng, "after 19 packets: pcapng block"},
		{gz, "after 10 packets, at byte " + strconv.Itoa(off) + " of the decompressed capture"},
	} {
		_, err := BuildFile(c.path)
		if !errors.Is(err, pcap.ErrFormat) || !strings.Contains(err.Error(), c.msg) || !strings.Contains(err.Error(), c.path) {
			t.Errorf("%s: %v, want ErrFormat saying %q", c.path, err, c.msg)
		} else {
			t.Logf("%v", err)
		}
	}
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("hello, not a capture"), 0o644)
	if _, err := BuildFile(text); !errors.Is(err, pcap.ErrFormat) {
		t.Errorf("text file: %v", err)
	}
	if _, err := BuildFile(filepath.Join(dir, "missing.pcap")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
