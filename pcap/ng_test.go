package pcap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// sameRecords fails unless got and want hold the same timestamps,
// original lengths and bytes.
func sameRecords(t *testing.T, name string, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", name, len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Timestamp != w.Timestamp || g.OrigLen != w.OrigLen || !bytes.Equal(g.Data, w.Data) {
			t.Fatalf("%s: record %d: ts %d orig %d len %d, want ts %d orig %d len %d",
				name, i, g.Timestamp, g.OrigLen, len(g.Data), w.Timestamp, w.OrigLen, len(w.Data))
		}
	}
}

func readNGFile(t *testing.T, path string) (*NGReader, []Record, error) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewNGReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	recs, err := ReadAll(r)
	return r, recs, err
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	bin := testenv.RequireTool(t, name)
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// nanoCopy writes recs as a nanosecond pcap file with sub-microsecond
// digits added to the timestamps, and returns its path and records.
func nanoCopy(t *testing.T, recs []Record) (string, []Record) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, true, MaxSnapLen)
	if err != nil {
		t.Fatal(err)
	}
	var out []Record
	for i, r := range recs {
		r.Timestamp += int64(i*7919) % 1000
		r.OrigLen = max(r.OrigLen, uint32(len(r.Data))) // as written
		out = append(out, r)
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "nanos.pcap")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, out
}

// TestNGMatchesEditcap: every shared capture converted by Wireshark's
// editcap to pcapng, read by NGReader, gives exactly the records Reader
// reads from the original: timestamps in ns, original lengths, bytes.
// Each capture is also copied to a nanosecond pcap (sub-microsecond
// digits added) and converted, which makes if_tsresol 9 (editcap 4.0 has
// no option for the resolution: it keeps the input's).
//
// editcap copies a record longer than the original's snapshot length
// whole (Reader cuts it, as libpcap does): in pcapng that record is
// corrupt, so NGReader stops there with ErrFormat after the same records
// as Reader, and tcpdump fails on the converted file too.
func TestNGMatchesEditcap(t *testing.T) {
	testenv.RequireTool(t, "editcap")
	for _, f := range testenv.AllPcaps(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			_, want, err := ReadFile(f)
			if err != nil {
				// Cut on purpose: editcap stops where we do.
				t.Logf("%v (after %d records)", err, len(want))
			}
			nanoPath, nanoWant := nanoCopy(t, want)
			for _, c := range []struct {
				name, src string
				want      []Record
				resol     uint8
			}{{"micros", f, want, 6}, {"nanos", nanoPath, nanoWant, 9}} {
				out := filepath.Join(t.TempDir(), c.name+".pcapng")
				run(t, "editcap", "-F", "pcapng", c.src, out)
				r, got, err := readNGFile(t, out)
				if err != nil {
					if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "snapshot length") || len(got) >= len(c.want) {
						t.Fatalf("%s: %v", c.name, err)
					}
					tcpdump := testenv.RequireTool(t, "tcpdump")
					if exec.Command(tcpdump, "-r", out, "-w", os.DevNull).Run() == nil {
						t.Errorf("%s: %v, but tcpdump reads the file", c.name, err)
					}
					sameRecords(t, c.name, got, c.want[:len(got)])
					continue
				}
				sameRecords(t, c.name, got, c.want)
				ifs := r.Interfaces()
				if len(want) == 0 { // no packets: editcap writes no interface
					continue
				}
				if len(ifs) != 1 || ifs[0].TSResol != c.resol || ifs[0].LinkType != LinkTypeEthernet {
					t.Errorf("%s: interfaces %+v, want one Ethernet with if_tsresol %d", c.name, ifs, c.resol)
				}
				for i, r := range got {
					if r.LinkType != LinkTypeEthernet || r.Interface != 0 {
						t.Fatalf("%s: record %d: link type %d interface %d", c.name, i, r.LinkType, r.Interface)
					}
				}
			}
		})
	}
}

// sharedRecords is every record of every shared capture, in turn.
func sharedRecords(t *testing.T) []Record {
	var all []Record
	for _, f := range testenv.AllPcaps(t) {
		_, recs, _ := ReadFile(f)
		all = append(all, recs...)
	}
	return all
}

// tsharkFrames runs tshark on path: per packet, the epoch time in ns (-1
// if the packet has none), the original and the captured length.
func tsharkFrames(t *testing.T, path string, args ...string) [][3]int64 {
	t.Helper()
	args = append([]string{"-r", path, "-T", "fields", "-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len"}, args...)
	out := run(t, "tshark", args...)
	var frames [][3]int64
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 3 {
			t.Fatalf("tshark line %q", l)
		}
		ns := int64(-1) // no time: a Simple Packet Block
		if f[0] != "" {
			var err error
			if ns, err = epochNanos(f[0]); err != nil {
				t.Fatal(err)
			}
		}
		n, err1 := strconv.ParseInt(f[1], 10, 64)
		c, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("tshark line %q", l)
		}
		frames = append(frames, [3]int64{ns, n, c})
	}
	return frames
}

// epochNanos parses "1431031896.723375000" exactly.
func epochNanos(s string) (int64, error) {
	sec, frac, _ := strings.Cut(s, ".")
	frac = (frac + "000000000")[:9]
	a, err1 := strconv.ParseInt(sec, 10, 64)
	b, err2 := strconv.ParseInt(frac, 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("time %q: %w", s, err)
	}
	return a*1e9 + b, nil
}

// TestNGWriterOracles: NGWriter writes every record of every shared
// capture into one file, in nanosecond and microsecond mode. Wireshark
// agrees on it: capinfos counts the packets and their bytes, tshark gives
// each packet's ns time, length and captured length, and editcap's
// conversion back to nanosecond pcap holds the bytes. NGReader reads back
// the same.
func TestNGWriterOracles(t *testing.T) {
	all := sharedRecords(t)
	var wireBytes int64 // capinfos' "data size": original lengths
	for _, r := range all {
		wireBytes += int64(max(r.OrigLen, uint32(len(r.Data))))
	}
	for _, nanos := range []bool{true, false} {
		t.Run(fmt.Sprintf("nanos=%v", nanos), func(t *testing.T) {
			want := all
			if nanos {
				_, want = nanoCopy(t, all)
			} else {
				want = append([]Record(nil), all...)
				for i := range want {
					want[i].Timestamp -= want[i].Timestamp % 1000
					want[i].OrigLen = max(want[i].OrigLen, uint32(len(want[i].Data)))
				}
			}
			var buf bytes.Buffer
			w, err := NewNGWriter(&buf, nanos, MaxSnapLen)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range want {
				if err := w.Write(r); err != nil {
					t.Fatal(err)
				}
				if ngRecordLen(len(r.Data))%4 != 0 {
					t.Fatal("block not padded")
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "all.pcapng")
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			r, got, err := readNGFile(t, path)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, "NGReader", got, want)
			resol := map[bool]uint8{true: 9, false: 6}[nanos]
			if ifs := r.Interfaces(); len(ifs) != 1 || ifs[0] != (Interface{LinkType: 1, SnapLen: MaxSnapLen, TSResol: resol}) {
				t.Errorf("interfaces %+v", ifs)
			}

			// capinfos: type, count, wire bytes (tshark checks each
			// packet's captured bytes).
			out := string(run(t, "capinfos", "-M", "-t", "-c", "-d", path))
			for _, line := range []string{
				"File type:           pcapng",
				fmt.Sprintf("Number of packets:   %d", len(want)),
				fmt.Sprintf("Data size:           %d bytes", wireBytes),
			} {
				if !strings.Contains(out, line) {
					t.Errorf("capinfos does not say %q:\n%s", line, out)
				}
			}

			frames := tsharkFrames(t, path)
			if len(frames) != len(want) {
				t.Fatalf("tshark: %d packets, want %d", len(frames), len(want))
			}
			for i, f := range frames {
				r := want[i]
				if f != [3]int64{r.Timestamp, int64(max(r.OrigLen, uint32(len(r.Data)))), int64(len(r.Data))} {
					t.Fatalf("tshark: packet %d: %v, want ts %d orig %d len %d", i+1, f, r.Timestamp, r.OrigLen, len(r.Data))
				}
			}

			back := filepath.Join(t.TempDir(), "back.pcap")
			run(t, "editcap", "-F", "nsecpcap", path, back)
			_, rs, err := ReadFile(back)
			if err != nil {
				t.Fatal(err)
			}
			sameRecords(t, "editcap back to pcap", rs, want)
		})
	}
}

// TestNGRoundTrip: NGWriter then NGReader give back each shared
// capture's records (at the written precision).
func TestNGRoundTrip(t *testing.T) {
	for _, f := range testenv.AllPcaps(t) {
		_, recs, _ := ReadFile(f)
		for _, nanos := range []bool{true, false} {
			var buf bytes.Buffer
			w, _ := NewNGWriter(&buf, nanos, MaxSnapLen)
			for _, r := range recs {
				if err := w.Write(r); err != nil {
					t.Fatal(err)
				}
			}
			w.Flush()
			if got := buf.Len(); got != ngHeaderLen(nanos)+sumLen(recs, ngRecordLen) {
				t.Fatalf("%s: %d bytes written, want %d", f, got, ngHeaderLen(nanos)+sumLen(recs, ngRecordLen))
			}
			r, err := NewNGReader(&buf)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			want := append([]Record(nil), recs...)
			for i := range want {
				if !nanos {
					want[i].Timestamp -= want[i].Timestamp % 1000
				}
				want[i].OrigLen = max(want[i].OrigLen, uint32(len(want[i].Data)))
			}
			sameRecords(t, filepath.Base(f), got, want)
		}
	}
}

func sumLen(recs []Record, size func(int) int) int {
	n := 0
	for _, r := range recs {
		n += size(len(r.Data))
	}
	return n
}

// ngFile builds pcapng files block by block, in either byte order.
type ngFile struct {
	order byteOrder
	b     []byte
}

type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// block appends a block of type typ around body, padded to 32 bits.
func (g *ngFile) block(typ uint32, body ...[]byte) {
	var all []byte
	for _, p := range body {
		all = append(all, p...)
	}
	for len(all)%4 != 0 {
		all = append(all, 0)
	}
	n := uint32(12 + len(all))
	g.b = g.order.AppendUint32(g.b, typ)
	g.b = g.order.AppendUint32(g.b, n)
	g.b = append(g.b, all...)
	g.b = g.order.AppendUint32(g.b, n)
}

func (g *ngFile) u16(v ...uint16) []byte {
	var b []byte
	for _, x := range v {
		b = g.order.AppendUint16(b, x)
	}
	return b
}

func (g *ngFile) u32(v ...uint32) []byte {
	var b []byte
	for _, x := range v {
		b = g.order.AppendUint32(b, x)
	}
	return b
}

// opt is one option, padded; opt(0, nil) is opt_endofopt.
func (g *ngFile) opt(code uint16, val []byte) []byte {
	b := g.u16(code, uint16(len(val)))
	b = append(b, val...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func (g *ngFile) section(order byteOrder) {
	g.order = order
	g.block(blockSHB, g.u32(byteOrderMagic), g.u16(1, 0), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		g.opt(4, []byte("fastcapa test")), g.opt(0, nil))
}

func (g *ngFile) idb(link uint16, snap uint32, opts ...[]byte) {
	g.block(blockIDB, append([][]byte{g.u16(link, 0), g.u32(snap)}, opts...)...)
}

func (g *ngFile) epb(id uint32, ts uint64, orig uint32, data []byte, opts ...[]byte) {
	g.block(blockEPB, append([][]byte{g.u32(id, uint32(ts>>32), uint32(ts), uint32(len(data)), orig), data}, opts...)...)
}

// mixedNG is a capture with two sections of different byte orders,
// several interfaces of different link types, resolutions and offsets,
// every packet block type, and blocks to skip; want is what it holds.
func mixedNG() (file []byte, want []Record) {
	eth := func(n int, b byte) []byte {
		f := bytes.Repeat([]byte{b}, n)
		copy(f, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00})
		return f
	}
	// A raw IPv4/UDP packet (LINKTYPE_RAW, 101).
	ip := []byte{0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0}
	g := &ngFile{}
	g.section(binary.BigEndian)
	g.idb(1, 0, g.opt(optIfName, []byte("eth0")), g.opt(0, nil)) // µs
	// 2^-20 s units, offset 1000 s.
	g.idb(101, 96, g.opt(optTSResol, []byte{0x80 | 20}), g.opt(optTSOffset, g.order.AppendUint64(nil, 1000)), g.opt(0, nil))
	g.epb(0, 1_700_000_000_123_456, 60, eth(60, 0xa1), g.opt(1, []byte("a comment")), g.opt(0, nil))
	want = append(want, Record{Timestamp: 1_700_000_000_123_456_000, OrigLen: 60, Data: eth(60, 0xa1), LinkType: 1})
	g.block(0x00000004, g.u16(1, 9), []byte{10, 0, 0, 1, 'h', 'o', 's', 't', 0, 0, 0, 0}, g.u16(0, 0)) // NRB
	// 1.5 s + 3 units of 2^-20 s, + offset.
	g.epb(1, 3<<19|3, 28, ip)
	want = append(want, Record{Timestamp: 1001_500_002_861, OrigLen: 28, Data: ip, LinkType: 101, Interface: 1})
	g.block(0x00000005, g.u32(1, 0, 5)) // ISB
	g.block(0x00000bad, g.u32(32473), []byte("custom"))
	g.block(0x0000000a, g.u32(0x544c534b, 3), []byte("abc")) // DSB
	g.block(0x7000_1234, []byte("unknown block type"))
	// Simple Packet Block: interface 0, no snapshot length.
	g.block(blockSPB, g.u32(70), eth(70, 0xb2))
	want = append(want, Record{Timestamp: 0, OrigLen: 70, Data: eth(70, 0xb2), LinkType: 1})
	// Obsolete Packet Block on interface 1, 16-bit id and drops.
	g.block(blockPB, g.u16(1, 0), g.u32(0, 1<<20, 28, 40), ip)
	want = append(want, Record{Timestamp: 1001_000_000_000, OrigLen: 40, Data: ip, LinkType: 101, Interface: 1})

	g.section(binary.LittleEndian)
	g.idb(1, 64, g.opt(optTSResol, []byte{3}), g.opt(0, nil)) // ms, snaplen 64
	g.epb(0, 1_700_000_000_123, 1500, eth(64, 0xc3))
	want = append(want, Record{Timestamp: 1_700_000_000_123_000_000, OrigLen: 1500, Data: eth(64, 0xc3), LinkType: 1})
	g.block(blockSPB, g.u32(100), eth(64, 0xd4)) // cut to the snapshot length
	want = append(want, Record{Timestamp: 0, OrigLen: 100, Data: eth(64, 0xd4), LinkType: 1})
	g.idb(1, 0, g.opt(optTSResol, []byte{9}), g.opt(optTSOffset, g.order.AppendUint64(nil, uint64(math.MaxUint64-9))), g.opt(0, nil))
	g.epb(1, 10_000_000_001, 42, eth(42, 0xe5)) // 10 s + 1 ns − 10 s
	want = append(want, Record{Timestamp: 1, OrigLen: 42, Data: eth(42, 0xe5), LinkType: 1, Interface: 1})
	return g.b, want
}

// TestNGMixed: sections of both byte orders, interfaces with their own
// link types, snapshot lengths, binary and decimal resolutions and
// offsets; EPB, SPB and PB; other blocks skipped. tshark agrees on every
// packet's time and lengths.
func TestNGMixed(t *testing.T) {
	file, want := mixedNG()
	r, err := NewNGReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	sameRecords(t, "mixed", got, want)
	for i := range want {
		if got[i].LinkType != want[i].LinkType || got[i].Interface != want[i].Interface {
			t.Errorf("record %d: link type %d interface %d, want %d and %d", i, got[i].LinkType, got[i].Interface, want[i].LinkType, want[i].Interface)
		}
	}
	if r.BigEndian() || len(r.Interfaces()) != 2 {
		t.Errorf("after the second section: big endian %v, interfaces %+v", r.BigEndian(), r.Interfaces())
	}

	path := filepath.Join(t.TempDir(), "mixed.pcapng")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	// Wireshark shows a custom block as a frame of no interface.
	frames := tsharkFrames(t, path, "-Y", "frame.interface_id")
	if len(frames) != len(want) {
		t.Fatalf("tshark: %d packets, want %d", len(frames), len(want))
	}
	for i, f := range frames {
		w := want[i]
		if f[0] == -1 && w.Timestamp == 0 {
			f[0] = 0 // a Simple Packet Block: tshark shows no time, we read 0
		}
		if f != [3]int64{w.Timestamp, int64(w.OrigLen), int64(len(w.Data))} {
			t.Errorf("tshark: packet %d: %v; we read ts %d orig %d len %d", i+1, f, w.Timestamp, w.OrigLen, len(w.Data))
		}
	}
}

// errReader returns its bytes, then err.
type errReader struct {
	b   []byte
	err error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, r.err
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

var errDisk = errors.New("disk on fire")

// TestTruncatedAndIOErrors: a file cut anywhere reads its whole records,
// then ends cleanly on a record boundary or fails with ErrFormat and
// io.ErrUnexpectedEOF; an I/O error at the same place is returned as
// itself, never as ErrFormat. For both formats, plain and compressed.
func TestTruncatedAndIOErrors(t *testing.T) {
	_, recs, err := ReadFile(filepath.Join(testenv.Pcaps(t), "metron-example.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	recs = recs[:12]
	for _, format := range []Format{FormatPcap, FormatPcapNG} {
		for _, comp := range []Compression{CompressNone, CompressGzip, CompressZstd, CompressLZ4} {
			t.Run(format.String()+"/"+comp.String(), func(t *testing.T) {
				file, ends := encode(t, format, comp, recs)
				for cut := 0; cut <= len(file); cut++ {
					for _, ioErr := range []bool{false, true} {
						src := &errReader{b: file[:cut], err: io.EOF}
						if ioErr {
							src.err = errDisk
						}
						var got []Record
						c, err := Open(src)
						if err == nil {
							got, err = ReadAll(c)
							c.Close()
						}
						for i, r := range got {
							if r.Timestamp != recs[i].Timestamp || !bytes.Equal(r.Data, recs[i].Data) {
								t.Fatalf("cut at %d: record %d differs", cut, i)
							}
						}
						switch {
						case cut == len(file) && !ioErr:
							if err != nil || len(got) != len(recs) {
								t.Fatalf("whole file: %d records, %v", len(got), err)
							}
						case ioErr:
							if !errors.Is(err, errDisk) || errors.Is(err, ErrFormat) {
								t.Fatalf("cut at %d, then an I/O error: got %v, want the I/O error only", cut, err)
							}
						case err == nil:
							// Only a plain file cut on a record boundary
							// reads as a whole file.
							if n, ok := ends[cut]; comp != CompressNone || !ok || n != len(got) {
								t.Fatalf("cut at %d: %d records and no error", cut, len(got))
							}
						default:
							if !errors.Is(err, ErrFormat) || !errors.Is(err, io.ErrUnexpectedEOF) {
								t.Fatalf("cut at %d: %v, want ErrFormat and io.ErrUnexpectedEOF", cut, err)
							}
						}
					}
				}
			})
		}
	}
}

// encode writes recs in a format and compression, and returns the file
// and, when plain, the offsets at which it could end: after its header
// (and pcapng's section header) and after each record, with the number of
// records before.
func encode(t testing.TB, format Format, comp Compression, recs []Record) ([]byte, map[int]int) {
	t.Helper()
	var file bytes.Buffer
	cw, err := NewCompressor(&file, comp, 0)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := NewFormatWriter(&buf, format, true, MaxSnapLen)
	if err != nil {
		t.Fatal(err)
	}
	w.Flush()
	ends := map[int]int{buf.Len(): 0}
	if format == FormatPcapNG {
		ends[28] = 0
	}
	for i, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		ends[buf.Len()] = i + 1
	}
	if _, err := cw.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	return file.Bytes(), ends
}

// TestNGBad: malformed blocks are ErrFormat, and a length the input does
// not hold allocates nothing near it.
func TestNGBad(t *testing.T) {
	good, _ := mixedNG()
	le := binary.LittleEndian
	shb := func() *ngFile { g := &ngFile{}; g.section(le); return g }
	cases := map[string][]byte{}
	g := shb()
	g.b = le.AppendUint32(g.b, blockEPB)
	g.b = le.AppendUint32(g.b, maxBlockLen) // and nothing after
	cases["huge block, short input"] = g.b
	g = shb()
	g.b = le.AppendUint32(g.b, 0x1234)
	g.b = le.AppendUint32(g.b, maxBlockLen+4)
	cases["block over the bound"] = g.b
	g = shb()
	g.b = append(g.b, 1, 0, 0, 0, 13, 0, 0, 0)
	cases["length not a multiple of 4"] = g.b
	g = shb()
	g.epb(0, 1, 60, make([]byte, 60))
	cases["packet before any interface"] = g.b
	g = shb()
	g.idb(1, 0)
	g.epb(3, 1, 60, make([]byte, 60))
	cases["unknown interface"] = g.b
	g = shb()
	g.idb(1, 0)
	g.block(blockEPB, g.u32(0, 0, 1, 100, 100), make([]byte, 40))
	cases["captured length overruns the block"] = g.b
	g = shb()
	g.idb(1, 0)
	g.block(blockEPB, g.u32(0, 0, 1, MaxSnapLen+4, 100), make([]byte, MaxSnapLen+4))
	cases["captured length over MaxSnapLen"] = g.b
	g = shb()
	g.idb(1, 0, g.opt(optTSResol, []byte{9, 9}))
	cases["if_tsresol of 2 bytes"] = g.b
	g = shb()
	g.idb(1, 0, g.u16(optIfName, 200), []byte("eth0"))
	cases["option overruns the block"] = g.b
	g = shb()
	g.idb(1, 0, g.opt(optTSResol, []byte{0}))
	g.epb(0, math.MaxUint64, 60, make([]byte, 60))
	cases["timestamp out of range"] = g.b
	g = shb()
	g.b[len(g.b)-1] = 9
	cases["trailing length differs"] = g.b
	g = &ngFile{order: le}
	g.block(blockSHB, g.u32(byteOrderMagic), g.u16(2, 0), make([]byte, 8))
	cases["version 2"] = g.b
	cases["bad byte-order magic"] = append(append([]byte(nil), good[:8]...), 1, 2, 3, 4)
	cases["not a section header"] = []byte{1, 0, 0, 0, 12, 0, 0, 0, 12, 0, 0, 0}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			r, err := NewNGReader(bytes.NewReader(b))
			if err == nil {
				_, err = ReadAll(r)
			}
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("got %v, want ErrFormat", err)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 2<<20 && name != "captured length over MaxSnapLen" {
				t.Errorf("allocated %d bytes for %d bytes of input", n, len(b))
			}
			t.Log(err)
		})
	}
}

// TestReaderIOError: the classic Reader returns an I/O error as itself
// and a truncation as ErrFormat and io.ErrUnexpectedEOF.
func TestReaderIOError(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.Pcaps(t), "metron-example.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{0, 10, 24, 30, 24 + 16 + 20, 24 + 16 + 137} {
		r, err := NewReader(&errReader{b: b[:cut], err: errDisk})
		if err == nil {
			_, err = ReadAll(r)
		}
		if !errors.Is(err, errDisk) || errors.Is(err, ErrFormat) {
			t.Errorf("cut at %d, then a disk error: %v", cut, err)
		}
		if cut == 24 || cut == 24+16+137 {
			continue // on a record boundary: a whole file
		}
		r, err = NewReader(bytes.NewReader(b[:cut]))
		if err == nil {
			_, err = ReadAll(r)
		}
		if !errors.Is(err, ErrFormat) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %d: %v", cut, err)
		}
	}
}

// FuzzNGReader: no input makes NGReader panic, return a record longer
// than its interface's snapshot length allows (RecordLimit), or fail
// with anything but ErrFormat.
func FuzzNGReader(f *testing.F) {
	for _, b := range ngSeeds(f) {
		f.Add(b)
	}
	f.Add(ngSnapFile(binary.LittleEndian, 64, []int{30, 64, 65}, []int{100}))
	f.Add(ngSnapFile(binary.BigEndian, 0, []int{MaxSnapLen + 1}, []int{300000}))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewNGReader(bytes.NewReader(data))
		if checkFuzzErr(t, err) {
			checkFuzzRecords(t, r.Next, r.Interfaces, r.Offset)
		}
	})
}

// checkFuzzErr fails unless err is nil or ErrFormat; it reports whether
// err is nil.
func checkFuzzErr(t *testing.T, err error) bool {
	t.Helper()
	if err != nil && !errors.Is(err, ErrFormat) {
		t.Fatalf("error %v is not ErrFormat", err)
	}
	return err == nil
}

// checkFuzzRecords reads up to 10000 records: each must name a known
// interface and be no longer than its snapshot length allows
// (RecordLimit, at most MaxSnapLen), each must move offset on, and
// reading may end only with io.EOF or ErrFormat.
func checkFuzzRecords(t *testing.T, next func() (Record, error), ifaces func() []Interface, offset func() int64) {
	t.Helper()
	last := offset()
	for range 10000 {
		rec, err := next()
		if err == io.EOF || !checkFuzzErr(t, err) {
			return
		}
		if rec.Interface >= len(ifaces()) {
			t.Fatalf("record on interface %d of %d", rec.Interface, len(ifaces()))
		}
		if snap := ifaces()[rec.Interface].SnapLen; len(rec.Data) > int(RecordLimit(snap)) {
			t.Fatalf("record of %d bytes on an interface of snapshot length %d", len(rec.Data), snap)
		}
		if o := offset(); o < last+int64(len(rec.Data)) {
			t.Fatalf("offset %d after a record of %d bytes from %d", o, len(rec.Data), last)
		}
		last = offset()
	}
}

// ngSeeds are small pcapng files: the hand-made mixed one, and some
// shared captures converted by editcap (if it is there).
func ngSeeds(f *testing.F) [][]byte {
	mixed, _ := mixedNG()
	seeds := [][]byte{mixed}
	editcap, err := exec.LookPath("editcap")
	if err != nil {
		return seeds
	}
	files, _ := filepath.Glob(filepath.Join(testenv.Pcaps(f), "tcpdump-tests", "*.pcap"))
	dir := f.TempDir()
	for i, p := range files {
		if i%8 != 0 {
			continue
		}
		out := filepath.Join(dir, fmt.Sprint(i))
		if exec.Command(editcap, "-F", "pcapng", p, out).Run() != nil {
			continue
		}
		if b, err := os.ReadFile(out); err == nil && len(b) < 1<<16 {
			seeds = append(seeds, b)
		}
	}
	return seeds
}
