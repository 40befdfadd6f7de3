package query

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// storeLayout is a generated store: what the sink writes for a topic of
// several partitions, one packet stream spread over them.
type storeLayout struct {
	bytes      int64 // total size of the files, about
	partitions int   // files written at the same time (overlapping)
	fileBytes  int64 // each file's size, about
}

// selectiveHost appears as the source of one packet in selectiveEvery:
// the selective query's host.
const (
	selectiveHost  = "192.0.2.77"
	selectiveEvery = 1000
)

// genStore writes a store of metron-example.pcap's frames, repeated,
// with a new source address for each IPv4 packet (10.x.y.z by packet
// number, selectiveHost for one in selectiveEvery), timestamps 10 µs
// apart, packet i going to partition i % partitions. It returns the
// records and bytes written.
func genStore(t testing.TB, dir string, l storeLayout) (records, size int64) {
	t.Helper()
	src := pcaptest.ReadAll(t, filepath.Join(testenv.Pcaps(t), "metron-example.pcap"))
	type out struct {
		f    *os.File
		w    *pcap.Writer
		n    int64
		seq  int
		name string
	}
	outs := make([]*out, l.partitions)
	closeOut := func(o *out) {
		if o.f == nil {
			return
		}
		if err := o.w.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := o.f.Close(); err != nil {
			t.Fatal(err)
		}
		size += o.n
		o.f = nil
	}
	t0 := int64(1_700_000_000e9)
	var written int64
	frame := make([]byte, 0, 1<<16)
	for i := int64(0); written < l.bytes; i++ {
		r := src[i%int64(len(src))]
		frame = append(frame[:0], r.Data...)
		if len(frame) >= 34 && binary.BigEndian.Uint16(frame[12:]) == 0x0800 {
			if i%selectiveEvery == 0 {
				copy(frame[26:30], []byte{192, 0, 2, 77})
			} else {
				binary.BigEndian.PutUint32(frame[26:30], 10<<24|uint32(i)&0xffffff)
			}
		}
		p := int(i % int64(l.partitions))
		o := outs[p]
		if o == nil {
			o = &out{}
			outs[p] = o
		}
		if o.f != nil && o.n >= l.fileBytes {
			closeOut(o)
		}
		if o.f == nil {
			var err error
			o.name = filepath.Join(dir, fmt.Sprintf("pcap_pcap_%d_%d.pcap", t0+i*10_000, p))
			if o.f, err = os.Create(o.name); err != nil {
				t.Fatal(err)
			}
			if o.w, err = pcap.NewWriter(o.f, true, pcap.MaxSnapLen); err != nil {
				t.Fatal(err)
			}
			o.n = 24
		}
		rec := pcap.Record{Timestamp: t0 + i*10_000, OrigLen: r.OrigLen, Data: frame}
		if err := o.w.Write(rec); err != nil {
			t.Fatal(err)
		}
		o.n += int64(16 + len(frame))
		written += int64(16 + len(frame))
		records++
	}
	for _, o := range outs {
		if o != nil {
			closeOut(o)
		}
	}
	return records, size
}
