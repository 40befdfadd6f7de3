// Command fcbench measures the ceilings fastcapa is compared with in
// make bench: librdkafka alone from C, and confluent-kafka-go's Produce
// alone, with no DPDK, no ring and no worker, sending synthetic messages
// of one size to a broker and waiting for every delivery report.
//
//	fcbench -brokers 127.0.0.1:9092 -topic bench -size 64 -duration 10s
//	fcbench gen-pcap -size 64 -count 1024 -o frames64.pcap
//	fcbench pcap-stats example.pcap
//	fcbench fill -from example.pcap -count 300000 -topic sinkbench
//	fcbench consume -topic sinkbench -count 300000
//	fcbench gen-store -from example.pcap -dir /tmp/store -bytes 2147483648
//	fcbench ttfb -clients 8 -url http://127.0.0.1:9460/query -q tcp
//	fcbench ttfb -- pcapstore query expr tcp -o - /tmp/store
//
// The first form runs once per -modes entry (raw,c by default): through
// a bare confluent-kafka-go Producer (raw: the Go client's ceiling), or
// through librdkafka alone from one C loop (c: the C ceiling, package
// kafka/internal/rdk; cnocopy: the same without RD_KAFKA_MSG_F_COPY),
// each to its own topic (TOPIC-raw, TOPIC-c, TOPIC-cnocopy), and prints
// one key=value line per run:
//
//	mode=c size=64 msgs=... delivered=... failed=... queue_dropped=... seconds=... msgs_per_s=... mb_per_s=... steady_msgs_per_s=...
//
// The message key is 8 bytes, as fastcapa's; msgs_per_s counts delivered
// messages, mb_per_s their value bytes only, in 10^6 B. The clock starts
// at the first Produce, after one warm-up message has been delivered
// (connection and metadata are not timed), and stops at the last delivery
// report. steady_msgs_per_s leaves out the first second and the final
// drain: messages delivered from one second in to the last Produce, over
// that time (0 for runs under 1.5 s). Every mode retries a message the
// full queue refuses until -timeout. Mode c counts
// delivery reports in C, keys each message with its sequence number (8
// bytes, as fastcapa's key) and times itself in C the same way.
//
// gen-pcap writes a capture of identical-length UDP/IPv4 Ethernet frames
// for net_pcap's infinite_rx (or -from a capture, repeated); pcap-stats
// prints a capture's packet count and mean frame length; fill and consume
// make and read the topic of the sink's benchmark (test/bench_sink.sh);
// gen-store writes the store of the query benchmark (test/bench_query.sh);
// ttfb times an answer's first byte and its end, a command's or
// pcapstore serve's (test/bench_serve.sh).
//
// Exit status: 0 when every message was delivered, 1 when any failed,
// 2 on a usage or start-up error.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/fastcapa-go/fastcapa/internal/cliflag"
	"github.com/fastcapa-go/fastcapa/kafka"
	"github.com/fastcapa-go/fastcapa/packet"
	"github.com/fastcapa-go/fastcapa/pcap"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "gen-pcap":
			os.Exit(genPcap(os.Args[2:]))
		case "fill":
			os.Exit(runFill(os.Args[2:]))
		case "gen-store":
			os.Exit(runGenStore(os.Args[2:]))
		case "consume":
			os.Exit(runConsume(os.Args[2:]))
		case "pcap-stats":
			os.Exit(pcapStats(os.Args[2:]))
		case "ttfb":
			os.Exit(runTTFB(os.Args[2:]))
		}
	}
	os.Exit(ceiling(os.Args[1:]))
}

// opts are one ceiling run's parameters.
type opts struct {
	props    map[string]string
	topic    string
	size     int
	count    int
	duration time.Duration
	timeout  time.Duration
}

// result is one run's outcome.
type result struct {
	mode      string
	sent      uint64
	delivered uint64
	failed    uint64
	qdropped  uint64
	elapsed   time.Duration
	steady    float64 // messages a second, see window
}

func (r result) line(size int) string {
	s := r.elapsed.Seconds()
	return fmt.Sprintf("mode=%s size=%d msgs=%d delivered=%d failed=%d queue_dropped=%d seconds=%.3f msgs_per_s=%.0f mb_per_s=%.2f steady_msgs_per_s=%.0f",
		r.mode, size, r.sent, r.delivered, r.failed, r.qdropped, s, float64(r.delivered)/s, float64(r.delivered)*float64(size)/s/1e6, r.steady)
}

func ceiling(args []string) int {
	fs := flag.NewFlagSet("fcbench", flag.ContinueOnError)
	var (
		brokers  = fs.String("brokers", "127.0.0.1:9092", "Kafka bootstrap servers")
		topic    = fs.String("topic", "fcbench", "topic prefix: runs go to TOPIC-MODE (TOPIC-raw, TOPIC-c, TOPIC-cnocopy)")
		size     = fs.Int("size", 64, "message value size in bytes")
		count    = fs.Int("count", 1000000, "messages per run (ignored with -duration)")
		duration = fs.Duration("duration", 0, "produce for this long per run instead of -count messages")
		timeout  = fs.Duration("timeout", 60*time.Second, "give up waiting for delivery reports, or for room in a full queue (raw), after this long")
		modes    = fs.String("modes", "raw,c", "runs to make, in order: raw (bare confluent-kafka-go), c (librdkafka alone, from C), cnocopy (c without RD_KAFKA_MSG_F_COPY: librdkafka points at the value)")
	)
	props := cliflag.Properties{}
	fs.Var(props, "X", "librdkafka property key=value, repeatable (as fastcapa -X)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "fcbench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *size < 1 || *size > 1<<20 {
		fmt.Fprintf(os.Stderr, "fcbench: -size %d: use 1 to %d\n", *size, 1<<20)
		return 2
	}
	if *duration <= 0 && *count < 1 {
		fmt.Fprintf(os.Stderr, "fcbench: -count %d: give at least 1, or a -duration\n", *count)
		return 2
	}
	o := opts{props: map[string]string{"bootstrap.servers": *brokers}, topic: *topic, size: *size,
		count: *count, duration: *duration, timeout: *timeout}
	for k, v := range props {
		o.props[k] = v
	}
	code := 0
	for _, m := range strings.Split(*modes, ",") {
		var (
			r   result
			err error
		)
		switch m {
		case "raw":
			r, err = runRaw(o)
		case "c", "cnocopy":
			r, err = runC(o, m == "cnocopy")
		default:
			fmt.Fprintf(os.Stderr, "fcbench: -modes: unknown mode %q (raw, c, cnocopy)\n", m)
			return 2
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "fcbench: %s: %v\n", m, err)
			return 2
		}
		fmt.Println(r.line(o.size))
		if r.failed != 0 || r.qdropped != 0 || r.delivered != r.sent {
			code = 1
		}
	}
	return code
}

// payload is a value of the given size, the same bytes every time.
func payload(size int) []byte {
	v := make([]byte, size)
	for i := range v {
		v[i] = byte(i)
	}
	return v
}

// window times a run. Besides the whole run it measures the steady
// rate: messages delivered from one second after the first Produce to the
// last Produce, leaving out the ramp-up and the final drain.
type window struct {
	t0, t1, t2 time.Time
	d1, d2     uint64
	delivered  func() uint64
}

func newWindow(delivered func() uint64) *window {
	return &window{t0: time.Now(), delivered: delivered}
}

// sending says whether to produce message i. It reads the clock every
// 1024 messages, which costs nothing measurable.
func (w *window) sending(o opts, i int) bool {
	if o.duration <= 0 && i >= o.count {
		w.t2, w.d2 = time.Now(), w.delivered()
		return false
	}
	if i%1024 != 0 {
		return true
	}
	now := time.Now()
	if w.t1.IsZero() && now.Sub(w.t0) >= time.Second {
		w.t1, w.d1 = now, w.delivered()
	}
	if o.duration > 0 && now.Sub(w.t0) >= o.duration {
		w.t2, w.d2 = now, w.delivered()
		return false
	}
	return true
}

// steady is the steady rate in messages a second, 0 when the run was too
// short to measure one (under 1.5 s).
func (w *window) steady() float64 {
	if w.t1.IsZero() || w.t2.Sub(w.t1) < 500*time.Millisecond {
		return 0
	}
	return float64(w.d2-w.d1) / w.t2.Sub(w.t1).Seconds()
}

// waitFor polls done until it holds or timeout passes.
func waitFor(timeout time.Duration, done func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !done() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Microsecond)
	}
	return true
}

// runRaw sends through a bare confluent-kafka-go Producer (configured by
// kafka.ConfigMap), one Produce a message, retrying while the queue is
// full: the Go client's ceiling, as the daemon produced before issue 13.
func runRaw(o opts) (result, error) {
	cm := kafka.ConfigMap(o.props)
	p, err := ck.NewProducer(&cm)
	if err != nil {
		return result{}, err
	}
	var delivered, failed atomic.Uint64
	var events sync.WaitGroup
	events.Add(2)
	go func() {
		defer events.Done()
		for range p.Logs() {
		}
	}()
	go func() {
		defer events.Done()
		for ev := range p.Events() {
			if m, ok := ev.(*ck.Message); ok {
				if m.TopicPartition.Error != nil {
					failed.Add(1)
				} else {
					delivered.Add(1)
				}
			}
		}
	}()
	defer func() {
		p.Flush(5000)
		p.Close()
		events.Wait()
	}()

	topic := o.topic + "-raw"
	var key [8]byte
	msg := ck.Message{TopicPartition: ck.TopicPartition{Topic: &topic, Partition: ck.PartitionAny}, Key: key[:], Value: payload(o.size)}
	produce := func() error {
		binary.BigEndian.PutUint64(key[:], uint64(time.Now().UnixNano()))
		var deadline time.Time
		for {
			err := p.Produce(&msg, nil)
			var ke ck.Error
			if err == nil || !errors.As(err, &ke) || ke.Code() != ck.ErrQueueFull {
				return err
			}
			if deadline.IsZero() {
				deadline = time.Now().Add(o.timeout)
			} else if time.Now().After(deadline) {
				return fmt.Errorf("queue full for %v: %w", o.timeout, err)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	if err := produce(); err != nil {
		return result{}, fmt.Errorf("warm-up: %w", err)
	}
	if !waitFor(o.timeout, func() bool { return delivered.Load()+failed.Load() == 1 }) {
		return result{}, fmt.Errorf("warm-up: no delivery report in %v (is a broker at %s?)", o.timeout, o.props["bootstrap.servers"])
	}
	if failed.Load() != 0 {
		return result{}, fmt.Errorf("warm-up: delivery failed")
	}

	w := newWindow(func() uint64 { return delivered.Load() - 1 })
	var sent uint64
	for i := 0; w.sending(o, i); i++ {
		if err := produce(); err != nil {
			return result{}, fmt.Errorf("produce: %w", err)
		}
		sent++
	}
	ok := waitFor(o.timeout, func() bool { return delivered.Load()+failed.Load()-1 >= sent })
	r := result{mode: "raw", sent: sent, delivered: delivered.Load() - 1, failed: failed.Load(), elapsed: time.Since(w.t0),
		steady: w.steady()}
	if !ok {
		return r, fmt.Errorf("%d of %d delivery reports after %v", r.delivered+r.failed, sent, o.timeout)
	}
	return r, nil
}

// runC sends from C through librdkafka alone (kafka.CCeiling): no Go per
// message, delivery reports counted in C. noCopy: librdkafka points at
// the value instead of copying it (mode cnocopy), what a zero-copy path
// would save at most.
func runC(o opts, noCopy bool) (result, error) {
	mode := "c"
	if noCopy {
		mode = "cnocopy"
	}
	r, err := kafka.CCeiling(kafka.CeilingSpec{Properties: o.props, Topic: o.topic + "-" + mode, Size: o.size, Count: o.count,
		Duration: o.duration, Timeout: o.timeout, NoCopy: noCopy})
	return result{mode: mode, sent: r.Sent, delivered: r.Delivered, failed: r.Failed, elapsed: r.Elapsed,
		steady: r.Steady}, err
}

// genPcap writes a capture of count UDP/IPv4 frames of size bytes each,
// differing in their source port.
func genPcap(args []string) int {
	fs := flag.NewFlagSet("fcbench gen-pcap", flag.ContinueOnError)
	size := fs.Int("size", 64, "frame length in bytes (42 to 2048: one mbuf, as infinite_rx needs)")
	count := fs.Int("count", 1024, "frames")
	out := fs.String("o", "", "output file")
	from := fs.String("from", "", "repeat this capture's frames, in order, instead of making UDP frames (-size unused)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *out == "" || *size < 42 || *size > 2048 || *count < 1 {
		fmt.Fprintln(os.Stderr, "fcbench gen-pcap: need -o FILE, -size 42..2048 and -count >= 1")
		return 2
	}
	var frames [][]byte
	if *from != "" {
		_, recs, err := pcap.ReadFile(*from)
		if err == nil && len(recs) == 0 {
			err = fmt.Errorf("%s: no packet", *from)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "fcbench gen-pcap: %v\n", err)
			return 2
		}
		for _, r := range recs {
			frames = append(frames, r.Data)
		}
	}
	f, err := os.Create(*out)
	if err == nil {
		err = writeFrames(f, *size, *count, frames)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "fcbench gen-pcap: %v\n", err)
		return 2
	}
	return 0
}

// writeFrames writes count Ethernet/IPv4/UDP frames of size bytes,
// 10.0.0.1:(1024+i) to 10.0.0.2:9, the UDP payload zero-filled (the
// pipeline_bench_test.go in package pipeline builds the same frames); or,
// given frames, those in turn. Packets are 1 µs apart.
func writeFrames(w io.Writer, size, count int, frames [][]byte) error {
	pw, err := pcap.NewWriter(w, false, 65535)
	if err != nil {
		return err
	}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for i := 0; i < count; i++ {
		rec := pcap.Record{Timestamp: base + int64(i)*1000}
		if frames != nil {
			rec.Data = frames[i%len(frames)]
		} else {
			rec.Data = packet.UDPFrame(size, uint16(1024+i), 9)
		}
		if err := pw.Write(rec); err != nil {
			return err
		}
	}
	return pw.Flush()
}

// pcapStats prints a capture's packet count and mean frame length.
func pcapStats(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "fcbench pcap-stats: give one capture file")
		return 2
	}
	_, recs, err := pcap.ReadFile(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "fcbench pcap-stats: %v\n", err)
		return 2
	}
	var total int
	for _, r := range recs {
		total += len(r.Data)
	}
	mean := 0.0
	if len(recs) > 0 {
		mean = float64(total) / float64(len(recs))
	}
	fmt.Printf("packets=%d bytes=%d mean=%.1f\n", len(recs), total, mean)
	return 0
}
