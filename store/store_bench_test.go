package store

import (
	"fmt"
	"testing"
)

// BenchmarkWrite writes records of 64 and 651 bytes (the mean of
// metron-example.pcap) into one file, or rotating every 10000 packets,
// Finalize (fsync, link, directory fsync) included: the time counts the
// last Finalize too. MB/s counts packet bytes, not the 16-byte record
// headers. The files go to the benchmark's temporary directory, so the
// figure is that filesystem's (set TMPDIR to measure another).
func BenchmarkWrite(b *testing.B) {
	for _, size := range []int{64, 651} {
		for _, every := range []int64{0, 10000} {
			name := fmt.Sprintf("size=%d/rotate=", size)
			if every == 0 {
				name += "none"
			} else {
				name += fmt.Sprint(every)
			}
			b.Run(name, func(b *testing.B) {
				spec := Spec{Dir: b.TempDir(), Template: "{seq}.pcap", Nanos: true, MaxPackets: every}
				w, err := NewWriter(spec, Vars{})
				if err != nil {
					b.Fatal(err)
				}
				data := frame(1, size)
				files := 0
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				ts := t0
				for range b.N {
					rot, err := w.Write(ts, data, uint32(size))
					if err != nil {
						b.Fatal(err)
					}
					files += len(rot)
					ts += 1000
				}
				if fin, err := w.Finalize(); err != nil {
					b.Fatal(err)
				} else if fin != nil {
					files++
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
				b.ReportMetric(float64(files), "files")
			})
		}
	}
}
