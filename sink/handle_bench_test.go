package sink

import (
	"encoding/binary"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"

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
