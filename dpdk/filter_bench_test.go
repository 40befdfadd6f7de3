package dpdk

import (
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/filter"
)

// BenchmarkRxFilter measures what one RX lcore polls, in Mpps of the
// loop thread's own CPU time (CLOCK_THREAD_CPUTIME_ID: other load on the
// machine does not count), on net_pcap replaying metron-example.pcap
// from memory (infinite_rx=1), with no filter, a one-clause filter
// ("tcp") and a five-clause one, each JIT-compiled and interpreted, the
// one-clause filter on the innermost packet (decap: fc_parse and
// fc_inner_enter/leave per packet), the flow hash alone (fc_parse per
// packet, no filter) and four one-clause routes, in one run: 5 rounds of each in turn, 1 s each ($BENCH_ROUNDS,
// $BENCH_SECONDS), the median reported, and
// each as a ratio of no filter. Nothing drains the ring (see pollFor):
// this is the RX lcore alone.
//
//	go test -run '^$' -bench RxFilter -benchtime 1x ./dpdk/
func BenchmarkRxFilter(b *testing.B) {
	requireEAL(b)
	pool, err := NewMempool(MempoolSpec{Name: "p-bench-filter", Mbufs: 16383, Cache: 256, DataRoom: 2048 + 128, Socket: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	port := openReplayPort(b, "net_pcap_filter_bench", pool)
	defer port.Close()
	ring, err := NewRing(RingSpec{Name: "r-bench-filter", Size: 8192, Socket: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer ring.Close()

	const one = "tcp"
	const five = "(tcp port 80 or udp port 53) and net 192.168.0.0/16 and not host 192.168.138.1 and greater 60"
	variants := []struct {
		name, expr string
		interpret  bool
		opts       RoutesOptions
		routes     int
	}{{"none", "", false, RoutesOptions{}, 1}, {"1clause-jit", one, false, RoutesOptions{}, 1},
		{"1clause-interp", one, true, RoutesOptions{}, 1},
		{"5clause-jit", five, false, RoutesOptions{}, 1}, {"5clause-interp", five, true, RoutesOptions{}, 1},
		{"1clause-jit-decap", one, false, RoutesOptions{Decap: true}, 1},
		{"flowhash", "", false, RoutesOptions{FlowHash: true}, 1},
		{"4routes-jit", one, false, RoutesOptions{}, 4}}
	rounds, seconds := benchEnv(b, "BENCH_ROUNDS", 5), benchEnv(b, "BENCH_SECONDS", 1)
	mpps := make([][]float64, len(variants))
	kept := make([]float64, len(variants))
	drops := make([]uint64, len(variants))
	for b.Loop() {
		for r := 0; r < int(rounds); r++ {
			for i, v := range variants {
				var f *Filter
				if v.expr != "" {
					cf, err := filter.New(filter.Spec{Expr: v.expr})
					if err != nil {
						b.Fatal(err)
					}
					if f, err = NewFilter(FilterSpec{Expr: v.expr, Program: cf.Program(), Interpret: v.interpret}); err != nil {
						b.Fatal(err)
					}
				}
				var routes []Route
				for range v.routes {
					if f != nil || v.opts != (RoutesOptions{}) {
						routes = append(routes, Route{Filter: f})
					}
				}
				st, cpu := pollFor(b, port, ring, routes, v.opts, nil, time.Duration(seconds*float64(time.Second)))
				f.Close()
				drainRing(b, ring)
				// Packets per second of the RX lcore's own CPU time:
				// what one lcore with a CPU to itself would poll.
				mpps[i] = append(mpps[i], float64(st.Packets)/float64(cpu)*1e3)
				drops[i] += st.RingDropped
				kept[i] = float64(st.Packets-st.Filtered) / float64(st.Packets)
			}
		}
	}
	base := median(mpps[0])
	for i, v := range variants {
		m := median(mpps[i])
		b.ReportMetric(m, v.name+"-Mpps")
		b.ReportMetric(m/base, v.name+"-ratio")
		b.Logf("%-15s %6.2f Mpps (rounds %.2f), %.2f of none, keeps %.1f %%, ring drops %d", v.name, m, mpps[i], m/base,
			100*kept[i], drops[i])
	}
}

// pollFor runs an RX lcore with routes (and opts) and outputs (nil: none) on port for d and returns the
// queue's counters and the CPU time the loop's thread used, in ns.
// Nothing drains the ring: once full, every packet the filter keeps is
// freed as a ring drop, the same work for every variant, so what differs
// between them is the filter (and no drainer competes for the CPUs).
func pollFor(b *testing.B, port *Port, ring *Ring, route []Route, opts RoutesOptions, outs *Outputs, d time.Duration) (RxQueueStats, uint64) {
	b.Helper()
	routes, err := NewRoutes(route, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer routes.Close()
	rx, err := NewRxLcore(RxSpec{Lcore: ealInfo.Workers[0], Queues: []RxQueue{{port, 0}}, Ring: ring, Burst: 32, Routes: routes,
		Outputs: outs})
	if err != nil {
		b.Fatal(err)
	}
	defer rx.Close()
	if err := launchTimedForTest(rx); err != nil {
		b.Fatal(err)
	}
	time.Sleep(d)
	rx.Stop()
	return rx.Stats()[0], rxCPUForTest()
}

// drainRing frees what a ring holds.
func drainRing(b *testing.B, ring *Ring) {
	b.Helper()
	burst, err := NewBurst(256)
	if err != nil {
		b.Fatal(err)
	}
	for burst.Cycle(ring) > 0 {
	}
	burst.Close()
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// benchEnv is $name as a number (bench.sh's BENCH_ROUNDS, BENCH_SECONDS),
// or def.
func benchEnv(b *testing.B, name string, def float64) float64 {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return f
}
