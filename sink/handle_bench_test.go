package sink

import (
	"encoding/binary"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
	"github.com/fastcapa-go/fastcapa/store"
)

// BenchmarkHandle is the sink's write path for one local target: decode
// (FROM_KEY, µs keys), store.Writer.Write into a classic microsecond
// pcap file and the sidecar index builder, for the Metron sample's
// frames in turn; one file, finalized (and indexed) at the end.
func BenchmarkHandle(b *testing.B) {
	_, recs, err := pcap.ReadFile(filepath.Join(testenv.Pcaps(b), "metron-example.pcap"))
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	spec := Spec{Topic: "bench", Decoder: Decoder{Format: FromKey, KeyUnit: 1e3}, DeadLetter: filepath.Join(dir, "deadletter.jsonl"),
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Targets: []Target{{Store: store.Spec{Dir: filepath.Join(dir, "t"), Template: "{seq}.pcap"}}}}
	s, err := newSink(spec)
	if err != nil {
		b.Fatal(err)
	}
	defer s.dead.Close()
	topic := "bench"
	msgs := make([]ck.Message, len(recs))
	var total int64
	for i, r := range recs {
		msgs[i] = ck.Message{TopicPartition: ck.TopicPartition{Topic: &topic}, Value: r.Data}
		total += int64(len(r.Data))
	}
	b.SetBytes(total / int64(len(recs)))
	b.ReportAllocs()
	b.ResetTimer()
	ts := int64(1700000000000000)
	for i := range b.N {
		m := &msgs[i%len(msgs)]
		m.TopicPartition.Offset = ck.Offset(i)
		m.Key = binary.BigEndian.AppendUint64(m.Key[:0], uint64(ts+int64(i)))
		if err := s.handle(m); err != nil {
			b.Fatal(err)
		}
	}
	for _, o := range s.parts[0].outs {
		fin, err := o.w.Finalize()
		if err != nil {
			b.Fatal(err)
		}
		s.finalized(o, []store.Finalized{*fin}, o.durable)
		if n := o.t.indexErrors.Load(); n != 0 {
			b.Fatalf("%d sidecar indexes not written", n)
		}
	}
}

// BenchmarkKeeps is a target's filter ("tcp port 80") on one frame,
// matched on the frame as it is (plain) and on its innermost packet
// (decap: index.Inner, then the match on the packet presented as an
// Ethernet frame), for a plain TCP frame, one in a VLAN and one in
// VXLAN: decap's cost is the ratio of each pair.
func BenchmarkKeeps(b *testing.B) {
	tcp := pcaptest.IPv4(6, pcaptest.IP4A, pcaptest.IP4B, pcaptest.Cat(pcaptest.TCP(40000, 80), make([]byte, 200)), 0)
	frames := []struct {
		name  string
		frame []byte
	}{
		{"eth", pcaptest.Cat(pcaptest.Eth(0x0800), tcp)},
		{"vlan", pcaptest.Cat(pcaptest.Eth(0x8100), pcaptest.Tag(0x0800), tcp)},
		{"vxlan", pcaptest.Cat(pcaptest.Eth(0x0800), pcaptest.IPv4(17, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2},
			pcaptest.UDP(50000, 4789, pcaptest.Cat(pcaptest.VXLAN(), pcaptest.Eth(0x0800), tcp)), 0))},
	}
	for _, f := range frames {
		for _, decap := range []bool{false, true} {
			ts, err := newTargets([]Target{{Store: store.Spec{Dir: b.TempDir(), Template: "{seq}.pcap"}, Filter: "tcp port 80", Decap: decap}})
			if err != nil {
				b.Fatal(err)
			}
			t := ts[0]
			mode := map[bool]string{false: "plain", true: "decap"}[decap]
			b.Run(f.name+"/"+mode, func(b *testing.B) {
				if want := decap || f.name == "eth"; t.keeps(f.frame, uint32(len(f.frame))) != want {
					b.Fatalf("kept: %v, want %v", !want, want)
				}
				b.ReportAllocs()
				for range b.N {
					t.keeps(f.frame, uint32(len(f.frame)))
				}
			})
		}
	}
}
