package dpdk

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkRxOutputs measures what one RX lcore polls and sends, in Mpps
// of the loop thread's own CPU time, on net_pcap replaying
// metron-example.pcap from memory, with outputs on net_null ports (which
// free what they are sent): none, replication to 1, 2 and 4 outputs (a
// reference count per output), a VLAN tag inserted (header mbuf +
// clone), GRETAP, GRE and VXLAN to 1 output and GRETAP to 4, and 1
// output without a ring (kafka.disabled: freed after it), each as a
// ratio of none, in one run: $BENCH_ROUNDS rounds of each in turn,
// $BENCH_SECONDS each, the median reported.
//
//	go test -run '^$' -bench RxOutputs -benchtime 1x ./dpdk/
func BenchmarkRxOutputs(b *testing.B) {
	requireEAL(b)
	pool, err := NewMempool(MempoolSpec{Name: "p-bench-out", Mbufs: 16383, Cache: 256, DataRoom: 2048 + 128, Socket: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	hdr, err := NewMempool(MempoolSpec{Name: "p-bench-hdr", Mbufs: 16383, Cache: 256, DataRoom: 128 + 128, Socket: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer hdr.Close()
	port := openReplayPort(b, "net_pcap_output_bench", pool)
	defer port.Close()
	var nulls []*Port
	for i := range 4 {
		name := fmt.Sprintf("net_null_bench%d", i)
		if err := addVdevForTest(name, ""); err != nil {
			b.Fatal(err)
		}
		p, err := OpenPort(PortSpec{Name: name, TxQueues: 1, PoolFor: func(int) (*Mempool, error) { return pool, nil }})
		if err != nil {
			b.Fatal(err)
		}
		defer removeVdevForTest(name)
		defer p.Close()
		nulls = append(nulls, p)
	}
	ring, err := NewRing(RingSpec{Name: "r-bench-out", Size: 8192, Socket: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer ring.Close()

	plain := func(n int, tmpl OutputSpec) []OutputSpec {
		var out []OutputSpec
		for i := range n {
			o := tmpl
			o.Name, o.Port, o.MTU = fmt.Sprintf("o%d", i), nulls[i], 9000
			out = append(out, o)
		}
		return out
	}
	variants := []struct {
		name   string
		outs   []OutputSpec
		noRing bool // kafka.disabled: freed after the outputs
	}{
		{"none", nil, false},
		{"1out", plain(1, OutputSpec{}), false}, {"2out", plain(2, OutputSpec{}), false}, {"4out", plain(4, OutputSpec{}), false},
		{"1vlan", plain(1, OutputSpec{InsertVLAN: true}), false},
		{"1gretap", plain(1, OutputSpec{Tunnel: tunnelTo(TunnelGRETAP, 7, true)}), false},
		{"1gre", plain(1, OutputSpec{Tunnel: tunnelTo(TunnelGRE, 7, true)}), false},
		{"1vxlan", plain(1, OutputSpec{Tunnel: tunnelTo(TunnelVXLAN, 42, false)}), false},
		{"4gretap", plain(4, OutputSpec{Tunnel: tunnelTo(TunnelGRETAP, 7, true)}), false},
		{"1out-noring", plain(1, OutputSpec{}), true},
	}
	rounds, seconds := benchEnv(b, "BENCH_ROUNDS", 5), benchEnv(b, "BENCH_SECONDS", 1)
	mpps := make([][]float64, len(variants))
	var sent, lost []uint64 = make([]uint64, len(variants)), make([]uint64, len(variants))
	for b.Loop() {
		for r := 0; r < int(rounds); r++ {
			for i, v := range variants {
				var outs *Outputs
				if v.outs != nil {
					if outs, err = NewOutputs(OutputsSpec{Outputs: v.outs, Lcores: 1, Pool: hdr,
						VLANOfPort: map[string]uint16{"net_pcap_output_bench": 100}}); err != nil {
						b.Fatal(err)
					}
				}
				r := ring
				if v.noRing {
					r = nil
				}
				rx, cpu := pollOutputs(b, port, r, outs, time.Duration(seconds*float64(time.Second)))
				outs.Close()
				drainRing(b, ring)
				mpps[i] = append(mpps[i], float64(rx.Packets)/float64(cpu)*1e3)
				for _, s := range rx.out {
					sent[i] += s.Sent
					lost[i] += s.Dropped()
				}
			}
		}
	}
	if a := hdr.Audit(); a.InUse != 0 {
		b.Errorf("header pool: %d mbufs in use", a.InUse)
	}
	base := median(mpps[0])
	for i, v := range variants {
		m := median(mpps[i])
		b.ReportMetric(m, v.name+"-Mpps")
		b.ReportMetric(m/base, v.name+"-ratio")
		b.Logf("%-8s %6.2f Mpps (rounds %.2f), %.2f of none; sent %d, dropped %d", v.name, m, mpps[i], m/base, sent[i], lost[i])
	}
}

type pollResult struct {
	RxQueueStats
	out []OutputStats
}

// pollOutputs is pollFor with outputs, returning their counts too.
func pollOutputs(b *testing.B, port *Port, ring *Ring, outs *Outputs, d time.Duration) (pollResult, uint64) {
	b.Helper()
	rx, err := NewRxLcore(RxSpec{Lcore: ealInfo.Workers[0], Queues: []RxQueue{{port, 0}}, Ring: ring, Burst: 32, Outputs: outs})
	if err != nil {
		b.Fatal(err)
	}
	defer rx.Close()
	if err := launchTimedForTest(rx); err != nil {
		b.Fatal(err)
	}
	time.Sleep(d)
	rx.Stop()
	return pollResult{rx.Stats()[0], rx.OutputStats()}, rxCPUForTest()
}
