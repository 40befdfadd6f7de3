package pcap

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// TestRoundTrip: every shared capture read, written back and read again
// gives the same records (timestamps at the written precision).
func TestRoundTrip(t *testing.T) {
	for _, f := range testenv.AllPcaps(t) {
		hdr, recs, err := ReadFile(f)
		if err != nil {
			// A few tcpdump test files are truncated on purpose; what
			// was read before the damage must still round-trip.
			t.Logf("%s: %v (after %d records)", filepath.Base(f), err, len(recs))
		}
		var buf bytes.Buffer
		w, err := NewWriter(&buf, hdr.Nanos, 262144)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		w.Flush()
		r, err := NewReader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range recs {
			got, err := r.Next()
			if err != nil {
				t.Fatalf("%s: record %d: %v", f, i, err)
			}
			if got.Timestamp != want.Timestamp || !bytes.Equal(got.Data, want.Data) {
				t.Fatalf("%s: record %d differs after a round trip", f, i)
			}
		}
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("%s: extra data after the last record: %v", f, err)
		}
	}
}

// FuzzReader: no input makes the reader panic, return a record longer
// than the file's snapshot length allows (RecordLimit, at most
// MaxSnapLen), or fail with anything but ErrFormat.
func FuzzReader(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(os.Getenv("FASTCAPA_PCAPS"), "tcpdump-tests", "*.pcap"))
	for i, p := range files {
		if i%8 != 0 {
			continue
		}
		if b, err := os.ReadFile(p); err == nil && len(b) < 1<<16 {
			f.Add(b)
		}
	}
	f.Add([]byte{0xd4, 0xc3, 0xb2, 0xa1})
	f.Add(classicFile(binary.LittleEndian, false, 41, []int{30, 41, 54}))
	f.Add(classicFile(binary.BigEndian, true, 0, []int{60, MaxSnapLen + 1}))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data))
		if checkFuzzErr(t, err) {
			iface := []Interface{r.iface()}
			checkFuzzRecords(t, r.Next, func() []Interface { return iface }, r.Offset)
		}
	})
}

// TestReaderBufferEdges: records whose bytes end just before, at and
// just after the reader's 64 KiB buffer, longer than it, and cut to the
// snapshot length, read from a reader that gives everything at once and
// from one that gives a byte at a time: each record is the bytes that
// were written.
func TestReaderBufferEdges(t *testing.T) {
	const buf = 1 << 16
	lens := []int{60, buf - 16 - 60 - 16 - 16, buf - 16, buf - 15, 100, MaxSnapLen, 61, buf * 2, 1, 0, 1500}
	for _, snap := range []uint32{0, buf} {
		file := classicFile(binary.LittleEndian, false, snap, lens)
		for name, src := range map[string]func() io.Reader{
			"whole":    func() io.Reader { return bytes.NewReader(file) },
			"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(file)) },
		} {
			r, err := NewReader(src())
			if err != nil {
				t.Fatal(err)
			}
			for i, n := range lens {
				rec, err := r.Next()
				if err != nil {
					t.Fatalf("snap %d, %s: record %d: %v", snap, name, i, err)
				}
				want := frame(n, byte(i))[:min(uint32(n), RecordLimit(snap))]
				if !bytes.Equal(rec.Data, want) || rec.OrigLen != uint32(n+100) {
					t.Fatalf("snap %d, %s: record %d (%d B): %d B read, differ", snap, name, i, n, len(rec.Data))
				}
			}
			if _, err := r.Next(); err != io.EOF {
				t.Errorf("snap %d, %s: after the last record: %v", snap, name, err)
			}
		}
	}
}
