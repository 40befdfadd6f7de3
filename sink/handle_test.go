package sink

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/fastcapa-go/fastcapa/index"
	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/kafka"
	"github.com/fastcapa-go/fastcapa/pcap"
	"github.com/fastcapa-go/fastcapa/store"
)

// handleTargets are one target of each kind of file the sink writes:
// both formats at both precisions, compressed, and snapshot lengths that
// cut records.
var handleTargets = []store.Spec{
	{Template: "{ts}_{seq}.pcap", Format: pcap.FormatPcap},
	{Template: "{ts}_{seq}.pcap", Format: pcap.FormatPcap, Nanos: true},
	{Template: "{ts}_{seq}.pcapng", Format: pcap.FormatPcapNG},
	{Template: "{ts}_{seq}.pcapng", Format: pcap.FormatPcapNG, Nanos: true, SnapLen: 128},
	{Template: "{ts}_{seq}.pcap", Format: pcap.FormatPcap, Nanos: true, Compression: pcap.CompressGzip, SnapLen: 64},
	{Template: "%Y/{start}-{end}.pcapng", Format: pcap.FormatPcapNG, Compression: pcap.CompressLZ4},
}

// handleDecoders are the record formats and key units: mode picks one.
var handleDecoders = []Decoder{
	{Format: FromKey, KeyUnit: 1},
	{Format: FromKey, KeyUnit: 1e3},
	{Format: FromKey, KeyUnit: 1e6},
	{Format: FromValue},
}

// FuzzHandle: no record stops the sink. A record of any key and value,
// offered to a target of each format through the real store.Writer and
// followed by a good one, is handled without error and ends up either
// in every target — read back byte-exact, cut to the target's snapshot
// length, its time at the target's precision, its sidecar index written
// — or in the dead-letter file with its reason, key and value. The good
// record after it is stored. Seeds: testdata/fuzz/FuzzHandle. Run with
// TMPDIR on a tmpfs: each input writes and fsyncs a file per target.
func FuzzHandle(f *testing.F) {
	f.Fuzz(func(t *testing.T, key, value []byte, mode uint8, orig []byte, nOrig uint8) {
		dec := handleDecoders[int(mode)%len(handleDecoders)]
		dir := t.TempDir()
		spec := Spec{Topic: "fuzz", Decoder: dec, DeadLetter: filepath.Join(dir, "deadletter.jsonl"),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		for i, st := range handleTargets {
			st.Dir = filepath.Join(dir, string(rune('a'+i)))
			spec.Targets = append(spec.Targets, Target{Store: st})
		}
		s, err := newSink(spec)
		if err != nil {
			t.Fatal(err)
		}
		defer s.dead.Close()
		topic := "fuzz"
		headers := origHeaders(orig, nOrig)
		msg := func(off int64, k, v []byte, hs []ck.Header) *ck.Message {
			return &ck.Message{TopicPartition: ck.TopicPartition{Topic: &topic, Offset: ck.Offset(off)}, Key: k, Value: v, Headers: hs}
		}
		// The good record after it: a frame at a time every format and
		// key unit holds.
		goodTS := int64(1700000000123000000)
		goodFrame := bytes.Repeat([]byte{0x5a}, 60)
		goodKey := binary.BigEndian.AppendUint64(nil, uint64(goodTS/max(dec.KeyUnit, 1)))
		goodValue := goodFrame
		if dec.Format == FromValue {
			goodValue = binary.LittleEndian.AppendUint32(nil, uint32(goodTS/1e9))
			goodValue = binary.LittleEndian.AppendUint32(goodValue, uint32(goodTS%1e9/1e3))
			goodValue = binary.LittleEndian.AppendUint32(goodValue, 60)
			goodValue = binary.LittleEndian.AppendUint32(goodValue, 60)
			goodValue = append(goodValue, goodFrame...)
		}
		for i, m := range []*ck.Message{msg(7, key, value, headers), msg(8, goodKey, goodValue, nil)} {
			if err := s.handle(m); err != nil {
				t.Fatalf("record %d: handle: %v", i, err)
			}
		}
		for _, o := range s.parts[0].outs {
			fin, err := o.w.Finalize()
			if err != nil {
				t.Fatalf("target %s: finalize: %v", o.t.spec.Name, err)
			}
			s.finalized(o, []store.Finalized{*fin}, o.durable)
		}

		pk, derr := dec.Decode(key, value, headers)
		if dec.Format == FromKey && derr == nil {
			// The packet is the key's time and the whole value, of the
			// orig_len header's wire length if there is one.
			if k := binary.BigEndian.Uint64(key); pk.Timestamp != int64(k)*max(dec.KeyUnit, 1) || !bytes.Equal(pk.Data, value) {
				t.Fatalf("decoded key %#x, %d bytes as %d ns, %d bytes", k, len(value), pk.Timestamp, len(pk.Data))
			}
			wantOrig := uint32(len(value))
			if len(headers) > 0 {
				n, err := kafka.ParseOrigLen(orig)
				if len(headers) != 1 || err != nil || n < wantOrig {
					t.Fatalf("%d orig_len headers %q (%v) on %d bytes: decoded", len(headers), orig, err, len(value))
				}
				wantOrig = n
			}
			if pk.OrigLen != wantOrig {
				t.Fatalf("decoded wire length %d, want %d", pk.OrigLen, wantOrig)
			}
		}
		dead := deadLetters(t, s.spec.DeadLetter)
		switch {
		case derr != nil && len(dead) != 1:
			t.Fatalf("refused (%v), yet %d dead letters", derr, len(dead))
		case derr != nil && (dead[0].Offset != 7 || dead[0].Reason != derr.Error() || !bytes.Equal(dead[0].Key, key) || !bytes.Equal(dead[0].Value, value) ||
			!sameHeaders(dead[0].Headers, headers)):
			t.Fatalf("dead letter %+v, want offset 7, reason %q and the record", dead[0], derr)
		case derr == nil && len(dead) != 0:
			t.Fatalf("stored, yet dead-lettered: %+v", dead)
		}
		for _, o := range s.parts[0].outs {
			st := o.t.spec.Store
			want := []pcap.Record{{Timestamp: goodTS, OrigLen: 60, Data: goodFrame}}
			if derr == nil {
				want = append([]pcap.Record{{Timestamp: pk.Timestamp, OrigLen: max(pk.OrigLen, uint32(len(pk.Data))), Data: pk.Data}}, want...)
			}
			got := targetRecords(t, st.Dir)
			if len(got) != len(want) {
				t.Fatalf("target %s: %d records, want %d", o.t.spec.Name, len(got), len(want))
			}
			snap := int(st.SnapLen)
			if snap == 0 {
				snap = pcap.MaxSnapLen
			}
			for i, w := range want {
				if !st.Nanos {
					w.Timestamp -= w.Timestamp % 1000
				}
				w.Data = w.Data[:min(len(w.Data), snap)]
				if g := got[i]; g.Timestamp != w.Timestamp || g.OrigLen != w.OrigLen || !bytes.Equal(g.Data, w.Data) {
					t.Fatalf("target %s: record %d is %d ns, %d of %d bytes; want %d ns, %d of %d bytes",
						o.t.spec.Name, i, g.Timestamp, len(g.Data), g.OrigLen, w.Timestamp, len(w.Data), w.OrigLen)
				}
			}
			if n := o.t.indexErrors.Load(); n != 0 {
				t.Fatalf("target %s: %d sidecar indexes not written", o.t.spec.Name, n)
			}
		}
	})
}

// targetRecords reads the one finalized file under dir, checking its
// sidecar index holds as many packets.
func targetRecords(t *testing.T, dir string) []pcap.Record {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 1 {
		t.Fatalf("%s: files %v, want one", dir, files)
	}
	recs := pcaptest.ReadAll(t, files[0])
	ix, err := index.Load(files[0])
	if err != nil || ix.Packets != int64(len(recs)) {
		t.Fatalf("%s: sidecar index (%v) of a file of %d records", files[0], err, len(recs))
	}
	// The sink indexes what it stored: a record cut to the snapshot
	// length is indexed as cut, its time at the file's precision.
	built, err := index.BuildFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	want, _ := built.MarshalBinary()
	if got, _ := ix.MarshalBinary(); !bytes.Equal(got, want) {
		t.Fatalf("%s: sidecar index differs from one built from the file", files[0])
	}
	return recs
}

type deadLine struct {
	Offset  int64
	Reason  string
	Key     []byte
	Value   []byte
	Headers []deadHeader
}

// sameHeaders: a dead letter's headers are the record's, in order.
func sameHeaders(got []deadHeader, want []ck.Header) bool {
	if len(got) != len(want) {
		return false
	}
	for i, h := range want {
		if got[i].Key != h.Key || !bytes.Equal(got[i].Value, h.Value) {
			return false
		}
	}
	return true
}

// deadLetters reads a dead-letter file.
func deadLetters(t *testing.T, path string) []deadLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ds []deadLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var d deadLine
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("dead letter %.100q: %v", sc.Bytes(), err)
		}
		ds = append(ds, d)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return ds
}
