package store

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// BenchmarkWrite writes records into one file, or rotating every 10000
// packets, Finalize (fsync, link, directory fsync) included: the time
// counts the last Finalize too. MB/s counts packet bytes, not the record
// headers. The files go to the benchmark's temporary directory, so the
// figure is that filesystem's (set TMPDIR to measure another).
//
//   - size=64, size=651: one synthetic frame of 64 or 651 bytes (the mean
//     of metron-example.pcap) over and over, classic pcap.
//   - metron/FORMAT/COMPRESSION: metron-example.pcap's real frames in
//     turn (HTTP and DNS), in each format and compression at its default
//     level, one file per 10000 packets. ratio is capture bytes over
//     bytes on disk. The frames repeat every 761 packets (500 kB), which
//     zstd's window (8 MB) sees and gzip's and lz4's (32 and 64 kB) do
//     not, so its ratio is overstated; once-ratio is that of the capture
//     written once, one file.
func BenchmarkWrite(b *testing.B) {
	for _, size := range []int{64, 651} {
		for _, every := range []int64{0, 10000} {
			name := fmt.Sprintf("size=%d/rotate=", size)
			if every == 0 {
				name += "none"
			} else {
				name += fmt.Sprint(every)
			}
			data := [][]byte{frame(1, size)}
			b.Run(name, func(b *testing.B) {
				benchWrite(b, Spec{Dir: b.TempDir(), Template: "{seq}.pcap", Nanos: true, MaxPackets: every}, data)
			})
		}
	}
	_, recs, err := pcap.ReadFile(filepath.Join(testenv.Pcaps(b), "metron-example.pcap"))
	if err != nil {
		b.Fatal(err)
	}
	var frames [][]byte
	for _, r := range recs {
		frames = append(frames, r.Data)
	}
	for _, format := range formats {
		for _, comp := range compressions {
			b.Run(fmt.Sprintf("metron/%s/%s", format, comp), func(b *testing.B) {
				spec := Spec{Dir: b.TempDir(), Template: "{seq}.pcap", Nanos: true, MaxPackets: 10000,
					Format: format, Compression: comp}
				once := onceRatio(b, spec, frames)
				benchWrite(b, spec, frames)
				b.ReportMetric(once, "once-ratio")
			})
		}
	}
}

// onceRatio writes frames once into one file, and returns its capture
// bytes over its bytes on disk.
func onceRatio(b *testing.B, spec Spec, frames [][]byte) float64 {
	spec.Dir, spec.MaxPackets = b.TempDir(), 0
	w, err := NewWriter(spec, Vars{})
	if err != nil {
		b.Fatal(err)
	}
	for i, f := range frames {
		if _, err := w.Write(t0+int64(i)*1000, f, uint32(len(f))); err != nil {
			b.Fatal(err)
		}
	}
	fin, err := w.Finalize()
	if err != nil {
		b.Fatal(err)
	}
	return float64(fin.CaptureBytes) / float64(fin.Bytes)
}

// benchWrite writes b.N records, frames in turn, 1 µs apart.
func benchWrite(b *testing.B, spec Spec, frames [][]byte) {
	w, err := NewWriter(spec, Vars{})
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, f := range frames {
		total += int64(len(f))
	}
	var files, capture, disk int64
	count := func(fins []Finalized) {
		for _, f := range fins {
			files++
			capture += f.CaptureBytes
			disk += f.Bytes
		}
	}
	b.SetBytes(total / int64(len(frames)))
	b.ReportAllocs()
	b.ResetTimer()
	ts := t0
	for i := range b.N {
		data := frames[i%len(frames)]
		rot, err := w.Write(ts, data, uint32(len(data)))
		if err != nil {
			b.Fatal(err)
		}
		count(rot)
		ts += 1000
	}
	fin, err := w.Finalize()
	if err != nil {
		b.Fatal(err)
	}
	if fin != nil {
		count([]Finalized{*fin})
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
	b.ReportMetric(float64(files), "files")
	if disk > 0 {
		b.ReportMetric(float64(capture)/float64(disk), "ratio")
	}
}
