package test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/config"
	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// tcpdumpOn captures what arrives on the inject end of a veth pair, in
// its namespace, until the returned func stops it; it fails the test if
// tcpdump itself dropped any.
func tcpdumpOn(t *testing.T, v vethPair) func() []pcap.Record {
	t.Helper()
	stop := pcaptest.Listen(t, v.netns, v.inject, "-Q", "in", "-B", "65536")
	return func() []pcap.Record {
		recs, summary := stop()
		if !strings.Contains(summary, " 0 packets dropped by kernel") {
			t.Errorf("tcpdump on %s dropped packets: %s", v.inject, summary)
		}
		return recs
	}
}

func sameData(t *testing.T, what string, got, want []pcap.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d frames, want %d", what, len(got), len(want))
		return
	}
	for i := range want {
		if string(got[i].Data) != string(want[i].Data) {
			t.Errorf("%s: frame %d differs (%d bytes, want %d)", what, i, len(got[i].Data), len(want[i].Data))
			return
		}
	}
}

// byVLAN splits what an output sent by the 802.1Q tag each frame must
// carry, the tag removed.
func byVLAN(t *testing.T, what string, recs []pcap.Record) map[int][]pcap.Record {
	t.Helper()
	byTag := map[int][]pcap.Record{}
	for _, r := range recs {
		if len(r.Data) < 18 || r.Data[12] != 0x81 || r.Data[13] != 0 {
			t.Fatalf("%s: a frame without a VLAN tag: % x", what, r.Data[:min(len(r.Data), 18)])
		}
		vid := int(r.Data[14]&0x0f)<<8 | int(r.Data[15])
		r.Data = append(append([]byte{}, r.Data[:12]...), r.Data[16:]...)
		byTag[vid] = append(byTag[vid], r)
	}
	return byTag
}

// TestOutputsReplicateAggregate: the daemon captures two taps (veth
// pairs, tcpreplay sending into each in turn) into Kafka and, beside it,
// sends every frame to two more veth pairs: one output as received
// (tcpdump there sees both captures, frame for frame, in order), one
// with each input's VLAN tag inserted (tcpdump reads tag 100 on the
// first capture's frames, 200 on the second's, each once). Every output
// counts what it sent; the ports' opackets agree; nothing is lost.
func TestOutputsReplicateAggregate(t *testing.T) {
	in1, in2, out1, out2 := newVethPair(t), newVethPair(t), newVethPair(t), newVethPair(t)
	file1, recs1 := sample(t)
	// A second capture, its frames whole and no longer than the veth's MTU allows.
	var recs2 []pcap.Record
	for _, r := range pcaptest.ReadAll(t, filepath.Join(testenv.Pcaps(t), "tcpdump-tests", "bgp-4byte-asn.pcap")) {
		if len(r.Data) <= 1514 && int(r.OrigLen) == len(r.Data) {
			recs2 = append(recs2, r)
		}
	}
	file2 := filepath.Join(t.TempDir(), "in2.pcap")
	pcaptest.WriteCapture(t, file2, pcaptest.File{}, recs2)
	stop1, stop2 := tcpdumpOn(t, out1), tcpdumpOn(t, out2)

	b := startBroker(t, 0, "pcap", "")
	cfg := writeConfig(t, map[string]any{
		"ports": []config.Port{{Name: "net_af_packet0", VLAN: 100}, {Name: "net_af_packet1", VLAN: 200}},
		"outputs": []config.Output{{Name: "copy", Port: "net_af_packet2"},
			{Name: "tagged", Port: "net_af_packet3", InsertVLAN: true}},
	})
	args := append(ealArgs(t), "-config", cfg, "-brokers", b.Addr, "-topic", "taps", "-stats-interval", "1s")
	for i, v := range []vethPair{in1, in2, out1, out2} {
		args = append(args, "-vdev", fmt.Sprintf("net_af_packet%d,iface=%s", i, v.capture))
	}
	d := startDaemon(t, nil, args...)
	waitLog(t, d, "capturing", 30*time.Second)
	in1.replay(t, file1, 2000, 1)
	time.Sleep(200 * time.Millisecond)
	in2.replay(t, file2, 2000, 1)
	all := append(append([]pcap.Record{}, recs1...), recs2...)
	if got := waitRecords(t, b.Addr, "taps", len(all), 30*time.Second); got < len(all) {
		t.Errorf("topic has %d records, want %d", got, len(all))
	}
	waitLog(t, d, "rates", 10*time.Second)
	if code := d.stop(t); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	f := d.final(t)
	f.check(t)

	sameData(t, "output copy", stop1(), all)
	byTag := byVLAN(t, "output tagged", stop2())
	sameData(t, "tag 100", byTag[100], recs1)
	sameData(t, "tag 200", byTag[200], recs2)
	if len(byTag) != 2 {
		t.Errorf("tags seen: %d, want 2", len(byTag))
	}
	if len(f.Outputs) != 2 {
		t.Fatalf("final outputs: %+v", f.Outputs)
	}
	for _, o := range f.Outputs {
		if o.Sent != uint64(len(all)) || o.Offered != o.Sent {
			t.Errorf("output %s: %+v, want %d sent", o.Output, o, len(all))
		}
	}
	if !strings.Contains(d.stderr.String(), `"msg":"rates"`) {
		t.Error("no rates line in the log")
	}
}

// TestTapWithoutKafka is fluxcap's job from fastcapa's command line alone,
// with no broker (-no-kafka): two taps aggregated onto one output with
// their VLAN tags (-port NAME,vlan=N, -tx NAME,insert_vlan) and
// replicated, cut to 128 bytes (fluxcap's -s), onto another. tcpdump on
// each output sees every frame once, as configured; the final counters
// place every packet as released after the outputs, and the exit status
// is 0. A mistyped -tx and -no-kafka without an output are refused.
func TestTapWithoutKafka(t *testing.T) {
	in1, in2, out1, out2 := newVethPair(t), newVethPair(t), newVethPair(t), newVethPair(t)
	file1, recs1 := sample(t)
	stop1, stop2 := tcpdumpOn(t, out1), tcpdumpOn(t, out2)

	args := append(ealArgs(t), "-no-kafka", "-stats-interval", "1s",
		"-port", "net_af_packet0,vlan=100", "-port", "net_af_packet1,vlan=200",
		"-tx", "net_af_packet2,snaplen=128", "-tx", "net_af_packet3,insert_vlan,name=aggregate")
	for i, v := range []vethPair{in1, in2, out1, out2} {
		args = append(args, "-vdev", fmt.Sprintf("net_af_packet%d,iface=%s", i, v.capture))
	}
	d := startDaemon(t, nil, args...)
	waitLog(t, d, "capturing", 30*time.Second)
	in1.replay(t, file1, 2000, 1)
	time.Sleep(200 * time.Millisecond)
	in2.replay(t, file1, 2000, 1)
	waitLog(t, d, "rates", 10*time.Second)
	if code := d.stop(t); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	f := d.final(t)
	f.check(t)
	all := append(append([]pcap.Record{}, recs1...), recs1...)
	if f.Received != uint64(len(all)) || f.Released != f.Received || f.Delivered != 0 {
		t.Errorf("final: received %d, released %d, delivered %d: want %d released", f.Received, f.Released, f.Delivered, len(all))
	}

	var cut []pcap.Record
	for _, r := range all {
		r.Data = r.Data[:min(len(r.Data), 128)]
		cut = append(cut, r)
	}
	sameData(t, "output net_af_packet2 (snaplen 128)", stop1(), cut)
	byTag := byVLAN(t, "output aggregate", stop2())
	sameData(t, "tag 100", byTag[100], recs1)
	sameData(t, "tag 200", byTag[200], recs1)
	if len(f.Outputs) != 2 || f.Outputs[0].Output != "net_af_packet2" || f.Outputs[1].Output != "aggregate" {
		t.Fatalf("final outputs: %+v", f.Outputs)
	}
	for _, o := range f.Outputs {
		if o.Sent != uint64(len(all)) {
			t.Errorf("output %s: %+v, want %d sent", o.Output, o, len(all))
		}
	}
	if o := f.Outputs[0]; o.Truncated != 0 {
		t.Errorf("output %s: snaplen cuts are not MTU truncations: %+v", o.Output, o)
	}

	prefix := uniquePrefix(t, "fce2e-bad")
	bad := []string{"-no-huge", "-no-pci", "-file-prefix", prefix, "-vdev", "net_null0", "-port", "net_null0"}
	expectStartupError(t, nil, append(bad, "-no-kafka", "-tx", "net_null0,snaplne=64"), prefix, "snaplne")
	expectStartupError(t, nil, append(bad, "-no-kafka"), prefix, "kafka.disabled")
}
