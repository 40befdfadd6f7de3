package pcap

import (
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compression is a whole-file compression of a capture.
type Compression uint8

const (
	CompressNone Compression = iota
	CompressGzip             // gzip (RFC 1952), ".gz"
	CompressZstd             // Zstandard frames, ".zst"
	CompressLZ4              // LZ4 frames (not the legacy format), ".lz4"
)

var compressionNames = [...]string{"none", "gzip", "zstd", "lz4"}

func (c Compression) String() string {
	if int(c) < len(compressionNames) {
		return compressionNames[c]
	}
	return fmt.Sprintf("compression(%d)", uint8(c))
}

// ParseCompression parses "none" (or ""), "gzip", "zstd" or "lz4".
func ParseCompression(s string) (Compression, error) {
	if s == "" {
		return CompressNone, nil
	}
	for i, n := range compressionNames {
		if s == n {
			return Compression(i), nil
		}
	}
	return 0, fmt.Errorf("compression %q: use none, gzip, zstd or lz4", s)
}

// Suffix is the file name suffix of the compression: "", ".gz", ".zst"
// or ".lz4".
func (c Compression) Suffix() string {
	switch c {
	case CompressGzip:
		return ".gz"
	case CompressZstd:
		return ".zst"
	case CompressLZ4:
		return ".lz4"
	}
	return ""
}

// Levels is the range of levels NewCompressor takes besides 0, the
// codec's default: gzip 1 (fastest) to 9; zstd 1 to 22 on the zstd
// command's scale, which the encoder maps onto its four speeds (1–2
// fastest, 3–5 default, 6–9 better, 10 and up best); lz4 1 to 9, its
// high-compression levels (0 is its fast mode). None takes only 0.
func (c Compression) Levels() (lo, hi int) {
	switch c {
	case CompressGzip, CompressLZ4:
		return 1, 9
	case CompressZstd:
		return 1, 22
	}
	return 0, 0
}

// ErrLevel means a compression level out of Compression.Levels.
var ErrLevel = errors.New("compression level out of range")

// Compressor is a compressed stream being written. Close ends the stream
// (the gzip trailer, the last zstd block, the lz4 end mark and checksum)
// without closing the writer under it; Reset starts a new stream on
// another writer, with the same settings and without allocating again.
type Compressor interface {
	io.WriteCloser
	Reset(w io.Writer)
}

// NewCompressor returns a Compressor into w at level (0: the codec's
// default; see Levels). For CompressNone it writes through, and Close
// does nothing.
//
// Every codec runs in the calling goroutine (no encoder goroutines).
// zstd uses a 2 MiB window (the zstd command's at its default level; an
// encoder then takes about 4 MiB rather than 18) and a checksum; lz4
// uses 256 KiB blocks, with a content checksum.
func NewCompressor(w io.Writer, c Compression, level int) (Compressor, error) {
	if lo, hi := c.Levels(); level != 0 && (level < lo || level > hi) {
		return nil, fmt.Errorf("%s level %d: use 0 (default) or %d to %d: %w", c, level, lo, hi, ErrLevel)
	}
	switch c {
	case CompressNone:
		return &nopCloser{w}, nil
	case CompressGzip:
		if level == 0 {
			level = gzip.DefaultCompression
		}
		zw, err := gzip.NewWriterLevel(w, level)
		if err != nil {
			return nil, err
		}
		return zw, nil
	case CompressZstd:
		opts := []zstd.EOption{zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(2 << 20), zstd.WithLowerEncoderMem(true)}
		if level != 0 {
			opts = append(opts, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)))
		}
		zw, err := zstd.NewWriter(w, opts...)
		if err != nil {
			return nil, err
		}
		return zw, nil
	case CompressLZ4:
		lw := lz4.NewWriter(w)
		lvl := lz4.Fast
		if level != 0 {
			lvl = lz4.Level1 << (level - 1)
		}
		err := lw.Apply(lz4.BlockSizeOption(lz4.Block256Kb), lz4.ChecksumOption(true), lz4.CompressionLevelOption(lvl))
		if err != nil {
			return nil, err
		}
		return lw, nil
	}
	return nil, fmt.Errorf("unknown %s", c)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func (n *nopCloser) Reset(w io.Writer) { n.Writer = w }

// sniffCompression tells the compression from a stream's first bytes.
func sniffCompression(b []byte) Compression {
	switch {
	case len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b:
		return CompressGzip
	case len(b) >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd,
		len(b) >= 4 && b[0]&0xf0 == 0x50 && b[1] == 0x2a && b[2] == 0x4d && b[3] == 0x18: // skippable frame
		return CompressZstd
	case len(b) >= 4 && b[0] == 0x04 && b[1] == 0x22 && b[2] == 0x4d && b[3] == 0x18:
		return CompressLZ4
	}
	return CompressNone
}

// maxZstdWindow bounds the window a zstd stream may ask for, as the zstd
// command does by default (128 MiB, --long=27).
const maxZstdWindow = 128 << 20

// newDecompressor returns a reader of the decompressed stream and a
// function that frees the decoder. Its errors are classified: the
// compressed input's own errors are returned as themselves, the codec's
// (a corrupt stream, or one cut short) as ErrFormat.
func newDecompressor(r io.Reader, c Compression) (io.Reader, func() error, error) {
	src := &srcReader{r: r}
	var dec io.Reader
	done := func() error { return nil }
	switch c {
	case CompressGzip:
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, nil, src.classify(c, err)
		}
		dec, done = zr, zr.Close
	case CompressZstd:
		zr, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, nil, err
		}
		dec, done = zr, func() error { zr.Close(); return nil }
	case CompressLZ4:
		dec = lz4.NewReader(src)
	default:
		return r, done, nil
	}
	return &decompressed{r: dec, src: src, c: c}, done, nil
}

// srcReader remembers the compressed input's last error.
type srcReader struct {
	r   io.Reader
	err error
}

func (s *srcReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// classify turns a codec error into the input's error, when the input
// failed, or a format error.
func (s *srcReader) classify(c Compression, err error) error {
	switch {
	case s.err != nil:
		return fmt.Errorf("%s input: %w", c, s.err)
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%s stream: %w", c, errTruncated)
	}
	return fmt.Errorf("%s stream: %w: %w", c, ErrFormat, err)
}

// decompressed is a decompressor with its errors classified.
type decompressed struct {
	r   io.Reader
	src *srcReader
	c   Compression
}

func (d *decompressed) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF {
		err = d.src.classify(d.c, err)
	}
	return n, err
}
