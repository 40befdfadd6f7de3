package objstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// BenchmarkUpload64MiB uploads a 64 MiB file to a MinIO server on
// loopback, which shares the machine's CPUs with the client: in one PUT,
// and in parts of 16 MiB; and, for scale, the same PUT by curl (no MD5
// pass, no HEADs, an unsigned payload). Each Upload includes the MD5
// pass over the file, the HEAD before and the HEAD after.
func BenchmarkUpload64MiB(b *testing.B) {
	const size = 64 << 20
	m := testenv.StartMinIO(b)
	p, _ := randomFile(b, b.TempDir(), "f.pcap", size, 1)
	ctx := context.Background()
	for _, c := range []struct {
		name     string
		partSize int64
	}{
		{"single-PUT", size},
		{"parts-16MiB", 16 << 20},
	} {
		b.Run(c.name, func(b *testing.B) {
			s, _ := spec(b, m)
			s.PartSize = c.partSize
			u := newUploader(b, s)
			b.SetBytes(size)
			run := time.Now().UnixNano()
			for i := 0; b.Loop(); i++ {
				if _, err := u.Upload(ctx, p, fmt.Sprintf("bench/%s/%d-%d.pcap", c.name, run, i)); err != nil {
					b.Fatal(err)
				}
			}
			if n := u.Counters(); n.Retries != 0 || n.Existing != 0 {
				b.Errorf("Counters = %+v: no retry, no existing object expected", n)
			}
		})
	}
	b.Run("curl-PUT", func(b *testing.B) {
		b.SetBytes(size)
		run := time.Now().UnixNano()
		for i := 0; b.Loop(); i++ {
			if status, body := m.Curl(b, m.URL(m.Bucket, fmt.Sprintf("bench/curl/%d-%d.pcap", run, i)), "-T", p); status != 200 {
				b.Fatalf("curl PUT: HTTP %d: %s", status, body)
			}
		}
	})
}
