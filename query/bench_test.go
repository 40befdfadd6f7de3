package query

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

var benchSize = flag.Int64("query.benchsize", 256<<20, "bytes of captures the query benchmarks generate")

// benchQueries are a full scan (every packet) and a selective query (one
// host, one packet in selectiveEvery).
var benchQueries = []struct{ name, expr string }{
	{"full", ""},
	{"selective", "host " + selectiveHost},
}

// benchStore generates the store the benchmarks share (8 partitions
// written at once, 32 MiB files) and lists its files.
func benchStore(b *testing.B) (dir string, files []string, records, size int64) {
	b.Helper()
	dir = b.TempDir()
	records, size = genStore(b, dir, storeLayout{bytes: *benchSize, partitions: 8, fileBytes: 32 << 20})
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		files = append(files, filepath.Join(dir, e.Name()))
	}
	sort.Strings(files)
	return dir, files, records, size
}

// BenchmarkQuery runs a full scan and a selective query over a generated
// store (-query.benchsize, 256 MiB by default), emitting into nothing,
// and reports MB/s of capture files and packets/s read. The files are in
// the page cache after the first round: this measures the CPU side.
//
// BenchmarkTcpdump is the comparison in the same run: tcpdump -r over
// each file in turn, writing the matches to /dev/null, as
// `for f in FILES; do tcpdump -r $f -w /dev/null FILTER; done` (one core;
// tcpdump cannot merge). For the ≥ 2 GB comparison of issue 5, run both
// with -query.benchsize=2147483648 -benchtime=3x, or time
// `pcapstore query expr FILTER DIR -o /dev/null` against
// `mergecap -w - DIR/* | tcpdump -r - -w /dev/null FILTER` on one store.
func BenchmarkQuery(b *testing.B) {
	dir, _, records, size := benchStore(b)
	for _, q := range benchQueries {
		b.Run(q.name, func(b *testing.B) {
			b.SetBytes(size)
			var matched int64
			for b.Loop() {
				st, err := Run(context.Background(), Spec{Paths: []string{dir}, Filter: q.expr}, func(pcap.Record) error { return nil })
				if err != nil {
					b.Fatal(err)
				}
				matched = st.Matched
			}
			b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "packets/s")
			b.ReportMetric(float64(matched), "matched")
		})
	}
}

func BenchmarkTcpdump(b *testing.B) {
	bin := testenv.RequireTool(b, "tcpdump")
	_, files, records, size := benchStore(b)
	for _, q := range benchQueries {
		b.Run(q.name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				for _, f := range files {
					args := []string{"-r", f, "-w", "/dev/null"}
					if q.expr != "" {
						args = append(args, q.expr)
					}
					if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
						b.Fatalf("tcpdump: %v: %s", err, out)
					}
				}
			}
			b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "packets/s")
		})
	}
}
