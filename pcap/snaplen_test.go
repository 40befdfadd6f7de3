package pcap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// classicFile builds a classic pcap file in the given byte order and
// precision, with the snapshot length snap, and one record per length in
// lens (each len bytes captured, len+100 on the wire).
func classicFile(order byteOrder, nanos bool, snap uint32, lens []int) []byte {
	magic := uint32(magicMicros)
	if nanos {
		magic = magicNanos
	}
	b := order.AppendUint32(nil, magic)
	b = order.AppendUint16(b, 2)
	b = order.AppendUint16(b, 4)
	b = order.AppendUint32(b, 0)
	b = order.AppendUint32(b, 0)
	b = order.AppendUint32(b, snap)
	b = order.AppendUint32(b, LinkTypeEthernet)
	for i, n := range lens {
		b = order.AppendUint32(b, 1_700_000_000+uint32(i))
		b = order.AppendUint32(b, uint32(1000*i+7))
		b = order.AppendUint32(b, uint32(n))
		b = order.AppendUint32(b, uint32(n+100))
		b = append(b, frame(n, byte(i))...)
	}
	return b
}

// frame is n bytes of an Ethernet frame whose bytes after the header
// count up from seed, so that a cut in the wrong place shows.
func frame(n int, seed byte) []byte {
	f := make([]byte, n)
	for i := range f {
		f[i] = seed + byte(i)
	}
	if n >= 14 {
		copy(f[12:], []byte{0x08, 0x00})
	}
	return f
}

// ngSnapFile builds a pcapng file of one section in the given byte order
// and one Ethernet interface of snapshot length snap, with an Enhanced
// Packet Block per length in epbs, then a Simple Packet Block per
// original length in spbs (holding what the interface's snapshot length
// lets it hold).
func ngSnapFile(order byteOrder, snap uint32, epbs, spbs []int) []byte {
	g := &ngFile{}
	g.section(order)
	g.idb(LinkTypeEthernet, snap)
	for i, n := range epbs {
		g.epb(0, 1_700_000_000_000_000+uint64(i), uint32(n+100), frame(n, byte(i)))
	}
	for i, n := range spbs {
		g.block(blockSPB, g.u32(uint32(n)), frame(int(min(uint32(n), RecordLimit(snap))), byte(i)))
	}
	return g.b
}

// TestSnapLenAgainstTcpdump: records longer than their file's snapshot
// length are read as libpcap 1.10 reads them. tcpdump -r F -w - writes
// exactly the records Open returns — in classic pcap cut to the snapshot
// length (both byte orders, both precisions; a snapshot length of 0 or
// over 2^31-1 meaning MaxSnapLen) — and where tcpdump stops with an error
// (a record over MaxSnapLen; in pcapng, a record over its interface's
// snapshot length) Open's reader stops with ErrFormat after the same
// records. Offset counts the bytes in the file, not those returned.
func TestSnapLenAgainstTcpdump(t *testing.T) {
	tcpdump := testenv.RequireTool(t, "tcpdump")
	type tc struct {
		name string
		file []byte
	}
	var cases []tc
	for _, order := range []byteOrder{binary.LittleEndian, binary.BigEndian} {
		for _, nanos := range []bool{false, true} {
			for _, snap := range []uint32{41, 1500, 0, 262208, 0x8000_0000, 0xffff_ffff} {
				lens := []int{30, 41, 54, 1500, 1514, 9000, 0, 60}
				cases = append(cases, tc{fmt.Sprintf("pcap %T nanos=%v snaplen %d", order, nanos, snap), classicFile(order, nanos, snap, lens)})
			}
			// Over the maximum: an error, whatever the snapshot length.
			cases = append(cases, tc{fmt.Sprintf("pcap %T nanos=%v over MaxSnapLen", order, nanos),
				classicFile(order, nanos, 0x8000_0000, []int{60, MaxSnapLen, MaxSnapLen + 1, 60})})
		}
		for _, snap := range []uint32{64, 0} {
			cases = append(cases, tc{fmt.Sprintf("pcapng %T snaplen %d", order, snap),
				ngSnapFile(order, snap, []int{30, 64, 60}, []int{20, 64, 100, 300000})})
			cases = append(cases, tc{fmt.Sprintf("pcapng %T snaplen %d, a record over it", order, snap),
				ngSnapFile(order, snap, []int{30, int(RecordLimit(snap)), int(RecordLimit(snap)) + 1, 60}, nil)})
		}
	}
	dir := t.TempDir()
	cut := 0
	for i, c := range cases {
		in := filepath.Join(dir, fmt.Sprintf("in%d", i))
		out := filepath.Join(dir, fmt.Sprintf("out%d", i))
		if err := os.WriteFile(in, c.file, 0o644); err != nil {
			t.Fatal(err)
		}
		tdErr := exec.Command(tcpdump, "--time-stamp-precision=nano", "-r", in, "-w", out).Run()
		var want []Record
		if o, err := os.ReadFile(out); err == nil {
			r, err := NewReader(bytes.NewReader(o))
			if err != nil {
				t.Fatalf("%s: tcpdump's output: %v", c.name, err)
			}
			if want, err = ReadAll(r); err != nil {
				t.Fatalf("%s: tcpdump's output: %v", c.name, err)
			}
		}
		capture, err := Open(bytes.NewReader(c.file))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var got []Record
		var offsets []int64
		for {
			rec, err := capture.NextCopy()
			if err == io.EOF {
				if tdErr != nil {
					t.Errorf("%s: read to the end; tcpdump failed: %v", c.name, tdErr)
				}
				if capture.Offset() != int64(len(c.file)) {
					t.Errorf("%s: Offset %d at the end of %d bytes", c.name, capture.Offset(), len(c.file))
				}
				break
			}
			if err != nil {
				if tdErr == nil || !errors.Is(err, ErrFormat) {
					t.Errorf("%s: %v; tcpdump: %v", c.name, err, tdErr)
				}
				break
			}
			rec.Interface, rec.LinkType = 0, 0
			got = append(got, rec)
			offsets = append(offsets, capture.Offset())
		}
		capture.Close()
		if len(got) != len(want) {
			t.Errorf("%s: %d records, tcpdump %d", c.name, len(got), len(want))
			continue
		}
		for k := range want {
			w, g := want[k], got[k]
			if w.Timestamp != g.Timestamp || w.OrigLen != g.OrigLen || !bytes.Equal(w.Data, g.Data) {
				t.Errorf("%s: record %d: %d bytes of %d at %d, tcpdump %d of %d at %d", c.name, k,
					len(g.Data), g.OrigLen, g.Timestamp, len(w.Data), w.OrigLen, w.Timestamp)
			}
		}
		for k, o := range offsets {
			if k > 0 && o <= offsets[k-1] {
				t.Errorf("%s: Offset %d after record %d, %d before", c.name, o, k, offsets[k-1])
			}
		}
		for _, g := range got {
			if len(g.Data) < int(g.OrigLen)-100 {
				cut++
			}
		}
	}
	if cut == 0 {
		t.Fatal("no record was cut: the check is vacuous")
	}
	t.Logf("%d files, %d records cut to their snapshot length, as tcpdump cuts them", len(cases), cut)
}

// TestWritersKeepSnapLen: a record longer than the snapshot length a
// writer was made with is written cut to it, with its original length:
// tcpdump reads the file back without an error, and the records it
// writes are those Open reads.
func TestWritersKeepSnapLen(t *testing.T) {
	tcpdump := testenv.RequireTool(t, "tcpdump")
	dir := t.TempDir()
	for _, format := range []Format{FormatPcap, FormatPcapNG} {
		for _, snap := range []uint32{41, 0} {
			var buf bytes.Buffer
			w, err := NewFormatWriter(&buf, format, true, snap)
			if err != nil {
				t.Fatal(err)
			}
			lens := []int{30, 41, 54, 1514, MaxSnapLen + 10}
			for i, n := range lens {
				if err := w.Write(Record{Timestamp: int64(1_700_000_000_000_000_000 + i), OrigLen: uint32(n), Data: frame(n, byte(i))}); err != nil {
					t.Fatal(err)
				}
			}
			w.Flush()
			name := fmt.Sprintf("%s snaplen %d", format, snap)
			in := filepath.Join(dir, "in")
			if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(tcpdump, "--time-stamp-precision=nano", "-r", in, "-w", "-").Output()
			if err != nil {
				t.Errorf("%s: tcpdump: %v", name, err)
				continue
			}
			r, err := NewReader(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			want, err := ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Open(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ReadAll(c)
			c.Close()
			if err != nil || len(got) != len(lens) || len(want) != len(lens) {
				t.Fatalf("%s: %d records (%v), tcpdump %d, wrote %d", name, len(got), err, len(want), len(lens))
			}
			for i, n := range lens {
				limit := min(n, int(RecordLimit(snap)))
				if g := got[i]; len(g.Data) != limit || g.OrigLen != uint32(n) || !bytes.Equal(g.Data, want[i].Data) || want[i].OrigLen != g.OrigLen {
					t.Errorf("%s: record %d: %d of %d bytes, want %d of %d as tcpdump (%d of %d)", name, i,
						len(g.Data), g.OrigLen, limit, n, len(want[i].Data), want[i].OrigLen)
				}
			}
		}
	}
}
