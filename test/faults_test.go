package test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/packet"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// The fault test's load: a steady rate, well inside what the kernel's
// capture ring and one RX lcore take, for faultSpan.
const (
	faultPPS   = 3000
	faultSpan  = 35 * time.Second
	faultTopic = "faults"
)

// TestPipelineFaults runs the whole pipeline — tcpreplay into a veth,
// fastcapa on net_af_packet, the devbroker persisted to a directory,
// pcapstore sink — while the broker and the sink are each killed
// (SIGKILL) and restarted several times at moments drawn from a seeded
// generator (FASTCAPA_FAULT_SEED replays a run's plan). Every frame offered
// carries a sequence number, and the end is checked frame by frame: each
// frame is on disk or missing, the missing are as many as fastcapa's drop
// counters say, and a frame is on disk more often than the broker holds
// it only where a sink run, which starts at the offset last committed,
// writes again what an earlier run stored after that commit and its
// journal does not hold: the records of a temp file the restart
// recovered (counted as recovered), or of the file a killed run
// finalized in the moment before its kill, between the file's link and
// the journal write. Records of any other finalized file are never
// written again, whatever became of their commit. Stored frames keep the
// order they were sent in.
func TestPipelineFaults(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("FASTCAPA_FAULT_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("FASTCAPA_FAULT_SEED=%q: %v", s, err)
		}
	}
	t.Logf("seed %d (FASTCAPA_FAULT_SEED=%d replays this run's plan)", seed, seed)
	rng := rand.New(rand.NewSource(seed))

	v := newVethPair(t)
	n := faultPPS * int(faultSpan/time.Second)
	nonce := rng.Uint64()
	file := writeFaultFrames(t, nonce, n)

	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	data := t.TempDir()
	b := startBroker(t, port, faultTopic, data)
	// acks=all is librdkafka's default, said here since the test relies
	// on it: a record is acknowledged once the broker wrote it to its
	// log (what the devbroker keeps across SIGKILL: ARCHITECTURE.md,
	// "Faults, end to end"). Idempotence makes librdkafka keep the order
	// across the retries a broker kill causes.
	d := startDaemon(t, nil, append(ealArgs(t), "-vdev", v.vdev(), "-port", "net_af_packet0",
		"-brokers", addr, "-topic", faultTopic, "-X", "acks=all", "-X", "enable.idempotence=true",
		"-X", "reconnect.backoff.max.ms=500")...)
	waitLog(t, d, "capturing", 30*time.Second)

	dir := t.TempDir()
	s := &sinkProc{t: t, args: []string{"sink", "-brokers", addr, "-topic", faultTopic, "-group", "g", "-dir", dir,
		"-max-packets", "4000", "-max-span", "2s", "-log-json", "-metrics-listen", "127.0.0.1:0",
		// A killed member holds the partition until its session
		// times out: keep that short so a restart gets it soon.
		"-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500", "-X", "reconnect.backoff.max.ms=500"}}
	s.start()
	t.Cleanup(s.kill)

	// FASTCAPA_FAULT_PROCS=broker or =sink kills only that one.
	procs := []string{"broker", "sink"}
	if p := os.Getenv("FASTCAPA_FAULT_PROCS"); p != "" {
		procs = strings.Split(p, ",")
	}
	plan := faultPlan(rng, faultSpan, procs)
	var planText []string
	for _, e := range plan {
		planText = append(planText, e.String())
	}
	t.Logf("plan: %s", strings.Join(planText, ", "))
	type result struct {
		n   int
		err error
	}
	sent := make(chan result, 1)
	start := time.Now()
	go func() { n, err := v.send(file, faultPPS, 1); sent <- result{n, err} }()
	for _, e := range plan {
		time.Sleep(time.Until(start.Add(e.at)))
		switch {
		case e.proc == "broker" && !e.up:
			b.kill()
		case e.proc == "broker":
			b = startBroker(t, port, faultTopic, data)
		case e.proc == "sink" && !e.up:
			s.kill()
		case e.proc == "sink":
			s.start()
		default:
			t.Fatalf("FASTCAPA_FAULT_PROCS: %q is neither broker nor sink", e.proc)
		}
	}
	r := <-sent
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Logf("tcpreplay: %d frames in %v", r.n, time.Since(start).Round(time.Millisecond))

	// Broker and sink are up (the plan ends with both started): what
	// fastcapa holds is delivered before it stops.
	code := d.stop(t)
	f := d.final(t)
	f.check(t)
	topic := kcatRead(t, b.Addr, faultTopic)

	// Wait until the sink's files hold every frame in the topic, then
	// stop it: it finalizes what is open.
	inTopic := map[uint64]int{}
	for _, m := range topic {
		if seq, ok := faultSeq(nonce, n, m.Value); ok {
			inTopic[seq]++
		}
	}
	st := newFaultStore(nonce, n)
	for deadline := time.Now().Add(45 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if !s.running() {
			s.start() // it ended by itself: recorded in s.exits, reported below
		}
		if st.read(t, dir).covers(inTopic) {
			break
		}
	}
	if c := s.stop(); c != 0 {
		t.Errorf("pcapstore sink exited %d at SIGTERM", c)
	}
	st.read(t, dir)

	// Frame by frame.
	recovered, recoveredAt := s.recovered()
	fig := st.analyse()
	drops := f.RingDropped + f.QueueDropped + f.Failed + f.Malformed + f.NICDropped
	producerDups := 0
	for seq := range fig.onDisk {
		producerDups += max(inTopic[seq]-1, 0)
	}
	dup := st.duplicates(recoveredAt, inTopic, s.starts, s.killed)
	topicDups := len(topic) - len(inTopic) - fig.foreignTopic(topic)
	t.Logf("offered %d (tcpreplay); fastcapa received %d, delivered %d; drops: ring %d, queue %d, failed %d, malformed %d, nic %d (sum %d); exit %d",
		r.n, f.Received, f.Delivered, f.RingDropped, f.QueueDropped, f.Failed, f.Malformed, f.NICDropped, drops, code)
	t.Logf("broker: %d records, %d distinct frames, %d duplicates (producer retries)", len(topic), len(inTopic), topicDups)
	t.Logf("disk: %d records, %d distinct frames, %d files; missing %d; duplicates %d: %d as in the broker, "+
		"%d written again after a restart (%d of a recovered file, %d of a file finalized at a kill before its journal, "+
		"%d of other finalized files), %d unexplained",
		fig.records, len(fig.onDisk), len(st.files), n-len(fig.onDisk), fig.records-len(fig.onDisk), producerDups,
		dup.ofRecovered+dup.ofUnjournaled+dup.ofFinalized, dup.ofRecovered, dup.ofUnjournaled, dup.ofFinalized, dup.stray)
	logs := s.logs.String()
	t.Logf("sink: %d runs, %d kills, %d exits not caused by the test; recovered %d packets in %d files; "+
		"%d commits refused, %d partitions given up uncommitted; %d resumed with records on disk skipped (%d records)",
		len(s.starts), s.kills, len(s.exits), recovered, len(recoveredAt), strings.Count(logs, `"msg":"offset commit refused`),
		strings.Count(logs, `"msg":"finalize revoked partition"`), strings.Count(logs, `"msg":"journal: records on disk already`),
		skippedRecords(logs))

	if r.n != n {
		t.Errorf("tcpreplay offered %d frames of the %d in the file", r.n, n)
	}
	if fig.foreign > 0 || fig.foreignTopic(topic) > 0 {
		t.Errorf("%d records on disk and %d in the broker are no frame this test sent", fig.foreign, fig.foreignTopic(topic))
		shown := 0
		for _, m := range topic {
			if _, ok := faultSeq(nonce, n, m.Value); !ok && shown < 5 {
				t.Logf("broker offset %d: %s", m.Offset, describeForeign(nonce, n, m.Value))
				shown++
			}
		}
	}
	if got := f.Received + f.NICDropped; got != uint64(r.n) {
		t.Errorf("fastcapa received %d + nic_dropped %d = %d, tcpreplay offered %d: %d frames lost before any counter",
			f.Received, f.NICDropped, got, r.n, int64(r.n)-int64(got))
	}
	if missing := n - len(fig.onDisk); uint64(missing) != drops {
		t.Errorf("%d frames offered are not on disk, fastcapa's drop counters sum to %d", missing, drops)
	}
	if lost := len(inTopic) - st.coveredBy(inTopic); lost > 0 {
		t.Errorf("%d frames the broker holds are not on disk: lost by the sink", lost)
	}
	if uint64(len(inTopic)) != f.Delivered {
		t.Errorf("the broker holds %d distinct frames, fastcapa counted %d delivered", len(inTopic), f.Delivered)
	}
	if dup.ofFinalized > 0 {
		t.Errorf("%d copies of frames in finalized files were written again: the journal should have kept them from it", dup.ofFinalized)
	}
	if dup.stray > 0 {
		t.Errorf("%d copies of frames on disk beyond the broker's count were not consumed again at a restart: duplicates nothing explains", dup.stray)
	}
	if uint64(dup.inRecovered) > recovered || uint64(dup.ofRecovered) > recovered {
		t.Errorf("%d copies in recovered files and %d consumed again after them, more than the %d packets the sink recovered",
			dup.inRecovered, dup.ofRecovered, recovered)
	}
	if fig.outOfOrder > 0 {
		t.Errorf("%d frames on disk come after a frame sent later (first copies, files in name order)", fig.outOfOrder)
	}
	if fig.stampsBack > 0 {
		t.Errorf("%d frames carry a timestamp before that of a frame sent earlier", fig.stampsBack)
	}
	if o := topicOutOfOrder(nonce, n, topic); o > 0 {
		t.Errorf("%d frames in the broker come after a frame sent later (first copies, offset order)", o)
	}
	wantCode := 0
	if drops > 0 || f.Unflushed > 0 {
		wantCode = 1
	}
	if code != wantCode {
		t.Errorf("fastcapa exit %d, want %d", code, wantCode)
	}
	for _, e := range s.exits {
		t.Errorf("pcapstore sink ended by itself: %s", e)
	}
	if t.Failed() {
		t.Logf("pcapstore sink log:\n%s", s.logs.String())
		t.Logf("files (name order): first frame..last frame, records, recovered:\n%s", st.table(recoveredAt))
	}
}

// TestSinkBrokerRestart: the broker killed (SIGKILL) and restarted on its
// data directory under a running sink. Its group comes back empty, so the
// sink's next commit is refused until it joins again; the sink goes on,
// and stores every record exactly once.
func TestSinkBrokerRestart(t *testing.T) {
	port := freePort(t)
	data := t.TempDir()
	b := startBroker(t, port, "restart", data)
	nonce, n := uint64(time.Now().UnixNano()), 12000
	t0 := time.Now().Add(-time.Minute).UnixNano()
	produce(t, b.Addr, "restart", faultRecords(nonce, t0, 0, n/2))

	dir := t.TempDir()
	s := &sinkProc{t: t, args: []string{"sink", "-brokers", b.Addr, "-topic", "restart", "-group", "g", "-dir", dir,
		"-max-packets", "1000", "-max-span", "1s", "-log-json", "-metrics-listen", "127.0.0.1:0",
		// Heartbeats far apart: the first commit after the restart
		// comes before a heartbeat tells the sink to join again.
		"-X", "session.timeout.ms=30000", "-X", "heartbeat.interval.ms=10000", "-X", "reconnect.backoff.max.ms=200"}}
	s.start()
	t.Cleanup(s.kill)
	st := newFaultStore(nonce, n)
	wait := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && s.running(); time.Sleep(100 * time.Millisecond) {
			if len(st.read(t, dir).analyse().onDisk) >= want {
				return
			}
		}
	}
	wait(n / 2) // six files finalized, and committed
	b.kill()
	time.Sleep(time.Second)
	b = startBroker(t, port, "restart", data)
	produce(t, b.Addr, "restart", faultRecords(nonce, t0, n/2, n))
	wait(n) // Tick closes the last file a second after it opened
	// The sink commits what it stored once it is a member again.
	committed := int64(-1)
	for deadline := time.Now().Add(30 * time.Second); committed < int64(n) && time.Now().Before(deadline) && s.running(); time.Sleep(200 * time.Millisecond) {
		committed = committedOffset(t, b.Addr, "g", "restart")
	}
	running := s.running()
	if c := s.stop(); c != 0 && running {
		t.Errorf("pcapstore sink exited %d at SIGTERM", c)
	}
	if running && committed != int64(n) {
		t.Errorf("committed offset %d, want %d", committed, n)
	}
	if running && !strings.Contains(s.logs.String(), "offset commit refused") {
		t.Errorf("no commit was refused after the restart: the case this test is for did not happen:\n%s", s.logs.String())
	}
	fig := st.read(t, dir).analyse()
	t.Logf("%d records, %d on disk, %d distinct; the sink's commits and assignments:", n, fig.records, len(fig.onDisk))
	for _, line := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(line, "commit") || strings.Contains(line, "assigned") || strings.Contains(line, "revoked") {
			t.Log(line)
		}
	}
	for _, e := range s.exits {
		t.Errorf("pcapstore sink ended by itself: %s", e)
	}
	if len(fig.onDisk) != n || fig.records != n || fig.foreign > 0 || fig.outOfOrder > 0 {
		t.Errorf("on disk: %d records, %d distinct of %d, %d foreign, %d out of order; want each record once, in order",
			fig.records, len(fig.onDisk), n, fig.foreign, fig.outOfOrder)
	}
}

// committedOffset is group's committed offset of partition 0 of topic (-1:
// none), as the broker answers an OffsetFetch.
func committedOffset(t *testing.T, addr, group, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{0}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return -1
	}
	return resp.Topics[0].Partitions[0].Offset
}

// faultFrame is frame seq of a run: a UDP frame of 64 to 319 bytes whose
// payload starts with the run's nonce and seq, big-endian.
// faultRecords are records from to to (not included) of a fault test's
// sequence: faultFrame(nonce, i), keyed t0 + i µs in ns.
// waitCommitted polls group's committed offset of topic's partition 0
// until it reaches want or 30 s pass, and returns the last one read.
func waitCommitted(t *testing.T, addr, group, topic string, want int64) int64 {
	t.Helper()
	c := int64(-1)
	for deadline := time.Now().Add(30 * time.Second); c < want && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		c = committedOffset(t, addr, group, topic)
	}
	return c
}

func faultRecords(nonce uint64, t0 int64, from, to int) []*kgo.Record {
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Key: binary.BigEndian.AppendUint64(nil, uint64(t0+int64(i)*1000)), Value: faultFrame(nonce, i)})
	}
	return recs
}

func faultFrame(nonce uint64, seq int) []byte {
	f := packet.UDPFrame(64+seq%256, uint16(1024+seq%50000), 9)
	binary.BigEndian.PutUint64(f[42:], nonce)
	binary.BigEndian.PutUint64(f[50:], uint64(seq))
	return f
}

// faultSeq is the sequence number of a frame this run sent, byte-exact.
func faultSeq(nonce uint64, n int, b []byte) (uint64, bool) {
	if len(b) < 58 || binary.BigEndian.Uint64(b[42:]) != nonce {
		return 0, false
	}
	seq := binary.BigEndian.Uint64(b[50:])
	return seq, seq < uint64(n) && bytes.Equal(b, faultFrame(nonce, int(seq)))
}

// describeForeign says how a record differs from the frame it claims to be.
func describeForeign(nonce uint64, n int, b []byte) string {
	if len(b) < 58 || binary.BigEndian.Uint64(b[42:]) != nonce {
		return fmt.Sprintf("%d B, not of this run: % x", len(b), b[:min(len(b), 64)])
	}
	seq := binary.BigEndian.Uint64(b[50:])
	if seq >= uint64(n) {
		return fmt.Sprintf("%d B, sequence %d out of range", len(b), seq)
	}
	want := faultFrame(nonce, int(seq))
	i := 0
	for i < min(len(b), len(want)) && b[i] == want[i] {
		i++
	}
	return fmt.Sprintf("%d B, frame %d (%d B) differs from byte %d: % x", len(b), seq, len(want), i, b[i:min(len(b), i+32)])
}

// writeFaultFrames writes frames 0..n-1 as a pcap for tcpreplay.
func writeFaultFrames(t *testing.T, nonce uint64, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "faults.pcap")
	t0 := time.Now().UnixNano()
	recs := make([]pcap.Record, n)
	for i := range recs {
		recs[i] = pcap.Record{Timestamp: t0 + int64(i)*1e6, Data: faultFrame(nonce, i)}
	}
	pcaptest.WriteCapture(t, path, pcaptest.File{Micro: true, SnapLen: 65535}, recs)
	return path
}

// faultEvent is one step of a plan: a process killed or started.
type faultEvent struct {
	at   time.Duration
	proc string // "broker" or "sink"
	up   bool
}

func (e faultEvent) String() string {
	what := "kill"
	if e.up {
		what = "start"
	}
	return fmt.Sprintf("%s %s at %.1fs", what, e.proc, e.at.Seconds())
}

// faultPlan kills each of procs ("broker", "sink") 2 to 4 times within span,
// each down for 0.1 to 3 s: span minus its first 2 s and last 3 s is cut
// into one slot a kill, the kill falls in the slot's first half and the
// start before the slot ends. Both are up at the end.
func faultPlan(rng *rand.Rand, span time.Duration, procs []string) []faultEvent {
	var plan []faultEvent
	for _, proc := range procs {
		kills := 2 + rng.Intn(3)
		slot := (span - 5*time.Second) / time.Duration(kills)
		for i := range kills {
			at := 2*time.Second + time.Duration(i)*slot + time.Duration(rng.Int63n(int64(slot/2)))
			down := 100*time.Millisecond + time.Duration(rng.Int63n(int64(min(3*time.Second, slot/2-100*time.Millisecond))))
			plan = append(plan, faultEvent{at, proc, false}, faultEvent{at + down, proc, true})
		}
	}
	sort.SliceStable(plan, func(i, j int) bool { return plan[i].at < plan[j].at })
	return plan
}

// sinkProc is a pcapstore sink the test kills and starts again; its
// runs share one log. An exit the test did not cause is kept in exits.
type sinkProc struct {
	t    *testing.T
	args []string
	env  []string // added to the test's environment
	logs syncBuffer

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	ending bool // the test is ending this run
	exits  []string
	kills  int
	starts []time.Time       // of each run
	killed map[int]time.Time // when a run (index in starts) was killed
}

func (s *sinkProc) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command(filepath.Join(bin, "pcapstore"), s.args...)
	if s.env != nil {
		cmd.Env = append(os.Environ(), s.env...)
	}
	cmd.Stderr = &s.logs
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	done := make(chan struct{})
	s.cmd, s.done, s.ending = cmd, done, false
	s.starts = append(s.starts, time.Now())
	go func() {
		err := cmd.Wait()
		s.mu.Lock()
		if !s.ending {
			s.exits = append(s.exits, fmt.Sprintf("%v; last log lines:\n%s", err, lastLines(s.logs.String(), 5)))
		}
		s.mu.Unlock()
		close(done)
	}()
}

func (s *sinkProc) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// end sends sig to the current run and waits for it; it returns the
// exit code.
func (s *sinkProc) end(sig os.Signal) int {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.ending = true
	s.mu.Unlock()
	if cmd == nil {
		return -1
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		s.t.Errorf("pcapstore sink did not end within a minute of %v", sig)
	}
	return cmd.ProcessState.ExitCode()
}

// kill ends the current run with SIGKILL, as a crash would.
func (s *sinkProc) kill() {
	if s.running() {
		s.mu.Lock()
		s.kills++
		if s.killed == nil {
			s.killed = map[int]time.Time{}
		}
		s.killed[len(s.starts)-1] = time.Now()
		s.mu.Unlock()
	}
	s.end(syscall.SIGKILL)
}

// stop ends the current run with SIGTERM.
func (s *sinkProc) stop() int { return s.end(syscall.SIGTERM) }

// recovered sums the packets the sink's runs said they recovered from
// crashed temp files, and says when each file was recovered.
func (s *sinkProc) recovered() (uint64, map[string]time.Time) {
	var n uint64
	paths := map[string]time.Time{}
	for _, line := range strings.Split(s.logs.String(), "\n") {
		var v struct {
			Time    time.Time
			Msg     string
			Path    string
			Packets uint64
		}
		if json.Unmarshal([]byte(line), &v) == nil && strings.HasPrefix(v.Msg, "recovered a file left open by a crash") {
			n += v.Packets
			paths[v.Path] = v.Time
		}
	}
	return n, paths
}

// skippedRecords sums the records the sink's runs said they skipped as on
// disk already.
func skippedRecords(logs string) int64 {
	var n int64
	for _, line := range strings.Split(logs, "\n") {
		var v struct {
			Msg     string
			Records int64
		}
		if json.Unmarshal([]byte(line), &v) == nil && strings.HasPrefix(v.Msg, "journal: records on disk already") {
			n += v.Records
		}
	}
	return n
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// faultStore is what the sink's finalized files hold, read once each
// (a finalized file never changes).
type faultStore struct {
	nonce uint64
	n     int
	files map[string][]pcap.Record
	mtime map[string]time.Time
}

// newFaultStore reads the frames of a fault test's sequence of n under
// nonce out of a sink's files.
func newFaultStore(nonce uint64, n int) *faultStore {
	return &faultStore{nonce: nonce, n: n, files: map[string][]pcap.Record{}, mtime: map[string]time.Time{}}
}

func (st *faultStore) read(t *testing.T, dir string) *faultStore {
	t.Helper()
	for _, p := range sinkFiles(t, dir) {
		if _, ok := st.files[p]; ok {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		_, recs, err := pcap.ReadFile(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		st.files[p], st.mtime[p] = recs, fi.ModTime()
	}
	return st
}

// paths are the files read, in name order (the first packet's time),
// but those in leave.
func (st *faultStore) paths(leave map[string]time.Time) []string {
	paths := make([]string, 0, len(st.files))
	for p := range st.files {
		if _, ok := leave[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	return paths
}

// table is one line a file, in name order: its first and last frame,
// records, and whether the sink recovered it.
func (st *faultStore) table(recovered map[string]time.Time) string {
	paths := st.paths(nil)
	var b strings.Builder
	for _, p := range paths {
		recs := st.files[p]
		first, last := int64(-1), int64(-1)
		if len(recs) > 0 {
			if seq, ok := faultSeq(st.nonce, st.n, recs[0].Data); ok {
				first = int64(seq)
			}
			if seq, ok := faultSeq(st.nonce, st.n, recs[len(recs)-1].Data); ok {
				last = int64(seq)
			}
		}
		_, rec := recovered[p]
		fmt.Fprintf(&b, "%s %d..%d %d %v\n", filepath.Base(p), first, last, len(recs), rec)
	}
	return b.String()
}

// dupCopies sorts the copies of frames on disk beyond the broker's
// count. A sink run starts at the offset last committed, so it first
// consumes again what earlier runs stored after that commit; it writes
// again what is in the temp file a recovery published (ofRecovered), and
// what is in the file a killed run finalized just before its kill, between
// the file's link and the journal write after it (ofUnjournaled: the
// killed run's last file, finalized less than unjournaledWindow before
// the kill). ofFinalized are copies of any other finalized file: the
// sink's journal says they are on disk, so they are never written again.
// inRecovered are copies inside recovered files; stray, any other.
type dupCopies struct{ ofRecovered, ofUnjournaled, ofFinalized, inRecovered, stray int }

// unjournaledWindow bounds, generously for a loaded machine, the time from
// a file's last write to the journal write after its link (fsyncs, a
// link, a sidecar).
const unjournaledWindow = 2 * time.Second

// duplicates replays the sink's runs (starts): each run's files, in name
// order, are those finalized while it ran, then the temp file a later run
// recovered (recovered: when). A run's copies beyond the broker's count
// are consumed again if they come before its first new frame. killed says
// when runs were killed.
func (st *faultStore) duplicates(recovered map[string]time.Time, inTopic map[uint64]int, starts []time.Time, killed map[int]time.Time) dupCopies {
	run := func(at time.Time) int { // the last run started by at
		return sort.Search(len(starts), func(i int) bool { return starts[i].After(at) }) - 1
	}
	byRun := make([][]string, len(starts))
	for _, p := range st.paths(nil) {
		r := run(st.mtime[p])
		if at, ok := recovered[p]; ok {
			r = run(at) - 1 // written by the run before the one that recovered it
		}
		byRun[max(r, 0)] = append(byRun[max(r, 0)], p)
	}
	// The file each killed run finalized last, if within the window of
	// its kill.
	unjournaled := map[string]bool{}
	for r, files := range byRun {
		at, ok := killed[r]
		for i := len(files) - 1; ok && i >= 0; i-- {
			if _, isRec := recovered[files[i]]; !isRec {
				unjournaled[files[i]] = at.Sub(st.mtime[files[i]]) < unjournaledWindow
				break
			}
		}
	}
	var d dupCopies
	seen, inRec := map[uint64]int{}, map[uint64]bool{}
	firstIn := map[uint64]string{}
	for _, files := range byRun {
		again := true // still writing again what was stored
		for _, p := range files {
			_, isRec := recovered[p]
			for _, r := range st.files[p] {
				seq, ok := faultSeq(st.nonce, st.n, r.Data)
				if !ok {
					continue
				}
				excess := seen[seq] >= max(inTopic[seq], 1)
				switch {
				case !excess:
					again = false
				case isRec:
					d.inRecovered++
				case !again:
					d.stray++
				case inRec[seq]:
					d.ofRecovered++
				case unjournaled[firstIn[seq]]:
					d.ofUnjournaled++
				default:
					d.ofFinalized++
				}
				if seen[seq] == 0 {
					firstIn[seq] = p
				}
				seen[seq]++
				inRec[seq] = inRec[seq] || isRec
			}
		}
	}
	return d
}

// covers tells whether every frame in want is in the files.
func (st *faultStore) covers(want map[uint64]int) bool {
	return st.coveredBy(want) == len(want)
}

// coveredBy counts the frames of want in the files.
func (st *faultStore) coveredBy(want map[uint64]int) int {
	have := map[uint64]bool{}
	for _, recs := range st.files {
		for _, r := range recs {
			if seq, ok := faultSeq(st.nonce, st.n, r.Data); ok {
				have[seq] = true
			}
		}
	}
	n := 0
	for seq := range want {
		if have[seq] {
			n++
		}
	}
	return n
}

// faultFigures are the frames on disk, counted frame by frame.
type faultFigures struct {
	onDisk           map[uint64]int // copies of each frame
	records, foreign int
	// outOfOrder: first copies (files in name order: the first packet's
	// time) that come after a later frame's; stampsBack: frames, in the
	// order sent, whose time is before the previous stored frame's.
	outOfOrder, stampsBack int
	nonce                  uint64
	n                      int
}

func (st *faultStore) analyse() faultFigures {
	fig := faultFigures{onDisk: map[uint64]int{}, nonce: st.nonce, n: st.n}
	paths := st.paths(nil)
	stamp := map[uint64]int64{}
	last := int64(-1)
	for _, p := range paths {
		for _, r := range st.files[p] {
			fig.records++
			seq, ok := faultSeq(st.nonce, st.n, r.Data)
			if !ok {
				fig.foreign++
				continue
			}
			if fig.onDisk[seq] == 0 {
				if int64(seq) < last {
					fig.outOfOrder++
				}
				last = int64(seq)
				stamp[seq] = r.Timestamp
			}
			fig.onDisk[seq]++
		}
	}
	seqs := make([]uint64, 0, len(stamp))
	for seq := range stamp {
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for i := 1; i < len(seqs); i++ {
		if stamp[seqs[i]] < stamp[seqs[i-1]] {
			fig.stampsBack++
		}
	}
	return fig
}

// foreignTopic counts the records in the topic that are no frame of the run.
func (fig faultFigures) foreignTopic(topic []message) int {
	n := 0
	for _, m := range topic {
		if _, ok := faultSeq(fig.nonce, fig.n, m.Value); !ok {
			n++
		}
	}
	return n
}

// topicOutOfOrder counts first copies in the topic, in offset order, that
// come after a frame sent later.
func topicOutOfOrder(nonce uint64, n int, topic []message) int {
	seen := map[uint64]bool{}
	last, bad := int64(-1), 0
	for _, m := range topic {
		seq, ok := faultSeq(nonce, n, m.Value)
		if !ok || seen[seq] {
			continue
		}
		seen[seq] = true
		if int64(seq) < last {
			bad++
		}
		last = int64(seq)
	}
	return bad
}
