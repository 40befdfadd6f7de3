package pcap

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
)

// pcapng block types and options used here (draft-ietf-opsawg-pcapng).
const (
	blockSHB = 0x0a0d0d0a // Section Header Block (the same in both byte orders)
	blockIDB = 0x00000001 // Interface Description Block
	blockPB  = 0x00000002 // Packet Block (obsolete)
	blockSPB = 0x00000003 // Simple Packet Block
	blockEPB = 0x00000006 // Enhanced Packet Block

	byteOrderMagic = 0x1a2b3c4d

	optEndOfOpt = 0
	optIfName   = 2
	optTSResol  = 9
	optTSOffset = 14
)

// maxBlockLen bounds a pcapng block's total length, as Wireshark does.
// A block's body is read into memory only as far as the input holds it,
// so a corrupt length costs no more than the bytes that are there.
const maxBlockLen = 16 << 20

// Interface is a capture interface: a pcapng Interface Description Block,
// or the header of a classic pcap file.
type Interface struct {
	LinkType uint32
	SnapLen  uint32 // as the file gives it; RecordLimit says what it allows
	Name     string // if_name, if given
	// TSResol is if_tsresol: timestamps count units of 10^-TSResol
	// seconds, or of 2^-(TSResol&0x7f) seconds when the top bit is set.
	// 6 (microseconds) unless the block says otherwise; 9 in nanosecond
	// files.
	TSResol uint8
	// TSOffset is if_tsoffset: seconds added to every timestamp.
	TSOffset int64
}

var pow10 = [...]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// nanos converts a timestamp in the interface's units to ns since the
// epoch; ok is false if it does not fit in an int64. Finer units than the
// nanosecond are truncated.
func (i *Interface) nanos(ts uint64) (ns int64, ok bool) {
	var u uint64
	if r := i.TSResol; r&0x80 == 0 {
		switch {
		case r <= 9:
			hi, lo := bits.Mul64(ts, pow10[9-r])
			if hi != 0 {
				return 0, false
			}
			u = lo
		case int(r-9) < len(pow10):
			u = ts / pow10[r-9]
		}
	} else {
		s := uint(r & 0x7f)
		sec, frac := ts>>s, ts
		if s < 64 {
			frac = ts & (1<<s - 1)
		}
		hi, lo := bits.Mul64(frac, 1e9)
		fracNs := shr128(hi, lo, s)
		hi, lo = bits.Mul64(sec, 1e9)
		var carry uint64
		u, carry = bits.Add64(lo, fracNs, 0)
		if hi != 0 || carry != 0 {
			return 0, false
		}
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	ns = int64(u)
	if off := i.TSOffset; off != 0 {
		if off > math.MaxInt64/int64(1e9) || off < math.MinInt64/int64(1e9) {
			return 0, false
		}
		o := off * 1e9
		if o > 0 && ns > math.MaxInt64-o {
			return 0, false
		}
		ns += o
	}
	return ns, true
}

// shr128 is the 128-bit value hi:lo shifted right by s, which must fit in
// 64 bits.
func shr128(hi, lo uint64, s uint) uint64 {
	switch {
	case s >= 128:
		return 0
	case s >= 64:
		return hi >> (s - 64)
	case s == 0:
		return lo
	}
	return lo>>s | hi<<(64-s)
}

// NGReader reads records from a pcapng stream: both byte orders, any
// number of sections, each with any number of interfaces (each with its
// own link type, snapshot length, if_tsresol and if_tsoffset). It returns
// the packets of Enhanced, Simple and (obsolete) Packet Blocks and skips
// every other block (name resolution, statistics, decryption secrets,
// custom and unknown blocks).
type NGReader struct {
	r         *bufio.Reader
	order     binary.ByteOrder
	bigEndian bool
	ifaces    []Interface // of the current section
	hdr       [28]byte
	buf       []byte
	blocks    int   // blocks read
	off       int64 // offset of the next block
}

// Offset is where the next block starts in the stream: the length of the
// whole blocks read.
func (r *NGReader) Offset() int64 { return r.off }

// NewNGReader reads the first Section Header Block from r.
func NewNGReader(r io.Reader) (*NGReader, error) {
	rd := &NGReader{r: bufio.NewReaderSize(r, 1<<16)}
	if _, err := io.ReadFull(rd.r, rd.hdr[:8]); err != nil {
		return nil, readError("read pcapng section header", err)
	}
	if t := binary.LittleEndian.Uint32(rd.hdr[:]); t != blockSHB {
		return nil, fmt.Errorf("first block type %#x is not a section header: %w", t, ErrFormat)
	}
	if err := rd.section(); err != nil {
		return nil, err
	}
	return rd, nil
}

// BigEndian reports the current section's byte order.
func (r *NGReader) BigEndian() bool { return r.bigEndian }

// Interfaces returns the current section's interfaces seen so far, in
// the order of their IDs. The slice is the reader's: do not modify it.
func (r *NGReader) Interfaces() []Interface { return r.ifaces }

// errAt is a format error in the current block.
func (r *NGReader) errAt(format string, a ...any) error {
	return fmt.Errorf("pcapng block %d at offset %d: %s: %w", r.blocks+1, r.off, fmt.Sprintf(format, a...), ErrFormat)
}

// readErr is a read error in the current block.
func (r *NGReader) readErr(err error) error {
	return readError(fmt.Sprintf("pcapng block %d at offset %d", r.blocks+1, r.off), err)
}

// section reads a Section Header Block whose type and length (r.hdr[:8])
// were read: the byte order, the version, and the end of the block. It
// starts a new section with no interfaces.
func (r *NGReader) section() error {
	if _, err := io.ReadFull(r.r, r.hdr[8:12]); err != nil {
		return r.readErr(err)
	}
	switch binary.LittleEndian.Uint32(r.hdr[8:]) {
	case byteOrderMagic:
		r.order, r.bigEndian = binary.LittleEndian, false
	case bits.ReverseBytes32(byteOrderMagic):
		r.order, r.bigEndian = binary.BigEndian, true
	default:
		return r.errAt("byte-order magic %#x", r.hdr[8:12])
	}
	length, err := r.length(28)
	if err != nil {
		return err
	}
	body, err := r.body(length - 16) // after the magic, before the trailer
	if err != nil {
		return err
	}
	if major := r.order.Uint16(body); major != 1 {
		return r.errAt("pcapng version %d.%d, only 1.x is known", major, r.order.Uint16(body[2:]))
	}
	if err := r.trailer(length); err != nil {
		return err
	}
	r.ifaces = nil // a slice Interfaces returned stays as it was
	return nil
}

// length checks the current block's total length (r.hdr[4:8]).
func (r *NGReader) length(least uint32) (uint32, error) {
	n := r.order.Uint32(r.hdr[4:])
	if n < least || n%4 != 0 || n > maxBlockLen {
		return 0, r.errAt("block length %d: want a multiple of 4 from %d to %d", n, least, maxBlockLen)
	}
	return n, nil
}

// body reads n bytes of the current block into r.buf, growing it only as
// the input delivers, so that a length the input does not hold costs no
// large allocation.
func (r *NGReader) body(n uint32) ([]byte, error) {
	r.buf = r.buf[:0]
	for len(r.buf) < int(n) {
		chunk := min(int(n)-len(r.buf), 1<<16)
		if cap(r.buf)-len(r.buf) < chunk {
			r.buf = append(r.buf[:cap(r.buf)], make([]byte, chunk)...)[:len(r.buf)]
		}
		m, err := io.ReadFull(r.r, r.buf[len(r.buf):len(r.buf)+chunk])
		r.buf = r.buf[:len(r.buf)+m]
		if err != nil {
			return nil, r.readErr(err)
		}
	}
	return r.buf, nil
}

// skip discards n bytes of the current block.
func (r *NGReader) skip(n uint32) error {
	if _, err := r.r.Discard(int(n)); err != nil {
		return r.readErr(err)
	}
	return nil
}

// trailer reads the block's trailing copy of its length, which must
// match, and moves on to the next block.
func (r *NGReader) trailer(length uint32) error {
	var t [4]byte
	if _, err := io.ReadFull(r.r, t[:]); err != nil {
		return r.readErr(err)
	}
	if n := r.order.Uint32(t[:]); n != length {
		return r.errAt("trailing length %d, leading %d", n, length)
	}
	r.blocks++
	r.off += int64(length)
	return nil
}

// options calls fn for each option in b, up to opt_endofopt or the end.
func (r *NGReader) options(b []byte, fn func(code uint16, val []byte) error) error {
	for len(b) >= 4 {
		code, n := r.order.Uint16(b), int(r.order.Uint16(b[2:]))
		b = b[4:]
		if code == optEndOfOpt {
			return nil
		}
		padded := (n + 3) &^ 3
		if padded > len(b) {
			return r.errAt("option %d of %d bytes overruns the block", code, n)
		}
		if err := fn(code, b[:n]); err != nil {
			return err
		}
		b = b[padded:]
	}
	return nil
}

// iface reads an Interface Description Block's body.
func (r *NGReader) iface(length uint32) error {
	b, err := r.body(length - 12)
	if err != nil {
		return err
	}
	if len(b) < 8 {
		return r.errAt("interface description of %d bytes", len(b))
	}
	in := Interface{LinkType: uint32(r.order.Uint16(b)), SnapLen: r.order.Uint32(b[4:]), TSResol: 6}
	err = r.options(b[8:], func(code uint16, v []byte) error {
		switch code {
		case optIfName:
			in.Name = string(v)
		case optTSResol:
			if len(v) != 1 {
				return r.errAt("if_tsresol of %d bytes", len(v))
			}
			in.TSResol = v[0]
		case optTSOffset:
			if len(v) != 8 {
				return r.errAt("if_tsoffset of %d bytes", len(v))
			}
			in.TSOffset = int64(r.order.Uint64(v))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := r.trailer(length); err != nil {
		return err
	}
	r.ifaces = append(r.ifaces, in)
	return nil
}

// packet reads a packet block's data (caplen bytes after fixed bytes of
// header already read) and the rest of the block.
func (r *NGReader) packet(length, fixed, id, caplen, origLen uint32, ts uint64, timed bool) (Record, error) {
	if int(id) >= len(r.ifaces) {
		return Record{}, r.errAt("interface %d of %d in this section", id, len(r.ifaces))
	}
	in := &r.ifaces[id]
	if lim := RecordLimit(in.SnapLen); caplen > lim {
		return Record{}, r.errAt("captured length %d over the interface's snapshot length %d", caplen, lim)
	}
	rest := length - 12 - fixed
	if (uint64(caplen)+3)&^3 > uint64(rest) {
		return Record{}, r.errAt("captured length %d overruns the block", caplen)
	}
	if cap(r.buf) < int(caplen) {
		r.buf = make([]byte, caplen)
	}
	r.buf = r.buf[:caplen]
	if _, err := io.ReadFull(r.r, r.buf); err != nil {
		return Record{}, r.readErr(err)
	}
	if err := r.skip(rest - caplen); err != nil {
		return Record{}, err
	}
	var ns int64
	if timed {
		var ok bool
		if ns, ok = in.nanos(ts); !ok {
			return Record{}, r.errAt("timestamp %d (if_tsresol %#x, if_tsoffset %d) out of range", ts, in.TSResol, in.TSOffset)
		}
	}
	if err := r.trailer(length); err != nil {
		return Record{}, err
	}
	return Record{Timestamp: ns, OrigLen: origLen, Data: r.buf, LinkType: in.LinkType, Interface: int(id)}, nil
}

// Next returns the next packet, io.EOF at the end. Record.Data is valid
// until the next call; NextCopy returns an owned copy. A Simple Packet
// Block has no timestamp: its record's Timestamp is 0.
//
// A packet longer than its interface's snapshot length (RecordLimit) is
// corrupt, as libpcap reads pcapng: an error wrapping ErrFormat.
//
// A block cut short is an error wrapping ErrFormat and
// io.ErrUnexpectedEOF; an error of the underlying reader is returned
// wrapped as itself (see ErrFormat).
func (r *NGReader) Next() (Record, error) {
	for {
		if _, err := io.ReadFull(r.r, r.hdr[:8]); err != nil {
			if err == io.EOF {
				return Record{}, io.EOF
			}
			return Record{}, r.readErr(err)
		}
		if r.order.Uint32(r.hdr[:]) == blockSHB {
			if err := r.section(); err != nil {
				return Record{}, err
			}
			continue
		}
		switch r.order.Uint32(r.hdr[:]) {
		case blockIDB:
			length, err := r.length(20)
			if err != nil {
				return Record{}, err
			}
			if err := r.iface(length); err != nil {
				return Record{}, err
			}
		case blockEPB, blockPB:
			length, err := r.length(32)
			if err != nil {
				return Record{}, err
			}
			h := r.hdr[8:28]
			if _, err := io.ReadFull(r.r, h); err != nil {
				return Record{}, r.readErr(err)
			}
			id := r.order.Uint32(h)
			if r.order.Uint32(r.hdr[:]) == blockPB {
				id = uint32(r.order.Uint16(h)) // then a 16-bit drops count
			}
			ts := uint64(r.order.Uint32(h[4:]))<<32 | uint64(r.order.Uint32(h[8:]))
			return r.packet(length, 20, id, r.order.Uint32(h[12:]), r.order.Uint32(h[16:]), ts, true)
		case blockSPB:
			length, err := r.length(16)
			if err != nil {
				return Record{}, err
			}
			if _, err := io.ReadFull(r.r, r.hdr[8:12]); err != nil {
				return Record{}, r.readErr(err)
			}
			if len(r.ifaces) == 0 {
				return Record{}, r.errAt("simple packet block before any interface")
			}
			// The captured length is what the block implies: the
			// original length, cut to the interface's snapshot length.
			origLen := r.order.Uint32(r.hdr[8:])
			caplen := min(origLen, RecordLimit(r.ifaces[0].SnapLen))
			return r.packet(length, 4, 0, caplen, origLen, 0, false)
		default:
			length, err := r.length(12)
			if err != nil {
				return Record{}, err
			}
			if err := r.skip(length - 12); err != nil {
				return Record{}, err
			}
			if err := r.trailer(length); err != nil {
				return Record{}, err
			}
		}
	}
}

// NextCopy is Next with a Data slice the caller owns.
func (r *NGReader) NextCopy() (Record, error) {
	rec, err := r.Next()
	if err == nil {
		rec.Data = append([]byte(nil), rec.Data...)
	}
	return rec, err
}

// NGWriter writes a little-endian pcapng stream: one section, one
// Ethernet interface, one Enhanced Packet Block per record.
type NGWriter struct {
	w     *bufio.Writer
	nanos bool
	limit uint32 // RecordLimit of the interface's snapshot length
	hdr   [28]byte
	tail  [8]byte // padding, then the trailing length
}

// ngHeaderLen is the length of what NewNGWriter writes: a Section Header
// Block (28 bytes) and an Interface Description Block (20 bytes, 32 with
// if_tsresol).
func ngHeaderLen(nanos bool) int {
	if nanos {
		return 28 + 32
	}
	return 28 + 20
}

// NewNGWriter writes the Section Header Block and the Interface
// Description Block of an Ethernet capture of snapLen: if_tsresol 9 when
// nanos, else none (microseconds, the default).
func NewNGWriter(w io.Writer, nanos bool, snapLen uint32) (*NGWriter, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	le := binary.LittleEndian
	var b [28 + 32]byte
	le.PutUint32(b[0:], blockSHB)
	le.PutUint32(b[4:], 28)
	le.PutUint32(b[8:], byteOrderMagic)
	le.PutUint16(b[12:], 1) // version 1.0
	le.PutUint64(b[16:], math.MaxUint64)
	le.PutUint32(b[24:], 28) // section length -1: not given
	n := ngHeaderLen(nanos)
	idb := b[28:n]
	le.PutUint32(idb[0:], blockIDB)
	le.PutUint32(idb[4:], uint32(len(idb)))
	le.PutUint16(idb[8:], LinkTypeEthernet)
	le.PutUint32(idb[12:], snapLen)
	if nanos {
		le.PutUint16(idb[16:], optTSResol)
		le.PutUint16(idb[18:], 1)
		idb[20] = 9 // then 3 bytes of padding and opt_endofopt
	}
	le.PutUint32(idb[len(idb)-4:], uint32(len(idb)))
	if _, err := bw.Write(b[:n]); err != nil {
		return nil, err
	}
	return &NGWriter{w: bw, nanos: nanos, limit: RecordLimit(snapLen)}, nil
}

// ngRecordLen is the length of an Enhanced Packet Block of n bytes of
// data, without options.
func ngRecordLen(n int) int { return 32 + (n+3)&^3 }

// Write appends one record as an Enhanced Packet Block on interface 0.
// Its timestamp is truncated to the file's precision; its data is cut to
// the interface's snapshot length (RecordLimit), its original length
// kept (raised to len(rec.Data) if below).
func (w *NGWriter) Write(rec Record) error {
	le := binary.LittleEndian
	data := rec.Data
	if len(data) > int(w.limit) {
		data = data[:w.limit]
	}
	n := len(data)
	total := uint32(ngRecordLen(n))
	units := uint64(rec.Timestamp)
	if !w.nanos {
		units = uint64(rec.Timestamp / 1e3)
	}
	orig := rec.OrigLen
	if m := uint64(len(rec.Data)); uint64(orig) < m {
		orig = uint32(min(m, math.MaxUint32))
	}
	le.PutUint32(w.hdr[0:], blockEPB)
	le.PutUint32(w.hdr[4:], total)
	le.PutUint32(w.hdr[8:], 0)
	le.PutUint32(w.hdr[12:], uint32(units>>32))
	le.PutUint32(w.hdr[16:], uint32(units))
	le.PutUint32(w.hdr[20:], uint32(n))
	le.PutUint32(w.hdr[24:], orig)
	if _, err := w.w.Write(w.hdr[:]); err != nil {
		return err
	}
	if _, err := w.w.Write(data); err != nil {
		return err
	}
	pad := int(total) - 32 - n
	clear(w.tail[:pad])
	le.PutUint32(w.tail[pad:], total)
	_, err := w.w.Write(w.tail[:pad+4])
	return err
}

// Flush writes buffered records to the underlying writer.
func (w *NGWriter) Flush() error { return w.w.Flush() }
