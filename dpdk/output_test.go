package dpdk

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// Outputs are tested over net_pcap ports made for each test: inputs
// replay a capture (rx_pcap), outputs write what they are sent to a file
// (tx_pcap), which tcpdump's and tshark's readings then judge.

var vdevSeq atomic.Int32

// pcapVdev creates a net_pcap device with args and opens it as spec says
// (PoolFor set to pool); both are undone at the test's end, the port
// first (which closes the file it writes).
func pcapVdev(t *testing.T, args string, spec PortSpec, pool *Mempool) *Port {
	t.Helper()
	name := fmt.Sprintf("net_pcap_out%d", vdevSeq.Add(1))
	if err := addVdevForTest(name, args); err != nil {
		t.Fatal(err)
	}
	spec.Name = name
	spec.PoolFor = func(int) (*Mempool, error) { return pool, nil }
	p, err := OpenPort(spec)
	if err != nil {
		removeVdevForTest(name)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close()
		removeVdevForTest(name)
	})
	return p
}

// outRun is one run of an RX lcore with outputs over capture files.
type outRun struct {
	Inputs  []string     // captures replayed, one port each
	Tunnel  *TunnelIn    // on every input port
	VLANOf  []uint16     // per input: the tag InsertVLAN puts in (0: none)
	Outputs []OutputSpec // Port, if nil, is set by run: a net_pcap writing a file
	Routes  *Routes
	// InPorts are polled after the Inputs' ports; the caller owns them.
	InPorts []*Port
	// During, if set, runs once the lcore polls; Until, if set, says
	// when the run is over (default: want packets received).
	During func()
	Until  func(qs []RxQueueStats) bool
	// NoRing runs the lcore without a ring (kafka.disabled).
	NoRing bool
}

type outResult struct {
	Ring    [][]byte // what reached the ring, in order
	Files   []string // each output's file
	Stats   []OutputStats
	Queues  []RxQueueStats
	Written [][]pcap.Record // each output's file, read back
}

func (o outRun) run(t *testing.T, want int) outResult {
	t.Helper()
	requireEAL(t)
	dir := t.TempDir()
	pool, err := NewMempool(MempoolSpec{Name: fmt.Sprintf("po%d", vdevSeq.Add(1)), Mbufs: 8191, Cache: 32, DataRoom: 2048 + 128, Socket: -1})
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := NewMempool(MempoolSpec{Name: fmt.Sprintf("ph%d", vdevSeq.Add(1)), Mbufs: 8191, Cache: 32, DataRoom: 128 + 128, Socket: -1})
	if err != nil {
		t.Fatal(err)
	}
	var res outResult
	var queues []RxQueue
	vlanOf := map[string]uint16{}
	for i, in := range o.Inputs {
		p := pcapVdev(t, "rx_pcap="+in, PortSpec{RxQueues: 1, RxDescriptors: 512, Tunnel: o.Tunnel}, pool)
		queues = append(queues, RxQueue{p, 0})
		if i < len(o.VLANOf) && o.VLANOf[i] != 0 {
			vlanOf[p.Info.Name] = o.VLANOf[i]
		}
	}
	for _, p := range o.InPorts {
		queues = append(queues, RxQueue{p, 0})
	}
	specs := append([]OutputSpec(nil), o.Outputs...)
	var made []*Port // the output ports run made, closed to flush their files
	for i := range specs {
		if specs[i].Port != nil {
			res.Files = append(res.Files, "")
			continue
		}
		f := filepath.Join(dir, fmt.Sprintf("out%d.pcap", i))
		specs[i].Port = pcapVdev(t, "tx_pcap="+f, PortSpec{TxQueues: 1}, pool)
		made = append(made, specs[i].Port)
		res.Files = append(res.Files, f)
	}
	var outs *Outputs
	if len(specs) > 0 {
		if outs, err = NewOutputs(OutputsSpec{Outputs: specs, VLANOfPort: vlanOf, Lcores: 1, Pool: hdr}); err != nil {
			t.Fatal(err)
		}
	}
	var ring *Ring
	if !o.NoRing {
		if ring, err = NewRing(RingSpec{Name: fmt.Sprintf("ro%d", vdevSeq.Add(1)), Size: 16384, Socket: -1}); err != nil {
			t.Fatal(err)
		}
	}
	rx, err := NewRxLcore(RxSpec{Lcore: ealInfo.Workers[0], Queues: queues, Ring: ring, Burst: 32, Routes: o.Routes,
		Outputs: outs, TxQueue: 0})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rx.Close) // before the ports' cleanups, on any failure
	if err := rx.Launch(); err != nil {
		t.Fatal(err)
	}
	b, err := NewBurst(64)
	if err != nil {
		t.Fatal(err)
	}
	if o.During != nil {
		o.During()
	}
	until := o.Until
	if until == nil {
		// Every input is replayed whole: wait until the queues took it all.
		until = func(qs []RxQueueStats) bool {
			var got uint64
			for _, q := range qs {
				got += q.Packets
			}
			return int(got) >= want
		}
	}
	drain := func() {
		for ring != nil {
			n := b.Cycle(ring)
			if n == 0 {
				return
			}
			for i := 0; i < n; i++ {
				c, err := b.Copy(i, make([]byte, 65536))
				if err != nil {
					t.Fatal(err)
				}
				res.Ring = append(res.Ring, c)
			}
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		drain()
		if until(rx.Stats()) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	rx.Stop()
	drain()
	b.Close()
	res.Queues = rx.Stats()
	res.Stats = rx.OutputStats()
	rx.Close()
	if ring != nil {
		ring.Close()
	}
	for _, p := range made {
		p.Close() // flushes the file
	}
	for _, q := range queues[:len(o.Inputs)] {
		q.Port.Close()
	}
	outs.Close()
	for _, f := range res.Files {
		var recs []pcap.Record
		if f != "" {
			recs = pcaptest.ReadAll(t, f)
		}
		res.Written = append(res.Written, recs)
	}
	for _, p := range []*Mempool{pool, hdr} {
		if a := p.Audit(); a.InUse != 0 {
			t.Errorf("mempool %s: %d mbufs in use after the run", p.Spec().Name, a.InUse)
		}
		p.Close()
	}
	for _, s := range res.Stats {
		if s.Balance() != 0 {
			t.Errorf("output %s: offered %d, counted %+v: balance %d", s.Name, s.Offered, s, s.Balance())
		}
	}
	return res
}

// pcapTxMax is the most bytes net_pcap writes of a frame in several
// segments (RTE_ETH_PCAP_SNAPLEN, 16128): it writes the rest as the
// record's original length only.
const pcapTxMax = 16128

// sentFrames checks that an output's file holds want: each record the
// frame, or for a longer frame in segments its first pcapTxMax bytes
// with the frame's length as the original length (less 4 when the
// caller took a tag out).
func sentFrames(want [][]byte, recs []pcap.Record) error {
	if len(want) != len(recs) {
		return fmt.Errorf("%d frames, want %d", len(recs), len(want))
	}
	got := make([][]byte, len(recs))
	exp := make([][]byte, len(recs))
	for i, r := range recs {
		got[i], exp[i] = r.Data, want[i]
		if n := len(r.Data); n < len(want[i]) && n >= pcapTxMax-4 && n <= pcapTxMax {
			exp[i] = want[i][:n]
		}
		if int(r.OrigLen) != len(want[i]) {
			return fmt.Errorf("frame %d: %d bytes on the wire, want %d", i, r.OrigLen, len(want[i]))
		}
	}
	return sameFrames(exp, got)
}

func frames(recs []pcap.Record) [][]byte {
	out := make([][]byte, len(recs))
	for i, r := range recs {
		out[i] = r.Data
	}
	return out
}

// sameFrames reports the first difference between two frame lists.
func sameFrames(want, got [][]byte) error {
	if len(want) != len(got) {
		return fmt.Errorf("%d frames, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(want[i], got[i]) {
			return fmt.Errorf("frame %d: %d bytes % x…, want %d bytes % x…", i, len(got[i]), got[i][:min(len(got[i]), 40)],
				len(want[i]), want[i][:min(len(want[i]), 40)])
		}
	}
	return nil
}

func metronFrames(t *testing.T) (string, [][]byte) {
	path := filepath.Join(pcaps, "metron-example.pcap")
	recs := pcaptest.ReadAll(t, path)
	for _, r := range recs {
		if int(r.OrigLen) != len(r.Data) {
			t.Fatalf("%s holds cut records: this test needs whole frames", path)
		}
	}
	return path, frames(recs)
}

// TestOutputsReplicate: every frame of the capture reaches the ring and,
// byte for byte and in order, each of two outputs; nothing is copied (no
// header or clone mbuf is taken) and every mbuf comes back.
func TestOutputsReplicate(t *testing.T) {
	in, want := metronFrames(t)
	res := outRun{Inputs: []string{in}, Outputs: []OutputSpec{{Name: "a"}, {Name: "b"}}}.run(t, len(want))
	if err := sameFrames(want, res.Ring); err != nil {
		t.Errorf("ring: %v", err)
	}
	for i, w := range res.Written {
		if err := sameFrames(want, frames(w)); err != nil {
			t.Errorf("output %d: %v", i, err)
		}
		if s := res.Stats[i]; s.Sent != uint64(len(want)) || s.Offered != s.Sent {
			t.Errorf("output %d: %+v, want %d sent", i, s, len(want))
		}
	}
}

// TestOutputsWithoutRing: an RX lcore without a ring (kafka.disabled)
// sends its routes' packets to the outputs and frees them after, counted
// released per queue and per route: route 0 keeps 1 in 2 and is the one
// output's, route 1 keeps all; nothing reaches a ring, every mbuf is back.
func TestOutputsWithoutRing(t *testing.T) {
	in, want := metronFrames(t)
	routes, err := NewRoutes([]Route{{Every: 2}, {}}, RoutesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer routes.Close()
	res := outRun{Inputs: []string{in}, Outputs: []OutputSpec{{Name: "half", Routes: 1}}, Routes: routes, NoRing: true}.run(t, len(want))
	var half [][]byte
	for i, f := range want {
		if i%2 == 0 {
			half = append(half, f)
		}
	}
	if err := sameFrames(half, frames(res.Written[0])); err != nil {
		t.Errorf("output: %v", err)
	}
	q := res.Queues[0]
	if q.Released != uint64(len(want)) || q.Enqueued != 0 || q.RingDropped != 0 ||
		q.Routes[0].Released != uint64(len(half)) || q.Routes[0].Sampled != uint64(len(want)-len(half)) ||
		q.Routes[1].Released != uint64(len(want)) {
		t.Errorf("queue counts %+v: want %d released, %d by route 0", q, len(want), len(half))
	}
}

// tsharkFields reads fields of every frame of path with tshark (outer
// occurrence of each), IPv4 checksums verified.
func tsharkFields(t *testing.T, path string, fields ...string) [][]string {
	t.Helper()
	tshark := testenv.RequireTool(t, "tshark")
	args := []string{"-r", path, "-n", "-o", "ip.check_checksum:TRUE", "-T", "fields", "-E", "occurrence=f", "-E", "separator=|"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command(tshark, args...).Output()
	if err != nil {
		t.Fatalf("tshark %v: %v", args, err)
	}
	var rows [][]string
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		rows = append(rows, strings.Split(l, "|"))
	}
	return rows
}

// TestOutputsVLAN: two inputs aggregated on one output, each with its
// own tag (100, 200): tshark reads that tag on every frame, once per
// input frame, each input's frames in order and, less the tag, as they
// were; a second output strips the tags again, giving the inputs back.
func TestOutputsVLAN(t *testing.T) {
	in, want := metronFrames(t)
	in2 := filepath.Join(pcaps, "tcpdump-tests", "dns_fwdptr.pcap")
	want2 := frames(pcaptest.ReadAll(t, in2))
	res := outRun{Inputs: []string{in, in2}, VLANOf: []uint16{100, 200},
		// dns_fwdptr holds a 63207-byte frame: MTU 65000 lets it through whole.
		Outputs: []OutputSpec{{Name: "tagged", InsertVLAN: true, MTU: 65000}, {Name: "stripped", StripVLAN: true, MTU: 65000}}}.
		run(t, len(want)+len(want2))
	rows := tsharkFields(t, res.Files[0], "vlan.id")
	byTag := map[string][]pcap.Record{}
	for i, r := range res.Written[0] {
		r.Data = append(append([]byte{}, r.Data[:12]...), r.Data[16:]...)
		r.OrigLen -= 4
		byTag[rows[i][0]] = append(byTag[rows[i][0]], r)
	}
	if err := sentFrames(want, byTag["100"]); err != nil {
		t.Errorf("vlan 100: %v", err)
	}
	if err := sentFrames(want2, byTag["200"]); err != nil {
		t.Errorf("vlan 200: %v", err)
	}
	if len(byTag) != 2 {
		t.Errorf("tags seen: %d kinds, want 2 (100, 200)", len(byTag))
	}
	// Stripping: the capture's own frames have no tag, so they come back whole.
	if got := len(res.Written[1]); got != len(want)+len(want2) {
		t.Errorf("stripped output: %d frames, want %d", got, len(want)+len(want2))
	}
}

// TestOutputsStripAndKeepVLAN: frames with one and two tags lose them all;
// an output that keeps VLAN 100 sends only those, counting the rest
// skipped.
func TestOutputsStripAndKeepVLAN(t *testing.T) {
	dir := t.TempDir()
	payload := ip4H(17, ip4A, ip4B, udpH(1000, 53, make([]byte, 30)), 0)
	plain := cat(ethH(0x0800), payload)
	one := cat(ethH(0x8100), be(100), be(0x0800), payload)
	two := cat(ethH(0x88a8), be(100), be(0x8100), be(7), be(0x0800), payload)
	other := cat(ethH(0x8100), be(200), be(0x0800), payload)
	recs := []pcap.Record{}
	for i, f := range [][]byte{plain, one, two, other} {
		recs = append(recs, pcap.Record{Timestamp: int64(i) * 1e9, OrigLen: uint32(len(f)), Data: f})
	}
	in := filepath.Join(dir, "tagged.pcap")
	pcaptest.WriteCapture(t, in, pcaptest.File{}, recs)
	keep := uint16(100)
	res := outRun{Inputs: []string{in}, Outputs: []OutputSpec{{Name: "strip", StripVLAN: true},
		{Name: "keep100", KeepVLAN: &keep}}}.run(t, 4)
	if err := sameFrames([][]byte{plain, plain, plain, plain}, frames(res.Written[0])); err != nil {
		t.Errorf("strip: %v", err)
	}
	if err := sameFrames([][]byte{one, two}, frames(res.Written[1])); err != nil {
		t.Errorf("keep vlan 100: %v", err)
	}
	if s := res.Stats[1]; s.Skipped != 2 || s.Sent != 2 {
		t.Errorf("keep vlan 100: %+v, want 2 sent, 2 skipped", s)
	}
}

// TestOutputsSnaplenTrim: each frame loses its last 4 bytes, then is cut
// to 100.
func TestOutputsSnaplenTrim(t *testing.T) {
	in, want := metronFrames(t)
	res := outRun{Inputs: []string{in}, Outputs: []OutputSpec{{Name: "cut", Trim: 4, Snaplen: 100}}}.run(t, len(want))
	exp := make([][]byte, len(want))
	for i, f := range want {
		exp[i] = f[:min(len(f)-4, 100)]
	}
	if err := sameFrames(exp, frames(res.Written[0])); err != nil {
		t.Error(err)
	}
}

var (
	tunLocal  = netip.MustParseAddr("192.0.2.1")
	tunRemote = netip.MustParseAddr("192.0.2.2")
	tunSrcMAC = net.HardwareAddr{0x02, 0, 0, 0, 1, 1}
	tunDstMAC = net.HardwareAddr{0x02, 0, 0, 0, 1, 2}
)

func tunnelTo(kind TunnelKind, key uint32, hasKey bool) *Tunnel {
	return &Tunnel{Kind: kind, Local: tunLocal, Remote: tunRemote, SrcMAC: tunSrcMAC, DstMAC: tunDstMAC, Key: key,
		HasKey: hasKey, TTL: 17}
}

// TestOutputsTunnels: GRETAP (key 1.2.3.4), GRE (key 7) and VXLAN (VNI
// 42) outputs of the same capture, read by tshark: every outer IPv4
// header has a good checksum, the length of what follows, TTL 17, the
// remote address, identifications counting up; the key or VNI is right;
// and what follows the outer headers is the frame (GRE: the frame after
// its Ethernet header, its ethertype the GRE protocol).
func TestOutputsTunnels(t *testing.T) {
	in, want := metronFrames(t)
	key, err := ParseTunnelKey("1.2.3.4")
	if err != nil || key != 0x01020304 {
		t.Fatalf("ParseTunnelKey(1.2.3.4) = %#x, %v", key, err)
	}
	res := outRun{Inputs: []string{in}, Outputs: []OutputSpec{
		{Name: "gretap", Tunnel: tunnelTo(TunnelGRETAP, key, true), MTU: 9000},
		{Name: "gre", Tunnel: tunnelTo(TunnelGRE, 7, true), MTU: 9000},
		{Name: "vxlan", Tunnel: tunnelTo(TunnelVXLAN, 42, false), MTU: 9000},
	}}.run(t, len(want))
	cases := []struct {
		hdr              int
		keyField, keyVal string
		inner            func(f []byte) []byte
	}{
		{14 + 20 + 8, "gre.key", "0x01020304", func(f []byte) []byte { return f }},
		{14 + 20 + 8, "gre.key", "0x00000007", func(f []byte) []byte { return f[14:] }},
		{14 + 20 + 8 + 8, "vxlan.vni", "42", func(f []byte) []byte { return f }},
	}
	for i, c := range cases {
		name := res.Stats[i].Name
		rows := tsharkFields(t, res.Files[i], "ip.checksum.status", "ip.len", "ip.ttl", "ip.dst", "ip.id", c.keyField, "gre.proto")
		if len(rows) != len(want) || len(res.Written[i]) != len(want) {
			t.Errorf("%s: %d frames (tshark %d), want %d", name, len(res.Written[i]), len(rows), len(want))
			continue
		}
		var lastID int64 = -1
		for j, r := range rows {
			f := res.Written[i][j].Data
			id, _ := strconv.ParseInt(strings.TrimPrefix(r[4], "0x"), 16, 32)
			iplen, _ := strconv.Atoi(r[1])
			switch {
			case r[0] != "1" && r[0] != "Good":
				t.Errorf("%s frame %d: ip checksum status %q", name, j, r[0])
			case iplen != len(f)-14 || r[2] != "17" || r[3] != tunRemote.String():
				t.Errorf("%s frame %d: ip len %s (frame %d), ttl %s, dst %s", name, j, r[1], len(f), r[2], r[3])
			case r[5] != c.keyVal:
				t.Errorf("%s frame %d: %s %q, want %s", name, j, c.keyField, r[5], c.keyVal)
			case id != lastID+1:
				t.Errorf("%s frame %d: ip id %d after %d", name, j, id, lastID)
			case !bytes.Equal(f[c.hdr:], c.inner(want[j])):
				t.Errorf("%s frame %d: payload differs from the frame", name, j)
			case name == "gre" && r[6] != fmt.Sprintf("0x%04x", uint16(want[j][12])<<8|uint16(want[j][13])):
				t.Errorf("gre frame %d: protocol %s, frame's ethertype % x", j, r[6], want[j][12:14])
			}
			lastID = id
			if t.Failed() {
				return
			}
		}
	}
}

// TestOutputsMTU: a GRETAP output with a 576-byte MTU cuts each longer
// frame to the 548 bytes that fit after the outer IPv4 and keyed GRE
// headers, counting it truncated; one that drops oversize frames sends
// only the others, counting the rest too big.
func TestOutputsMTU(t *testing.T) {
	in, want := metronFrames(t)
	res := outRun{Inputs: []string{in}, Outputs: []OutputSpec{
		{Name: "cut", Tunnel: tunnelTo(TunnelGRETAP, 9, true), MTU: 576},
		{Name: "drop", Tunnel: tunnelTo(TunnelGRETAP, 9, true), MTU: 576, DropOversize: true},
	}}.run(t, len(want))
	const fit = 576 - 20 - 8
	var cut, kept [][]byte
	over := 0
	for _, f := range want {
		cut = append(cut, f[:min(len(f), fit)])
		if len(f) > fit {
			over++
		} else {
			kept = append(kept, f)
		}
	}
	if over == 0 {
		t.Fatal("no frame over the MTU: the test proves nothing")
	}
	strip := func(recs []pcap.Record) [][]byte {
		var out [][]byte
		for _, r := range recs {
			if len(r.Data) > 14+20+8+fit {
				t.Errorf("a frame of %d bytes: over 14 + 576", len(r.Data))
			}
			out = append(out, r.Data[14+20+8:])
		}
		return out
	}
	if err := sameFrames(cut, strip(res.Written[0])); err != nil {
		t.Errorf("cut: %v", err)
	}
	if s := res.Stats[0]; s.Truncated != uint64(over) || s.Sent != uint64(len(want)) {
		t.Errorf("cut: %+v, want %d sent of which %d truncated", s, len(want), over)
	}
	if err := sameFrames(kept, strip(res.Written[1])); err != nil {
		t.Errorf("drop: %v", err)
	}
	if s := res.Stats[1]; s.TooBig != uint64(over) || s.Sent != uint64(len(kept)) {
		t.Errorf("drop: %+v, want %d sent, %d too big", s, len(kept), over)
	}
}

// TestTunnelRoundTrip: what the GRETAP, GRE and VXLAN outputs wrote,
// replayed into a port receiving that tunnel, comes out as the frames
// that went in (GRE: behind an Ethernet header of the outer MACs); with
// another key every packet is counted wrong_key and none passes.
func TestTunnelRoundTrip(t *testing.T) {
	in, want := metronFrames(t)
	sent := outRun{Inputs: []string{in}, Outputs: []OutputSpec{
		{Name: "gretap", Tunnel: tunnelTo(TunnelGRETAP, 0x01020304, true), MTU: 9000},
		{Name: "gre", Tunnel: tunnelTo(TunnelGRE, 7, true), MTU: 9000},
		{Name: "vxlan", Tunnel: tunnelTo(TunnelVXLAN, 42, false), MTU: 9000},
	}}.run(t, len(want))
	greWant := make([][]byte, len(want))
	for i, f := range want {
		greWant[i] = cat(tunDstMAC, tunSrcMAC, f[12:])
	}
	cases := []struct {
		file string
		tun  TunnelIn
		want [][]byte
	}{
		{sent.Files[0], TunnelIn{Kind: TunnelGRETAP, Key: 0x01020304, HasKey: true, Local: tunRemote}, want},
		{sent.Files[1], TunnelIn{Kind: TunnelGRE, Key: 7, HasKey: true}, greWant},
		{sent.Files[2], TunnelIn{Kind: TunnelVXLAN, Key: 42, Local: tunRemote}, want},
	}
	for _, c := range cases {
		tun := c.tun
		res := outRun{Inputs: []string{c.file}, Tunnel: &tun}.run(t, len(want))
		if err := sameFrames(c.want, res.Ring); err != nil {
			t.Errorf("%s: %v", tun.Kind, err)
		}
		if q := res.Queues[0]; q.Tunnel != (TunnelStats{Decapsulated: uint64(len(want))}) {
			t.Errorf("%s: %+v", tun.Kind, q.Tunnel)
		}
		tun.Key++
		res = outRun{Inputs: []string{c.file}, Tunnel: &tun}.run(t, len(want))
		if q := res.Queues[0]; len(res.Ring) != 0 || q.Tunnel != (TunnelStats{WrongKey: uint64(len(want))}) {
			t.Errorf("%s with key %d: %d frames passed, %+v", tun.Kind, tun.Key, len(res.Ring), q.Tunnel)
		}
	}
}

// TestTunnelHostile: a GRETAP receiver given, in one burst, good packets
// between bad ones of every kind counts each bad one where it belongs and
// passes every good one, in order: a bad packet costs nothing else.
func TestTunnelHostile(t *testing.T) {
	inner := func(i int) []byte {
		return cat(ethH(0x0800), ip4H(17, ip4A, ip4B, udpH(uint16(1000+i), 53, make([]byte, 20+i)), 0))
	}
	gre := func(flags, proto uint16, key uint32, payload []byte) []byte {
		h := cat(be(flags), be(proto))
		if flags&0x2000 != 0 {
			h = cat(h, be(uint16(key>>16)), be(uint16(key)))
		}
		return cat(h, payload)
	}
	outer := func(proto byte, payload []byte, frag uint16) []byte {
		return cat(ethH(0x0800), ip4H(proto, ip4B, ip4A, payload, frag))
	}
	const key = 77
	good := func(i int) []byte { return outer(47, gre(0x2000, 0x6558, key, inner(i)), 0) }
	badSum := good(100)
	badSum[14+10] ^= 0xff
	longer := good(101)
	longer[14+2] = 0xff // total length past the frame
	bad := []struct {
		frame []byte
		kind  string
	}{
		{badSum, "malformed"},
		{good(102)[:14+20+3], "malformed"}, // GRE cut short
		{outer(47, gre(0x2000, 0x6558, key, inner(103)), 0x2000), "malformed"}, // a fragment
		{[]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, "malformed"},                   // a runt
		{longer, "malformed"},
		{outer(47, gre(0x2001, 0x6558, key, inner(104)), 0), "malformed"},       // GRE version 1
		{outer(47, gre(0x2000, 0x6558, key, make([]byte, 10)), 0), "malformed"}, // no inner Ethernet header
		{cat(ethH(0x0806), make([]byte, 28)), "other"},                          // ARP
		{outer(17, udpH(1, 2, inner(105)), 0), "other"},
		{outer(47, gre(0x2000, 0x0800, key, inner(106)[14:]), 0), "other"}, // plain GRE on a GRETAP receiver
		{cat(ethH(0x86dd), ip6H(47, ip6A, ip6B, gre(0x2000, 0x6558, key, inner(107)))), "other"},
		{outer(47, gre(0x2000, 0x6558, key+1, inner(108)), 0), "wrong_key"},
		{outer(47, gre(0, 0x6558, 0, inner(109)), 0), "wrong_key"}, // no key
	}
	var recs []pcap.Record
	var wantRing [][]byte
	count := map[string]uint64{}
	add := func(f []byte) {
		recs = append(recs, pcap.Record{Timestamp: int64(len(recs)) * 1e6, OrigLen: uint32(len(f)), Data: f})
	}
	for i, b := range bad {
		add(good(i))
		wantRing = append(wantRing, inner(i))
		add(b.frame)
		count[b.kind]++
	}
	path := filepath.Join(t.TempDir(), "hostile.pcap")
	pcaptest.WriteCapture(t, path, pcaptest.File{}, recs)
	res := outRun{Inputs: []string{path}, Tunnel: &TunnelIn{Kind: TunnelGRETAP, Key: key, HasKey: true}}.run(t, len(recs))
	if err := sameFrames(wantRing, res.Ring); err != nil {
		t.Error(err)
	}
	got := res.Queues[0].Tunnel
	if want := (TunnelStats{Decapsulated: uint64(len(bad)), Malformed: count["malformed"], Other: count["other"],
		WrongKey: count["wrong_key"]}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
}
