package records_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/records"
)

// BenchmarkWriter: packets of metron-example.pcap (651 B on average),
// their times moved on each lap, through each stage of a Writer, in one
// run: "decode" (index.Decode and the flow table), "packets" (packet
// rows to Parquet), "packets+flows" (both kinds, as pcapstore records
// writes by default). ns/op is per packet; parquet_B/pkt is the Parquet
// bytes written per packet, pcap_B/pkt the same packets' bytes in a
// classic pcap.
func BenchmarkWriter(b *testing.B) {
	recs := pcaptest.ReadAll(b, filepath.Join(testenv.Pcaps(b), "metron-example.pcap"))
	span := recs[len(recs)-1].Timestamp - recs[0].Timestamp + 1
	var pcapBytes int64
	for _, r := range recs {
		pcapBytes += 16 + int64(len(r.Data))
	}
	for _, mode := range []struct {
		name           string
		packets, flows bool
	}{{"decode", false, false}, {"packets", true, false}, {"packets+flows", true, true}} {
		b.Run(mode.name, func(b *testing.B) {
			dir := b.TempDir()
			w := records.NewWriter(records.WriterSpec{Dir: dir, Packets: mode.packets, Flows: mode.flows, Stem: "b"})
			b.SetBytes(pcapBytes / int64(len(recs)))
			b.ResetTimer()
			for i := range b.N {
				r := recs[i%len(recs)]
				ts := r.Timestamp + int64(i/len(recs))*span
				if err := w.Add(ts, r.OrigLen, r.LinkType, r.Data, "bench.pcap", int64(i)); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			var size int64
			filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
				if err == nil && !fi.IsDir() {
					size += fi.Size()
				}
				return nil
			})
			b.ReportMetric(float64(size)/float64(b.N), "parquet_B/pkt")
			b.ReportMetric(float64(pcapBytes)/float64(len(recs)), "pcap_B/pkt")
		})
	}
}

// BenchmarkSeedQueries times the seed's three queries with DuckDB over
// the records under $BENCH_RECORDS_DIR (test/bench_records.sh makes a
// day of them), each query a sub-benchmark; skipped without it.
func BenchmarkSeedQueries(b *testing.B) {
	dir := os.Getenv("BENCH_RECORDS_DIR")
	if dir == "" {
		b.Skip("BENCH_RECORDS_DIR not set (test/bench_records.sh sets it)")
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	glob := dir + "/packets/**/*.parquet"
	var rows int64
	if err := db.QueryRow(seedCount, glob).Scan(&rows); err != nil {
		b.Fatal(err)
	}
	for _, q := range []struct{ name, sql string }{
		{"count", seedCount},
		{"per_protocol", fmt.Sprintf(seedPerProto, "true")},
		{"per_millisecond", seedPerMilli},
	} {
		b.Run(q.name, func(b *testing.B) {
			for range b.N {
				rs, err := db.Query(q.sql, glob)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for rs.Next() {
					n++
				}
				rs.Close()
			}
			b.ReportMetric(float64(rows), "rows")
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
