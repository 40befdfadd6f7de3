package test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// TestSinkDecapMatchesTcpdump: pcapstore sink's targets with decap (the
// default) match their filter on each frame's innermost packet. The
// oracle is TestCaptureDecapMatchesTcpdump's: tshark's decode of every
// frame of the shared captures with VLANs, MPLS and tunnels
// (pcaptest.Decapsulated, never our decoder), the inner packets written
// as a capture, and tcpdump's answer on that capture for each of
// decapFilters. Each target's files hold the original frames of exactly
// the packets tcpdump keeps there, byte for byte and in order. A target
// with decap: false keeps what tcpdump keeps from the frames themselves,
// and some expressions answer differently with and without
// decapsulation, or the input would not test it.
func TestSinkDecapMatchesTcpdump(t *testing.T) {
	in := makeFilterInputFrom(t, tunnelPcaps(t))
	// The records as the sink gets them: a frame's captured bytes are
	// the whole frame.
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC).UnixNano()
	recs := make([]pcap.Record, len(in.recs))
	var krecs []*kgo.Record
	for i, r := range in.recs {
		recs[i] = pcap.Record{Timestamp: t0 + int64(i)*1000, Data: r.Data, OrigLen: uint32(len(r.Data))}
		krecs = append(krecs, &kgo.Record{Key: binary.BigEndian.AppendUint64(nil, uint64(recs[i].Timestamp)), Value: r.Data})
	}
	src := filepath.Join(t.TempDir(), "src.pcap")
	pcaptest.WriteCapture(t, src, pcaptest.File{}, recs)
	decaps := pcaptest.Decapsulated(t, src)
	inner := make([]pcap.Record, len(recs))
	for i, r := range recs {
		inner[i] = pcap.Record{Timestamp: r.Timestamp, Data: decaps[i].Frame, OrigLen: uint32(len(decaps[i].Frame))}
	}
	innerFile := filepath.Join(t.TempDir(), "inner.pcap")
	pcaptest.WriteCapture(t, innerFile, pcaptest.File{}, inner)

	type target struct {
		name, expr string
		decap      bool
		want       []pcap.Record
	}
	var targets []target
	differs := 0
	for i, expr := range decapFilters {
		tg := target{name: fmt.Sprintf("d%d", i), expr: expr, decap: true}
		for _, j := range subsequenceIndex(t, inner, pcaptest.TcpdumpKeeps(t, innerFile, expr)) {
			tg.want = append(tg.want, recs[j])
		}
		plain := pcaptest.TcpdumpKeeps(t, src, expr)
		if len(plain) != len(tg.want) {
			differs++
		}
		targets = append(targets, tg, target{name: fmt.Sprintf("p%d", i), expr: expr, want: plain})
	}
	if differs == 0 {
		t.Fatalf("no expression answers differently on the inner packets: the input does not test decapsulation")
	}

	b := startBroker(t, 0, "decap", "")
	produce(t, b.Addr, "decap", krecs)
	yml := "brokers: " + b.Addr + "\ntopic: decap\ngroup: g\nmetrics_listen: 127.0.0.1:0\ntargets:\n"
	dirs := map[string]string{}
	for _, tg := range targets {
		dirs[tg.name] = t.TempDir()
		yml += fmt.Sprintf("  - name: %s\n    dir: %s\n    filter: %q\n    filter_vlan: false\n", tg.name, dirs[tg.name], tg.expr)
		if !tg.decap {
			yml += "    decap: false\n" // else the default
		}
	}
	cfg := filepath.Join(t.TempDir(), "sink.yaml")
	os.WriteFile(cfg, []byte(yml), 0o644)
	s := &sinkProc{t: t, args: []string{"sink", "-config", cfg, "-log-json"}}
	s.start()
	t.Cleanup(s.kill)
	waitCommitted(t, b.Addr, "g", "decap", int64(len(recs)))
	if c := s.stop(); c != 0 {
		t.Fatalf("pcapstore sink exited %d\n%s", c, s.logs.String())
	}
	for _, tg := range targets {
		var got []pcap.Record
		for _, f := range sinkFiles(t, dirs[tg.name]) {
			got = append(got, pcaptest.ReadAll(t, f)...)
		}
		mode := "decap"
		if !tg.decap {
			mode = "plain"
		}
		if len(got) != len(tg.want) {
			t.Errorf("%s %q: the target holds %d packets, tcpdump keeps %d", mode, tg.expr, len(got), len(tg.want))
			continue
		}
		for j := range got {
			if got[j].Timestamp != tg.want[j].Timestamp || !bytes.Equal(got[j].Data, tg.want[j].Data) {
				t.Errorf("%s %q: packet %d is not the frame tcpdump keeps (%s)", mode, tg.expr, j, strings.TrimSpace(pcaptest.Diff(tg.want[j:j+1], got[j:j+1])))
				break
			}
		}
		t.Logf("%s %q: %d of %d frames kept", mode, tg.expr, len(got), len(recs))
	}
}
