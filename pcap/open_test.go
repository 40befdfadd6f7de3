package pcap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// TestOpen: a classic capture (little- and big-endian) and its pcapng
// conversion by editcap, each plain and compressed by the gzip, zstd and
// lz4 commands and by NewCompressor at a few levels, read through
// OpenFile give the original's records, and the right format and
// compression.
func TestOpen(t *testing.T) {
	testenv.RequireTool(t, "editcap")
	for _, name := range []string{"metron-example.pcap", "tcpdump-tests/pptp.pcap"} {
		src := filepath.Join(testenv.Pcaps(t), name)
		_, want, err := ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		ng := filepath.Join(dir, "ng.pcapng")
		run(t, "editcap", "-F", "pcapng", src, ng)
		for format, path := range map[Format]string{FormatPcap: src, FormatPcapNG: ng} {
			plain, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			files := map[string]Compression{path: CompressNone}
			for _, tool := range []struct {
				c    Compression
				argv []string
			}{
				{CompressGzip, []string{"gzip", "-c"}},
				{CompressZstd, []string{"zstd", "-q", "-c"}},
				{CompressLZ4, []string{"lz4", "-q", "-c"}},
			} {
				out := filepath.Join(dir, fmt.Sprintf("%s-%s%s", format, tool.argv[0], tool.c.Suffix()))
				files[out] = tool.c
				testenv.RequireTool(t, tool.argv[0])
				cmd := exec.Command(tool.argv[0], append(tool.argv[1:], path)...)
				b, err := cmd.Output()
				if err != nil {
					t.Fatalf("%v: %v", cmd, err)
				}
				if err := os.WriteFile(out, b, 0o644); err != nil {
					t.Fatal(err)
				}
				for _, level := range []int{0, 1, 9} {
					var buf bytes.Buffer
					cw, err := NewCompressor(&buf, tool.c, level)
					if err != nil {
						t.Fatal(err)
					}
					cw.Write(plain)
					if err := cw.Close(); err != nil {
						t.Fatal(err)
					}
					out := filepath.Join(dir, fmt.Sprintf("%s-%d%s", format, level, tool.c.Suffix()))
					if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					files[out] = tool.c
				}
			}
			for path, comp := range files {
				c, err := OpenFile(path)
				if err != nil {
					t.Fatal(err)
				}
				got, err := ReadAll(c)
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				sameRecords(t, path, got, want)
				if c.Format() != format || c.Compression() != comp {
					t.Errorf("%s: %s %s, want %s %s", path, c.Format(), c.Compression(), format, comp)
				}
				if ifs := c.Interfaces(); len(ifs) != 1 || ifs[0].LinkType != LinkTypeEthernet || ifs[0].TSResol != 6 {
					t.Errorf("%s: interfaces %+v", path, ifs)
				}
				if err := c.Close(); err != nil {
					t.Error(err)
				}
			}
		}
	}
}

// TestOpenNotCapture: what is not a capture is ErrFormat, compressed or
// not; a missing file is the file system's error.
func TestOpenNotCapture(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":        nil,
		"text":         []byte("hello, world\n"),
		"short":        {0xd4, 0xc3},
		"gzip magic":   {0x1f, 0x8b},
		"zstd magic":   {0x28, 0xb5, 0x2f, 0xfd},
		"lz4 magic":    {0x04, 0x22, 0x4d, 0x18},
		"gzipped text": compress(t, CompressGzip, []byte("hello, world\n")),
		"zstd text":    compress(t, CompressZstd, []byte("hello, world\n")),
		"lz4 text":     compress(t, CompressLZ4, []byte("hello, world\n")),
		"gzip nothing": compress(t, CompressGzip, nil),
	} {
		c, err := Open(bytes.NewReader(b))
		if err == nil {
			_, err = ReadAll(c)
			c.Close()
		}
		if !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", name, err)
		}
	}
	if _, err := OpenFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrFormat) {
		t.Errorf("missing file: %v", err)
	}
}

func compress(t testing.TB, c Compression, b []byte) []byte {
	var buf bytes.Buffer
	cw, err := NewCompressor(&buf, c, 0)
	if err != nil {
		t.Fatal(err)
	}
	cw.Write(b)
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCompressionNames(t *testing.T) {
	for c := CompressNone; c <= CompressLZ4; c++ {
		if got, err := ParseCompression(c.String()); err != nil || got != c {
			t.Errorf("%s: %v, %v", c, got, err)
		}
		lo, hi := c.Levels()
		for _, level := range []int{lo - 1, hi + 1} {
			if level == 0 {
				continue
			}
			if _, err := NewCompressor(io.Discard, c, level); !errors.Is(err, ErrLevel) {
				t.Errorf("%s level %d: %v, want ErrLevel", c, level, err)
			}
		}
	}
	if _, err := ParseCompression("xz"); err == nil {
		t.Error("xz parsed")
	}
	for _, f := range []Format{FormatPcap, FormatPcapNG} {
		if got, err := ParseFormat(f.String()); err != nil || got != f {
			t.Errorf("%s: %v, %v", f, got, err)
		}
	}
}

// FuzzOpen: no input makes Open or its reader panic, return a record
// longer than its snapshot length allows (RecordLimit), or fail with
// anything but ErrFormat.
func FuzzOpen(f *testing.F) {
	seeds := ngSeeds(f)
	files, _ := filepath.Glob(filepath.Join(testenv.Pcaps(f), "tcpdump-tests", "*.pcap"))
	for i, p := range files {
		if b, err := os.ReadFile(p); err == nil && i%16 == 0 && len(b) < 1<<14 {
			seeds = append(seeds, b)
		}
	}
	for _, b := range seeds {
		f.Add(b)
		for c := CompressGzip; c <= CompressLZ4; c++ {
			f.Add(compress(f, c, b))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Open(bytes.NewReader(data))
		if checkFuzzErr(t, err) {
			defer c.Close()
			checkFuzzRecords(t, c.Next, c.Interfaces, c.Offset)
		}
	})
}
