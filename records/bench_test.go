package records_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

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

// BenchmarkReadFlowSpans: a day of $BENCH_FLOWS flow records (a million
// by default: a flow every 86 ms, each lasting up to 2 minutes, 24 hourly
// partitions, row groups of the default 131072 rows) read back for
// pcapstore serve's histogram:
// "day" is every one, "hour" one hour of them (partitions and row groups
// pruned), and "generic" the whole day through parquet-go's
// GenericReader[FlowSpan], the reference ReadFlowSpans's own column
// reading is measured against. ns/op is per flow record of the day.
func BenchmarkReadFlowSpans(b *testing.B) {
	flows := int64(1_000_000)
	if v, err := strconv.ParseInt(os.Getenv("BENCH_FLOWS"), 10, 64); err == nil && v > 0 {
		flows = v
	}
	dir := b.TempDir()
	t0 := int64(1_780_000_000) * 1e9 // on an hour
	step := int64(24*time.Hour) / flows
	ds := records.NewDataset[records.Flow](records.DatasetSpec{Dir: dir + "/flows", Kind: "flows", Stem: "b"})
	for i := range flows {
		f := records.Flow{UID: fmt.Sprint(i % 1000), First: t0 + i*step, OrigPackets: 1 + i%7, OrigBytes: 60 + i%1400, RespPackets: i % 5, RespBytes: i % 3000}
		f.Last = f.First + (i*7919)%int64(2*time.Minute)
		if err := ds.Write(f.First, f); err != nil {
			b.Fatal(err)
		}
	}
	if err := ds.Close(); err != nil {
		b.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "flows", "date=*", "hour=*", "*.parquet"))
	var sink int64
	for _, r := range []struct {
		name     string
		from, to int64
	}{{"day", t0, t0 + int64(24*time.Hour)}, {"hour", t0 + int64(12*time.Hour), t0 + int64(13*time.Hour) - 1}} {
		b.Run(r.name, func(b *testing.B) {
			for range b.N {
				rd, err := records.ReadFlowSpans(context.Background(), dir, r.from, r.to, func(s records.FlowSpan) { sink += s.OrigPackets })
				if err != nil || len(rd.Failed) > 0 {
					b.Fatal(err, rd.Failed)
				}
				b.ReportMetric(float64(rd.Spans), "spans")
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(flows), "ns/flow")
		})
	}
	b.Run("generic", func(b *testing.B) {
		buf := make([]records.FlowSpan, 1024)
		for range b.N {
			var n int64
			for _, p := range files {
				f, err := os.Open(p)
				if err != nil {
					b.Fatal(err)
				}
				r := parquet.NewGenericReader[records.FlowSpan](f)
				for {
					k, err := r.Read(buf)
					for _, s := range buf[:k] {
						sink += s.OrigPackets
					}
					n += int64(k)
					if err != nil {
						break
					}
				}
				r.Close()
				f.Close()
			}
			if n != flows {
				b.Fatalf("%d rows", n)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(flows), "ns/flow")
	})
}
