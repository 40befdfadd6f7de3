package pcap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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

// MaxSnapLen bounds a record's captured length, as libpcap does.
const MaxSnapLen = 262144

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
	r      *bufio.Reader
	hdr    Header
	order  binary.ByteOrder
	rechdr [16]byte
	buf    []byte
	n      int // records read
}

// NewReader reads the global header from r.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var h [24]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, readError("read pcap header", err)
	}
	rd := &Reader{r: br}
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
	rd.hdr.SnapLen = rd.order.Uint32(h[16:])
	rd.hdr.LinkType = rd.order.Uint32(h[20:]) & 0x0fffffff
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
// A record cut short is an error wrapping ErrFormat and
// io.ErrUnexpectedEOF; an error of the underlying reader is returned
// wrapped as itself (see ErrFormat).
func (r *Reader) Next() (Record, error) {
	if _, err := io.ReadFull(r.r, r.rechdr[:]); err != nil {
		if err == io.EOF {
			return Record{}, io.EOF
		}
		return Record{}, readError(fmt.Sprintf("record %d: header", r.n+1), err)
	}
	sec := int64(r.order.Uint32(r.rechdr[0:]))
	frac := int64(r.order.Uint32(r.rechdr[4:]))
	capLen := r.order.Uint32(r.rechdr[8:])
	origLen := r.order.Uint32(r.rechdr[12:])
	if capLen > MaxSnapLen {
		return Record{}, fmt.Errorf("record %d: captured length %d over %d: %w", r.n+1, capLen, MaxSnapLen, ErrFormat)
	}
	if cap(r.buf) < int(capLen) {
		r.buf = make([]byte, capLen)
	}
	r.buf = r.buf[:capLen]
	if _, err := io.ReadFull(r.r, r.buf); err != nil {
		return Record{}, readError(fmt.Sprintf("record %d: data", r.n+1), err)
	}
	r.n++
	ts := sec * 1e9
	if r.hdr.Nanos {
		ts += frac
	} else {
		ts += frac * 1e3
	}
	return Record{Timestamp: ts, OrigLen: origLen, Data: r.buf, LinkType: r.hdr.LinkType}, nil
}

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
	var recs []Record
	for {
		rec, err := r.NextCopy()
		if err == io.EOF {
			return r.Header(), recs, nil
		}
		if err != nil {
			return r.Header(), recs, fmt.Errorf("%s: %w", path, err)
		}
		recs = append(recs, rec)
	}
}

// Writer writes a little-endian pcap stream.
type Writer struct {
	w     *bufio.Writer
	nanos bool
	hdr   [16]byte
}

// NewWriter writes the global header for an Ethernet capture.
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
	return &Writer{w: bw, nanos: nanos}, nil
}

// Write appends one record. Its timestamp is truncated to the file's
// precision.
func (w *Writer) Write(rec Record) error {
	sec, frac := rec.Timestamp/1e9, rec.Timestamp%1e9
	if !w.nanos {
		frac /= 1e3
	}
	binary.LittleEndian.PutUint32(w.hdr[0:], uint32(sec))
	binary.LittleEndian.PutUint32(w.hdr[4:], uint32(frac))
	binary.LittleEndian.PutUint32(w.hdr[8:], uint32(len(rec.Data)))
	orig := rec.OrigLen
	if orig < uint32(len(rec.Data)) {
		orig = uint32(len(rec.Data))
	}
	binary.LittleEndian.PutUint32(w.hdr[12:], orig)
	if _, err := w.w.Write(w.hdr[:]); err != nil {
		return err
	}
	_, err := w.w.Write(rec.Data)
	return err
}

// Flush writes buffered records to the underlying writer.
func (w *Writer) Flush() error { return w.w.Flush() }
