package pipeline_test

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/fastcapa-go/fastcapa/config"
	"github.com/fastcapa-go/fastcapa/dpdk"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/kafka"
	"github.com/fastcapa-go/fastcapa/packet"
	"github.com/fastcapa-go/fastcapa/pcap"
	"github.com/fastcapa-go/fastcapa/pipeline"
)

// One EAL per process, and a vdev port cannot be opened again once
// closed: TestMain starts the EAL with a net_pcap vdev per benchmark
// capture, each replayed without end (infinite_rx=1), and every rig
// (pool, port, ring, producer) is opened once, on first use, kept across
// the calls Go makes to a benchmark function, and closed and audited in
// TestMain after the run.
var bench struct {
	info    dpdk.EALInfo
	err     error // from setting up the EAL or the broker; benchmarks fail with it
	tmp     string
	broker  *kfake.Cluster
	log     *slog.Logger
	mu      sync.Mutex
	rigs    map[string]*benchRig
	opening map[string]error
}

// benchCapture is one capture the benchmark replays.
type benchCapture struct {
	name string // sub-benchmark and vdev suffix
	file func() string
}

// The rig sizes: the ring smaller than the daemon's default (65536) so
// the -m 512 pool can outnumber it and a full ring, not an empty pool,
// throttles the RX lcore.
const (
	benchRingSize = 16384
	benchMbufs    = 32767
)

func TestMain(m *testing.M) {
	bench.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	bench.rigs = map[string]*benchRig{}
	bench.opening = map[string]error{}
	if os.Geteuid() == 0 {
		bench.err = benchSetup()
	}
	code := m.Run()
	if err := benchTeardown(); err != nil {
		fmt.Fprintf(os.Stderr, "pipeline benchmarks: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	if bench.tmp != "" {
		os.RemoveAll(bench.tmp)
	}
	os.Exit(code)
}

func benchPcaps() string {
	if dir := os.Getenv("FASTCAPA_PCAPS"); dir != "" {
		return dir
	}
	return filepath.Join(testenv.Root(), "..", "shared", "pcaps")
}

var benchCaptures = []benchCapture{
	{name: "64B", file: func() string { return filepath.Join(bench.tmp, "frames64.pcap") }},
	{name: "metron", file: func() string { return filepath.Join(benchPcaps(), "metron-example.pcap") }},
}

func benchSetup() error {
	var err error
	if bench.tmp, err = os.MkdirTemp("", "fc-pipeline-bench-"); err != nil {
		return err
	}
	if err := writeFrames(benchCaptures[0].file(), 64, 1024); err != nil {
		return fmt.Errorf("write 64 B capture: %w", err)
	}
	if _, err := os.Stat(benchCaptures[1].file()); err != nil {
		return fmt.Errorf("sample capture: %w (set FASTCAPA_PCAPS)", err)
	}
	dpdk.SetLogger(bench.log)
	args := []string{"-l", "0,1", "--no-huge", "--no-pci", "-m", "512", "--no-telemetry",
		"--file-prefix", fmt.Sprintf("fc-pipeline-bench-%d", os.Getpid())}
	for _, c := range benchCaptures {
		args = append(args, "--vdev", "net_pcap_"+c.name+",rx_pcap="+c.file()+",infinite_rx=1")
	}
	if bench.info, err = dpdk.Init(args); err != nil {
		return err
	}
	if len(bench.info.Workers) == 0 {
		return errors.New("eal: no worker lcore for RX")
	}
	bench.broker, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(),
		kfake.SeedTopics(1, "bench-64B", "bench-metron"))
	return err
}

// benchTeardown closes every rig and fails when any mbuf is not back in
// its pool once its port is closed.
func benchTeardown() error {
	var errs []error
	for name, r := range bench.rigs {
		if err := r.close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if bench.broker != nil {
		bench.broker.Close()
	}
	if bench.info.TSCHz != 0 {
		dpdk.Cleanup()
		os.RemoveAll(fmt.Sprintf("/var/run/dpdk/fc-pipeline-bench-%d", os.Getpid())) // EAL leaves it
	}
	return errors.Join(errs...)
}

// writeFrames writes count Ethernet/IPv4/UDP frames of size bytes, laid
// out as cmd/fcbench gen-pcap lays them (without the IP checksum, which
// nothing here reads).
func writeFrames(path string, size, count int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := pcap.NewWriter(f, false, 65535)
	if err != nil {
		return err
	}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for i := 0; i < count; i++ {
		fr := packet.UDPFrame(size, uint16(1024+i), 9)
		if err := w.Write(pcap.Record{Timestamp: base + int64(i)*1000, Data: fr}); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// benchRig is what one capture's benchmark keeps across calls.
type benchRig struct {
	pool     *dpdk.Mempool
	port     *dpdk.Port
	ring     *dpdk.Ring
	prod     *kafka.Producer
	avgBytes float64 // mean frame length of the capture
	broken   error   // a call left it unusable (a worker that would not stop)
}

// rigFor opens a capture's rig on first use.
func rigFor(b *testing.B, c benchCapture) *benchRig {
	b.Helper()
	testenv.RequireRoot(b)
	if bench.err != nil {
		b.Fatalf("set-up: %v", bench.err)
	}
	bench.mu.Lock()
	defer bench.mu.Unlock()
	if r, ok := bench.rigs[c.name]; ok {
		if r.broken != nil {
			b.Fatalf("rig unusable after an earlier failure: %v", r.broken)
		}
		return r
	}
	if err, ok := bench.opening[c.name]; ok {
		b.Fatalf("open rig (earlier attempt): %v", err)
	}
	r, err := openRig(c)
	bench.opening[c.name] = err
	if err != nil {
		b.Fatalf("open rig: %v", err)
	}
	bench.rigs[c.name] = r
	return r
}

func openRig(c benchCapture) (r *benchRig, err error) {
	_, recs, err := pcap.ReadFile(c.file())
	if err != nil {
		return nil, err
	}
	var total int
	for _, rec := range recs {
		total += len(rec.Data)
	}
	r = &benchRig{avgBytes: float64(total) / float64(len(recs))}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	d := config.Defaults()
	r.pool, err = dpdk.NewMempool(dpdk.MempoolSpec{Name: "bench_" + c.name, Mbufs: benchMbufs,
		Cache: uint32(d.Capture.MbufCache), DataRoom: uint16(d.Capture.MbufDataRoom), Socket: -1})
	if err != nil {
		return r, err
	}
	r.port, err = dpdk.OpenPort(dpdk.PortSpec{Name: "net_pcap_" + c.name, RxQueues: 1, RxDescriptors: 1024,
		Promiscuous: true, PoolFor: func(int) (*dpdk.Mempool, error) { return r.pool, nil }})
	if err != nil {
		return r, err
	}
	r.ring, err = dpdk.NewRing(dpdk.RingSpec{Name: "bench_" + c.name, Size: benchRingSize, Socket: -1})
	if err != nil {
		return r, err
	}
	r.prod, err = kafka.NewProducer(kafka.ProducerSpec{
		Topic:            "bench-" + c.name,
		KeyDivisor:       1,
		Properties:       map[string]string{"bootstrap.servers": bench.broker.ListenAddrs()[0]},
		QueueFullTimeout: d.Kafka.QueueFullTimeout,
		Logger:           bench.log,
	})
	if err != nil {
		return r, err
	}
	// A broker's answer first, so connecting and fetching metadata are
	// not timed.
	if !waitUntil(30*time.Second, func() bool { return r.prod.Ready() == nil }) {
		return r, fmt.Errorf("no broker answers at %s: %v", bench.broker.ListenAddrs()[0], r.prod.Ready())
	}
	return r, nil
}

// close releases the rig; with the port closed every mbuf must be back.
func (r *benchRig) close() error {
	if r.broken != nil {
		return fmt.Errorf("not closed, left in use: %w", r.broken)
	}
	var errs []error
	if r.prod != nil {
		if n := r.prod.Close(10 * time.Second); n != 0 {
			errs = append(errs, fmt.Errorf("%d messages unflushed", n))
		}
	}
	if r.port != nil {
		if err := r.port.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if r.ring != nil {
		if n := r.ring.Count(); n != 0 {
			errs = append(errs, fmt.Errorf("ring holds %d mbufs at close", n))
		}
		r.ring.Close()
	}
	if r.pool != nil {
		if a := r.pool.Audit(); a.InUse != 0 {
			errs = append(errs, fmt.Errorf("mempool: %d mbufs in use after the port closed (%+v)", a.InUse, a))
		}
		r.pool.Close()
	}
	return errors.Join(errs...)
}

func waitUntil(timeout time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// BenchmarkRingWorkerProducer times the path from a ring to broker
// acknowledgement: an RX lcore replays a capture without end into a ring
// as fast as it can (a full ring drops, and counts), and one Worker moves
// packets into a kafka.Producer sending to an in-process kfake broker.
// One op is one packet delivered: the clock runs from launching the RX
// lcore until the producer has b.N more delivery reports (not merely
// b.N dequeued, which librdkafka's queue would flatter). Metrics: pkts/s
// and MB/s delivered (frame bytes), ringdrops/op (what the RX lcore
// offered beyond what the worker took, per delivered packet), qdrops/op
// (given up by the producer after its queue-full timeout). Every
// packet received is accounted for at the end of each call, or the
// benchmark fails.
func BenchmarkRingWorkerProducer(b *testing.B) {
	for _, c := range benchCaptures {
		b.Run(c.name, func(b *testing.B) {
			r := rigFor(b, c)
			r.run(b)
		})
	}
}

// stallTimeout is how long a call may go without one delivery before it
// gives up.
const stallTimeout = 30 * time.Second

func (r *benchRig) run(b *testing.B) {
	d := config.Defaults()
	rx, err := dpdk.NewRxLcore(dpdk.RxSpec{Lcore: bench.info.Workers[0], Queues: []dpdk.RxQueue{{Port: r.port, Queue: 0}},
		Ring: r.ring, Burst: uint16(d.Capture.Burst)})
	if err != nil {
		b.Fatal(err)
	}
	w := pipeline.NewWorker(pipeline.WorkerSpec{Ring: r.ring, Burst: d.Capture.Burst, Producer: r.prod, Register: true})
	// The producer's counts, the worker's too (its sink's), run on over
	// the rig's calls.
	base, wbase := r.prod.Counters(), w.Counters()
	rxStopped := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- w.Run(rxStopped) }()

	want := uint64(b.N)
	b.ResetTimer()
	start := time.Now()
	if err := rx.Launch(); err != nil {
		close(rxStopped)
		<-done
		rx.Close()
		b.Fatal(err)
	}
	var (
		failure   error
		last      uint64
		lastMoved = time.Now()
	)
	for {
		got := r.prod.Counters().Delivered - base.Delivered
		if got >= want {
			break
		}
		select {
		case err := <-done:
			failure = fmt.Errorf("worker stopped early: %v", err)
			done <- err
		default:
		}
		if failure != nil {
			break
		}
		if got != last {
			last, lastMoved = got, time.Now()
		} else if time.Since(lastMoved) > stallTimeout {
			failure = fmt.Errorf("%d of %d packets delivered, none for %v (last error %q)", got, want, stallTimeout, r.prod.LastError())
			break
		}
		time.Sleep(50 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()

	// Drain: stop RX, let the worker empty the ring, flush the producer.
	rx.Stop()
	close(rxStopped)
	select {
	case err := <-done:
		if err != nil && failure == nil {
			failure = fmt.Errorf("worker: %w", err)
		}
	case <-time.After(stallTimeout):
		r.broken = fmt.Errorf("worker still draining %d mbufs after %v", r.ring.Count(), stallTimeout)
		b.Fatal(r.broken)
	}
	if !waitUntil(stallTimeout, func() bool { return r.prod.InFlight() == 0 }) && failure == nil {
		failure = fmt.Errorf("%d messages not flushed in %v", r.prod.InFlight(), stallTimeout)
	}
	st := rx.Stats()[0]
	rx.Close()
	if failure != nil {
		b.Fatal(failure)
	}

	// Every packet the RX lcore took is in exactly one place.
	wc := w.Counters()
	wc.Dequeued -= wbase.Dequeued
	wc.Malformed -= wbase.Malformed
	k := r.prod.Counters()
	produced, qdropped := k.Produced-base.Produced, k.QueueDropped-base.QueueDropped
	delivered, failed := k.Delivered-base.Delivered, k.Failed-base.Failed
	unaccounted := int64(st.Packets) - int64(delivered+failed+qdropped+wc.Malformed+st.RingDropped)
	switch {
	case unaccounted != 0:
		b.Errorf("unaccounted %d: received %d = delivered %d + failed %d + queue-dropped %d + malformed %d + ring-dropped %d",
			unaccounted, st.Packets, delivered, failed, qdropped, wc.Malformed, st.RingDropped)
	case st.Enqueued != wc.Dequeued || wc.Dequeued != wc.Malformed+produced+qdropped || produced != delivered+failed:
		b.Errorf("stages disagree: enqueued %d, dequeued %d, malformed %d, produced %d, queue-dropped %d, delivered %d, failed %d",
			st.Enqueued, wc.Dequeued, wc.Malformed, produced, qdropped, delivered, failed)
	case failed != 0 || wc.Malformed != 0:
		b.Errorf("%d deliveries failed (%q), %d malformed", failed, r.prod.LastError(), wc.Malformed)
	}
	if n := r.ring.Count(); n != 0 {
		b.Errorf("ring holds %d mbufs after the drain", n)
	}

	pps := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(pps, "pkts/s")
	b.ReportMetric(pps*r.avgBytes/1e6, "MB/s")
	b.ReportMetric(float64(st.RingDropped)/float64(b.N), "ringdrops/op")
	b.ReportMetric(float64(qdropped)/float64(b.N), "qdrops/op")
}
