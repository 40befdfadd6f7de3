package pcap

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// BenchmarkRead reads the Metron sample from memory, as classic pcap and
// as pcapng, through Open: the per-record cost every query, index and
// inspect pays (b.SetBytes is the capture's size).
func BenchmarkRead(b *testing.B) {
	path := filepath.Join(testenv.Pcaps(b), "metron-example.pcap")
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	_, recs, err := ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var ng bytes.Buffer
	w, err := NewNGWriter(&ng, true, 0)
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		data []byte
	}{{"pcap", raw}, {"pcapng", ng.Bytes()}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				cp, err := Open(bytes.NewReader(c.data))
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for {
					_, err := cp.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				cp.Close()
				if n != len(recs) {
					b.Fatalf("%d records, want %d", n, len(recs))
				}
			}
		})
	}
}
