package pcap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// Magic numbers of the classic pcap format, as written by the host that
// made the file.
const (
	magicMicros = 0xa1b2c3d4
	magicNanos  = 0xa1b23c4d
)

// LinkTypeEthernet is DLT_EN10MB.
const LinkTypeEthernet = 1

// MaxSnapLen bounds a record's captured length, as libpcap does
// (MAXIMUM_SNAPLEN): a longer record is corrupt.
const MaxSnapLen = 262144

// RecordLimit is the most captured bytes a record has, as the readers
// return it and the writers write it, in a classic pcap file or on a
// pcapng interface of snapshot length snapLen: snapLen itself, or
// MaxSnapLen when snapLen is 0 or over it (libpcap takes 0 and lengths
// over 2^31-1 for its maximum, and refuses records over the maximum).
//
// This is libpcap 1.10's read rule: in classic pcap a record longer than
// the snapshot length is cut to it (its extra bytes skipped, its
// original length kept); in pcapng it is corrupt (the format says a
// record's captured length is at most its interface's snapshot length).
func RecordLimit(snapLen uint32) uint32 {
	if snapLen == 0 || snapLen > MaxSnapLen {
		return MaxSnapLen
	}
	return snapLen
}

// ErrFormat means the bytes are not a capture file (classic pcap or
// pcapng), or a record or block in it is corrupt or cut short. A record
// or block cut short is also io.ErrUnexpectedEOF. An error of the
// underlying reader is returned (wrapped) as itself, never as ErrFormat,
// so a disk error is not taken for a torn file.
var ErrFormat = errors.New("not a valid capture file")

// errTruncated is a record, block or header cut short by the end of the
// input.
var errTruncated = fmt.Errorf("%w: %w", ErrFormat, io.ErrUnexpectedEOF)

// readError classifies an error of io.ReadFull part way into something
// that must be whole: the end of the input is a truncation (ErrFormat and
// io.ErrUnexpectedEOF), anything else the reader's own error.
func readError(what string, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%s: %w", what, errTruncated)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Header is a file's global header.
type Header struct {
	Nanos     bool // timestamps are nanoseconds, else microseconds
	BigEndian bool
	SnapLen   uint32
	LinkType  uint32
}

// Record is one packet: its timestamp in nanoseconds since the epoch, the
// original length on the wire, and the captured bytes.
type Record struct {
	Timestamp int64
	OrigLen   uint32
	Data      []byte
	// LinkType is the link type of the packet's interface (the file's in
	// classic pcap), set by the readers. Interface is the index of that
	// interface within its pcapng section (0 in classic pcap). The writers
	// ignore both: they write Ethernet files of one interface.
	LinkType  uint32
	Interface int
}

// Reader reads records from a pcap stream.
type Reader struct {
	r     *bufio.Reader
	hdr   Header
	order binary.ByteOrder
	limit uint32 // RecordLimit(hdr.SnapLen)
	buf   []byte
	n     int   // records read
	off   int64 // bytes of the header and the records read
}

// NewReader reads the global header from r.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var h [24]byte
	n, err := io.ReadFull(br, h[:])
	if err != nil && n < 4 {
		return nil, readError("read pcap header", err)
	}
	rd := &Reader{r: br, off: int64(len(h))}
	switch {
	case binary.LittleEndian.Uint32(h[:]) == magicMicros:
		rd.order = binary.LittleEndian
	case binary.LittleEndian.Uint32(h[:]) == magicNanos:
		rd.order, rd.hdr.Nanos = binary.LittleEndian, true
	case binary.BigEndian.Uint32(h[:]) == magicMicros:
		rd.order, rd.hdr.BigEndian = binary.BigEndian, true
	case binary.BigEndian.Uint32(h[:]) == magicNanos:
		rd.order, rd.hdr.BigEndian, rd.hdr.Nanos = binary.BigEndian, true, true
	default:
		return nil, fmt.Errorf("magic %#x: %w", h[:4], ErrFormat)
	}
	if err != nil { // a pcap magic, then the header cut short
		return nil, readError("read pcap header", err)
	}
	rd.hdr.SnapLen = rd.order.Uint32(h[16:])
	rd.hdr.LinkType = rd.order.Uint32(h[20:]) & 0x0fffffff
	rd.limit = RecordLimit(rd.hdr.SnapLen)
	return rd, nil
}

// Header returns the file's global header.
func (r *Reader) Header() Header { return r.hdr }

// iface describes the file as pcapng would: its one interface.
func (r *Reader) iface() Interface {
	res := uint8(6)
	if r.hdr.Nanos {
		res = 9
	}
	return Interface{LinkType: r.hdr.LinkType, SnapLen: r.hdr.SnapLen, TSResol: res}
}

// Next returns the next record, io.EOF at the end. Record.Data is valid
// until the next call; NextCopy returns an owned copy.
//
// A record longer than the file's snapshot length is cut to it, as
// libpcap reads it (RecordLimit); one over MaxSnapLen is corrupt. A
// record cut short is an error wrapping ErrFormat and
// io.ErrUnexpectedEOF; an error of the underlying reader is returned
// wrapped as itself (see ErrFormat).
func (r *Reader) Next() (Record, error) {
	hdr, err := r.r.Peek(RecordHeaderLen)
	if len(hdr) < RecordHeaderLen {
		switch {
		case err == io.EOF && len(hdr) == 0:
			return Record{}, io.EOF
		case err == io.EOF:
			err = io.ErrUnexpectedEOF
		}
		return Record{}, readError(fmt.Sprintf("record %d: header", r.n+1), err)
	}
	sec := int64(r.order.Uint32(hdr[0:]))
	frac := int64(r.order.Uint32(hdr[4:]))
	capLen := r.order.Uint32(hdr[8:])
	origLen := r.order.Uint32(hdr[12:])
	if capLen > MaxSnapLen {
		return Record{}, fmt.Errorf("record %d: captured length %d over %d: %w", r.n+1, capLen, MaxSnapLen, ErrFormat)
	}
	keep := min(capLen, r.limit)
	n := RecordHeaderLen + int(keep)
	var data []byte
	if n <= r.r.Size() && keep == capLen {
		// The whole record fits in the buffer: its bytes are the
		// buffer's, valid until the next read, with no copy.
		b, err := r.r.Peek(n)
		if len(b) < n {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return Record{}, readError(fmt.Sprintf("record %d: data", r.n+1), err)
		}
		data = b[RecordHeaderLen:]
		r.r.Discard(n) // buffered: cannot fail, nor move the bytes
	} else {
		// Longer than the buffer, or cut to the snapshot length (the
		// bytes past it are discarded, which may refill the buffer):
		// copied out.
		r.r.Discard(RecordHeaderLen)
		if cap(r.buf) < int(keep) {
			r.buf = make([]byte, keep)
		}
		r.buf = r.buf[:keep]
		if _, err := io.ReadFull(r.r, r.buf); err != nil {
			return Record{}, readError(fmt.Sprintf("record %d: data", r.n+1), err)
		}
		if _, err := r.r.Discard(int(capLen - keep)); err != nil {
			return Record{}, readError(fmt.Sprintf("record %d: data past the snapshot length", r.n+1), err)
		}
		data = r.buf
	}
	r.n++
	r.off += int64(RecordHeaderLen) + int64(capLen)
	ts := sec * 1e9
	if r.hdr.Nanos {
		ts += frac
	} else {
		ts += frac * 1e3
	}
	return Record{Timestamp: ts, OrigLen: origLen, Data: data, LinkType: r.hdr.LinkType}, nil
}

// Offset is where the next record starts in the stream: the length of
// the header and the whole records read (as they are in the stream,
// before any cut to the snapshot length).
func (r *Reader) Offset() int64 { return r.off }

// NextCopy is Next with a Data slice the caller owns.
func (r *Reader) NextCopy() (Record, error) {
	rec, err := r.Next()
	if err == nil {
		rec.Data = append([]byte(nil), rec.Data...)
	}
	return rec, err
}

// ReadFile reads every record of a classic pcap file (OpenFile reads any
// capture).
func ReadFile(path string) (Header, []Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return Header{}, nil, err
	}
	defer f.Close()
	r, err := NewReader(f)
	if err != nil {
		return Header{}, nil, fmt.Errorf("%s: %w", path, err)
	}
	recs, err := ReadAll(r)
	if err != nil {
		return r.Header(), recs, fmt.Errorf("%s: %w", path, err)
	}
	return r.Header(), recs, nil
}

// ReadAll reads records with NextCopy until io.EOF (Reader, NGReader and
// Capture all have it). On an error it returns the records before it,
// with the error.
func ReadAll(r interface{ NextCopy() (Record, error) }) ([]Record, error) {
	var recs []Record
	for {
		rec, err := r.NextCopy()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return recs, err
		}
		recs = append(recs, rec)
	}
}

// Writer writes a little-endian pcap stream.
type Writer struct {
	w   *bufio.Writer
	enc Encoder
	hdr [RecordHeaderLen]byte
}

// Encoder formats records as a Writer of its precision and snapshot
// length writes them. It is a value, safe for concurrent use.
type Encoder struct {
	nanos bool
	limit uint32 // RecordLimit of the header's snapshot length
}

// NewEncoder is the Encoder of a Writer made with nanos and snapLen.
func NewEncoder(nanos bool, snapLen uint32) Encoder {
	return Encoder{nanos: nanos, limit: RecordLimit(snapLen)}
}

// NewWriter writes the global header for an Ethernet capture of snapshot
// length snapLen (0: MaxSnapLen, see RecordLimit).
func NewWriter(w io.Writer, nanos bool, snapLen uint32) (*Writer, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	var h [24]byte
	magic := uint32(magicMicros)
	if nanos {
		magic = magicNanos
	}
	binary.LittleEndian.PutUint32(h[0:], magic)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], snapLen)
	binary.LittleEndian.PutUint32(h[20:], LinkTypeEthernet)
	if _, err := bw.Write(h[:]); err != nil {
		return nil, err
	}
	return &Writer{w: bw, enc: NewEncoder(nanos, snapLen)}, nil
}

// Write appends one record. Its timestamp is truncated to the file's
// precision; its data is cut to the snapshot length (RecordLimit), its
// original length kept (raised to len(rec.Data) if below), so that the
// file never holds a record longer than its header says.
func (w *Writer) Write(rec Record) error {
	data := w.enc.header(w.hdr[:0], rec)
	if _, err := w.w.Write(w.hdr[:]); err != nil {
		return err
	}
	_, err := w.w.Write(data)
	return err
}

// header appends rec's record header to dst (which has room for it) and
// returns the data that follows it, cut to the snapshot length.
func (e Encoder) header(dst []byte, rec Record) []byte {
	sec, frac := rec.Timestamp/1e9, rec.Timestamp%1e9
	if !e.nanos {
		frac /= 1e3
	}
	data := rec.Data
	if len(data) > int(e.limit) {
		data = data[:e.limit]
	}
	orig := rec.OrigLen
	if n := uint64(len(rec.Data)); uint64(orig) < n {
		orig = uint32(min(n, math.MaxUint32))
	}
	dst = binary.LittleEndian.AppendUint32(dst, uint32(sec))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(frac))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(data)))
	binary.LittleEndian.AppendUint32(dst, orig)
	return data
}

// RecordHeaderLen is the length of a record's header in a classic pcap
// file: the bytes AppendRecord puts before its data.
const RecordHeaderLen = 16

// AppendRecord appends rec to dst as Write would write it: its header,
// then its data. A reader that formats records ahead of the writer (a
// query's scanners) hands the bytes to WriteEncoded.
func (e Encoder) AppendRecord(dst []byte, rec Record) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, RecordHeaderLen)...)
	data := e.header(dst[n:n], rec)
	return append(dst, data...)
}

// Encoder is the Encoder of w's records.
func (w *Writer) Encoder() Encoder { return w.enc }

// WriteEncoded writes records w's Encoder formatted, one or more after
// each other. A run larger than the buffer goes to the underlying
// writer without a copy.
func (w *Writer) WriteEncoded(b []byte) error {
	_, err := w.w.Write(b)
	return err
}

// Flush writes buffered records to the underlying writer.
func (w *Writer) Flush() error { return w.w.Flush() }
