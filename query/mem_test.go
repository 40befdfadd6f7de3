package query

import (
	"context"
	"flag"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/pcap"
)

var memSize = flag.Int64("query.memsize", 1<<30, "bytes of captures TestMemoryBounded generates (-short: 128 MiB)")

// TestMemoryBounded: a query matching every packet of a generated store
// (1 GiB by default: 8 partitions written at once, 32 MiB files) streams
// through a small heap. The live heap is sampled every 5 ms while the
// query runs; its peak above the start must stay under 64 MiB, against a
// result the size of the store. The GC is left at its default.
func TestMemoryBounded(t *testing.T) {
	size := *memSize
	if testing.Short() {
		size = 128 << 20
	}
	dir := t.TempDir()
	start := time.Now()
	records, bytes := genStore(t, dir, storeLayout{bytes: size, partitions: 8, fileBytes: 32 << 20})
	gen := time.Since(start)

	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		var m runtime.MemStats
		for {
			select {
			case <-tk.C:
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapInuse)
			case <-done:
				return
			}
		}
	}()
	start = time.Now()
	var n, sum int64
	var last int64
	st, err := Run(context.Background(), Spec{Paths: []string{dir}}, func(r pcap.Record) error {
		n++
		sum += int64(len(r.Data))
		if r.Timestamp < last {
			t.Fatalf("record %d goes back in time", n)
		}
		last = r.Timestamp
		return nil
	})
	took := time.Since(start)
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if n != records || st.Matched != records {
		t.Errorf("%d records emitted, %d written", n, records)
	}
	growth := int64(peak) - int64(base)
	t.Logf("%d MiB in %d files (written in %v), %d records, %d MiB of captured bytes emitted in %v (%.0f MB/s): heap peak %d MiB above a base of %d MiB",
		bytes>>20, st.Captures, gen.Round(time.Millisecond), n, sum>>20, took.Round(time.Millisecond), float64(bytes)/took.Seconds()/1e6, growth>>20, base>>20)
	if growth > 64<<20 {
		t.Errorf("heap grew by %d MiB for a %d MiB result: not bounded", growth>>20, sum>>20)
	}
}
