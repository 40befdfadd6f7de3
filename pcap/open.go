package pcap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"path/filepath"
	"strings"
)

// Format is a capture file's format.
type Format uint8

const (
	FormatPcap   Format = iota // classic libpcap
	FormatPcapNG               // pcapng
)

func (f Format) String() string {
	switch f {
	case FormatPcap:
		return "pcap"
	case FormatPcapNG:
		return "pcapng"
	}
	return fmt.Sprintf("format(%d)", uint8(f))
}

// HeaderLen is the length of what the format's writer (NewWriter,
// NewNGWriter) writes before the first record.
func (f Format) HeaderLen(nanos bool) int {
	if f == FormatPcapNG {
		return ngHeaderLen(nanos)
	}
	return 24
}

// RecordLen is the length of a record of n captured bytes as the format's
// writer writes it.
func (f Format) RecordLen(n int) int {
	if f == FormatPcapNG {
		return ngRecordLen(n)
	}
	return 16 + n
}

// RecordWriter is a Writer or an NGWriter.
type RecordWriter interface {
	Write(Record) error
	Flush() error
}

// NewFormatWriter writes format f's header to w and returns its writer:
// NewWriter or NewNGWriter.
func NewFormatWriter(w io.Writer, f Format, nanos bool, snapLen uint32) (RecordWriter, error) {
	if f == FormatPcapNG {
		return NewNGWriter(w, nanos, snapLen)
	}
	return NewWriter(w, nanos, snapLen)
}

// ParseFormat parses "pcap" (or "") or "pcapng".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "", "pcap":
		return FormatPcap, nil
	case "pcapng":
		return FormatPcapNG, nil
	}
	return 0, fmt.Errorf("format %q: use pcap or pcapng", s)
}

// Capture reads any capture: classic pcap or pcapng, plain or compressed
// with gzip, zstd or lz4 (frames). Its errors are those of Reader and
// NGReader; a corrupt or truncated compressed stream is ErrFormat too.
type Capture struct {
	format  Format
	comp    Compression
	classic *Reader
	ifaces  []Interface // classic's one
	ng      *NGReader
	free    func() error // the decompressor's
	file    *os.File     // OpenFile's
}

// Open reads r's first bytes: a compression's magic (gzip, zstd, lz4
// frame), then, in what it decompresses to, classic pcap or pcapng. Close
// the Capture when done; it does not close r.
func Open(r io.Reader) (*Capture, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	comp, err := sniff(br, sniffCompression)
	if err != nil {
		return nil, err
	}
	dec, free, err := newDecompressor(br, comp)
	if err != nil {
		return nil, err
	}
	c := &Capture{comp: comp, free: free}
	if comp != CompressNone {
		br = bufio.NewReaderSize(dec, 1<<16)
	}
	c.format, err = sniff(br, sniffFormat)
	if err == nil {
		if c.format == FormatPcapNG {
			c.ng, err = NewNGReader(br)
		} else {
			if c.classic, err = NewReader(br); err == nil {
				c.ifaces = []Interface{c.classic.iface()}
			}
		}
	}
	if err != nil {
		free()
		if comp != CompressNone {
			err = fmt.Errorf("%s: %w", comp, err)
		}
		return nil, err
	}
	return c, nil
}

// sniff peeks at br's first 4 bytes (fewer if that is all there is) and
// passes them to fn. No bytes at all is ErrFormat.
func sniff[T any](br *bufio.Reader, fn func([]byte) T) (T, error) {
	b, err := br.Peek(4)
	if len(b) == 0 {
		var zero T
		if err == io.EOF {
			return zero, fmt.Errorf("empty: %w", errTruncated)
		}
		return zero, fmt.Errorf("read capture: %w", err)
	}
	return fn(b), nil
}

// sniffFormat is the format of a capture starting with b: pcapng for its
// section header's block type, else classic pcap (whose magic NewReader
// checks).
func sniffFormat(b []byte) Format {
	if len(b) >= 4 && binary.LittleEndian.Uint32(b) == blockSHB {
		return FormatPcapNG
	}
	return FormatPcap
}

// HasMagic reports whether b, a file's first bytes (4 are enough), starts
// like something Open reads: classic pcap (either byte order, µs or ns),
// pcapng, or a gzip, zstd or lz4 stream.
func HasMagic(b []byte) bool {
	if sniffCompression(b) != CompressNone {
		return true
	}
	if len(b) < 4 {
		return false
	}
	if sniffFormat(b) == FormatPcapNG {
		return true
	}
	switch binary.LittleEndian.Uint32(b) {
	case magicMicros, magicNanos, bits.ReverseBytes32(magicMicros), bits.ReverseBytes32(magicNanos):
		return true
	}
	return false
}

// HasCaptureName reports whether a file's name is a capture's by its
// extension: .pcap, .pcapng or .cap (in any case), alone or before one
// more extension, a compression's (x.pcap.gz, x.pcap.zst, x.pcap.lz4, or
// one Open does not read, such as x.pcap.xz).
func HasCaptureName(name string) bool {
	isCapture := func(ext string) bool {
		switch strings.ToLower(ext) {
		case ".pcap", ".pcapng", ".cap":
			return true
		}
		return false
	}
	name = filepath.Base(name)
	ext := filepath.Ext(name)
	return isCapture(ext) || ext != "" && isCapture(filepath.Ext(strings.TrimSuffix(name, ext)))
}

// OpenFile opens the file at path with Open; Close closes it.
func OpenFile(path string) (*Capture, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	c, err := Open(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.file = f
	return c, nil
}

// Format is the capture's format.
func (c *Capture) Format() Format { return c.format }

// Compression is the compression it was found in.
func (c *Capture) Compression() Compression { return c.comp }

// Interfaces describes the capture's interfaces: a classic pcap file's
// one, or those of the current pcapng section seen so far (a pcapng
// section may describe an interface anywhere before its first packet).
// Record.Interface indexes it. The slice is the Capture's: do not modify
// it.
func (c *Capture) Interfaces() []Interface {
	if c.ng != nil {
		return c.ng.Interfaces()
	}
	return c.ifaces
}

// Next returns the next record, io.EOF at the end. Record.Data is valid
// until the next call; NextCopy returns an owned copy.
func (c *Capture) Next() (Record, error) {
	if c.ng != nil {
		return c.ng.Next()
	}
	return c.classic.Next()
}

// Offset is where the next record or block starts in the capture (after
// decompression): the length of what was read in whole records and
// blocks, as they are in the stream.
func (c *Capture) Offset() int64 {
	if c.ng != nil {
		return c.ng.Offset()
	}
	return c.classic.Offset()
}

// NextCopy is Next with a Data slice the caller owns.
func (c *Capture) NextCopy() (Record, error) {
	if c.ng != nil {
		return c.ng.NextCopy()
	}
	return c.classic.NextCopy()
}

// Close frees the decompressor and closes the file OpenFile opened.
func (c *Capture) Close() error {
	err := c.free()
	if c.file != nil {
		err = errors.Join(err, c.file.Close())
	}
	return err
}
