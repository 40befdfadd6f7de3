package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"

	"github.com/fastcapa-go/fastcapa/internal/atomicfile"
	"github.com/fastcapa-go/fastcapa/store"
)

// The file format, version 1. All integers little-endian.
//
//	offset size
//	     0    8  magic "FCAPAIDX"
//	     8    2  version, 1
//	    10    2  flags, 0
//	    12    4  length of the whole file, checksum included
//	    16    8  CaptureSize
//	    24    8  CaptureModTime, ns
//	    32    8  First, ns
//	    40    8  Last, ns
//	    48    8  Packets
//	    56   32  protocols: bit p%8 of byte p/8 set if IP protocol p is seen
//	    88    1  ports: 0 a list, 1 a bitmap
//	    89    1  addresses: 0 exact lists, 1 a Bloom filter
//	    90    2  0
//	    92    4  ports: how many
//	    96    4  addresses: exact, how many IPv4; Bloom, how many blocks (a power of two)
//	   100    4  addresses: exact, how many IPv6; Bloom, 0
//	   104    8  addresses: how many (Bloom: those that set a bit)
//	   112       ports: list, each as 2 bytes, ascending; bitmap, 8192 bytes, bit p%8 of byte p/8 for port p
//	             addresses: exact, each IPv4 address as 4 bytes then each IPv6 address as 16 bytes
//	                (network order, ascending, no IPv4-mapped one); Bloom, each block as 8 words of 4 bytes
//	   n-4    4  CRC-32C (Castagnoli) of bytes 0 to n-4
//
// A Bloom filter's key is an address's 16-byte form (IPv4-mapped for
// IPv4), split into two big-endian 64-bit halves hi and lo; its hash is
// h = fmix64(lo ^ fmix64(hi ^ 0x9e3779b97f4a7c15)) (fmix64: MurmurHash3's
// finalizer); block (h>>32) & (blocks-1) holds it, with bit
// (uint32(h)*salt[i])>>27 set in word i for Parquet's eight salts.
const (
	magic      = "FCAPAIDX"
	version    = 1
	headerLen  = 112
	trailerLen = 4
	// maxBlocksRead bounds the filters Read accepts (2 MiB): larger than
	// any a Builder writes, for a later writer's larger ones.
	maxBlocksRead = 1 << 16
	// maxFileLen bounds what Read reads.
	maxFileLen = headerLen + portWords*8 + maxBlocksRead*blockBytes + trailerLen
)

// ErrFormat means the bytes are not a valid index file: another kind of
// file, another version, or a corrupt or truncated one. Treat it as a
// missing index: scan the capture (and index it again).
var ErrFormat = errors.New("not a valid index file")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (ix *Index) encodedLen() int {
	n := headerLen + trailerLen
	if ix.ports.bitmap != nil {
		n += portWords * 8
	} else {
		n += 2 * len(ix.ports.list)
	}
	if ix.addrs.bloom != nil {
		n += 4 * len(ix.addrs.bloom)
	} else {
		n += 4*len(ix.addrs.v4) + 16*len(ix.addrs.v6)
	}
	return n
}

// MarshalBinary encodes ix in the file format.
func (ix *Index) MarshalBinary() ([]byte, error) {
	le := binary.LittleEndian
	b := make([]byte, headerLen, ix.encodedLen())
	copy(b, magic)
	le.PutUint16(b[8:], version)
	le.PutUint32(b[12:], uint32(cap(b)))
	le.PutUint64(b[16:], uint64(ix.CaptureSize))
	le.PutUint64(b[24:], uint64(ix.CaptureModTime))
	le.PutUint64(b[32:], uint64(ix.First))
	le.PutUint64(b[40:], uint64(ix.Last))
	le.PutUint64(b[48:], uint64(ix.Packets))
	for i, w := range ix.protos {
		le.PutUint64(b[56+8*i:], w)
	}
	le.PutUint32(b[92:], uint32(ix.ports.count))
	le.PutUint64(b[104:], ix.addrs.count)
	if ix.ports.bitmap != nil {
		b[88] = 1
		for _, w := range ix.ports.bitmap {
			b = le.AppendUint64(b, w)
		}
	} else {
		for _, p := range ix.ports.list {
			b = le.AppendUint16(b, p)
		}
	}
	if ix.addrs.bloom != nil {
		b[89] = 1
		le.PutUint32(b[96:], uint32(len(ix.addrs.bloom)/blockWords))
		for _, w := range ix.addrs.bloom {
			b = le.AppendUint32(b, w)
		}
	} else {
		le.PutUint32(b[96:], uint32(len(ix.addrs.v4)))
		le.PutUint32(b[100:], uint32(len(ix.addrs.v6)))
		for _, a := range ix.addrs.v4 {
			b = binary.BigEndian.AppendUint32(b, a)
		}
		for _, k := range ix.addrs.v6 {
			b = binary.BigEndian.AppendUint64(b, k.hi)
			b = binary.BigEndian.AppendUint64(b, k.lo)
		}
	}
	return le.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// formatError is an ErrFormat saying what is wrong.
func formatError(format string, a ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, a...), ErrFormat)
}

// UnmarshalBinary decodes an index in the file format. It checks the
// magic, the version, the length and the checksum, then that every part
// is consistent; any fault is an ErrFormat that says which. It never
// panics, and allocates no more than len(b).
func (ix *Index) UnmarshalBinary(b []byte) error {
	le := binary.LittleEndian
	if len(b) < len(magic) || string(b[:len(magic)]) != magic {
		return formatError("no index magic (not an index file)")
	}
	if len(b) < 12 {
		return formatError("truncated: %d bytes", len(b))
	}
	if v := le.Uint16(b[8:]); v != version {
		return formatError("version %d (this reads version %d)", v, version)
	}
	if len(b) < headerLen+trailerLen {
		return formatError("truncated: %d bytes, under the %d of a header", len(b), headerLen+trailerLen)
	}
	if n := le.Uint32(b[12:]); int64(n) != int64(len(b)) {
		return formatError("%d bytes where the header says %d (truncated or extended)", len(b), n)
	}
	body := b[:len(b)-trailerLen]
	if sum, want := crc32.Checksum(body, castagnoli), le.Uint32(b[len(body):]); sum != want {
		return formatError("checksum %08x, stored %08x (corrupt)", sum, want)
	}
	if f := le.Uint16(b[10:]); f != 0 {
		return formatError("flags %#x (none defined)", f)
	}
	if b[90] != 0 || b[91] != 0 {
		return formatError("reserved bytes not zero")
	}
	var x Index
	x.CaptureSize = int64(le.Uint64(b[16:]))
	x.CaptureModTime = int64(le.Uint64(b[24:]))
	x.First = int64(le.Uint64(b[32:]))
	x.Last = int64(le.Uint64(b[40:]))
	x.Packets = int64(le.Uint64(b[48:]))
	for i := range x.protos {
		x.protos[i] = le.Uint64(b[56+8*i:])
	}
	switch {
	case x.CaptureSize < 0:
		return formatError("capture size %d", x.CaptureSize)
	case x.Packets < 0:
		return formatError("%d packets", x.Packets)
	case x.Packets > 0 && x.First > x.Last:
		return formatError("first packet at %d after the last at %d", x.First, x.Last)
	case x.Packets == 0 && (x.First != 0 || x.Last != 0):
		return formatError("no packets, but times %d to %d", x.First, x.Last)
	}
	rest := body[headerLen:]
	take := func(n int) ([]byte, bool) {
		if n < 0 || n > len(rest) {
			return nil, false
		}
		p := rest[:n]
		rest = rest[n:]
		return p, true
	}

	nPorts := le.Uint32(b[92:])
	switch b[88] {
	case 0:
		p, ok := take(2 * int(min(nPorts, 1<<17)))
		if !ok || nPorts > 65536 {
			return formatError("%d ports listed, more than the file holds", nPorts)
		}
		x.ports.list = make([]uint16, nPorts)
		for i := range x.ports.list {
			x.ports.list[i] = le.Uint16(p[2*i:])
			if i > 0 && x.ports.list[i] <= x.ports.list[i-1] {
				return formatError("port list not ascending at %d", i)
			}
		}
	case 1:
		p, ok := take(portWords * 8)
		if !ok {
			return formatError("port bitmap cut short")
		}
		x.ports.bitmap = make([]uint64, portWords)
		n := 0
		for i := range x.ports.bitmap {
			x.ports.bitmap[i] = le.Uint64(p[8*i:])
			n += bits.OnesCount64(x.ports.bitmap[i])
		}
		if uint32(n) != nPorts {
			return formatError("port bitmap holds %d ports, header says %d", n, nPorts)
		}
	default:
		return formatError("port summary kind %d", b[88])
	}
	x.ports.count = int(nPorts)

	a, c := le.Uint32(b[96:]), le.Uint32(b[100:])
	x.addrs.count = le.Uint64(b[104:])
	switch b[89] {
	case 0:
		p, ok := take(4 * int(min(a, 1<<24)))
		q, ok2 := take(16 * int(min(c, 1<<24)))
		if !ok || !ok2 || a >= 1<<24 || c >= 1<<24 {
			return formatError("%d IPv4 and %d IPv6 addresses listed, more than the file holds", a, c)
		}
		if x.addrs.count != uint64(a)+uint64(c) {
			return formatError("%d addresses listed, header says %d", uint64(a)+uint64(c), x.addrs.count)
		}
		x.addrs.v4 = make([]uint32, a)
		for i := range x.addrs.v4 {
			x.addrs.v4[i] = binary.BigEndian.Uint32(p[4*i:])
			if i > 0 && x.addrs.v4[i] <= x.addrs.v4[i-1] {
				return formatError("IPv4 address list not ascending at %d", i)
			}
		}
		x.addrs.v6 = make([]key, c)
		for i := range x.addrs.v6 {
			k := key6(q[16*i:])
			if k.is4() {
				return formatError("IPv6 address list holds an IPv4-mapped address at %d", i)
			}
			if i > 0 && cmpKey(k, x.addrs.v6[i-1]) <= 0 {
				return formatError("IPv6 address list not ascending at %d", i)
			}
			x.addrs.v6[i] = k
		}
	case 1:
		if a == 0 || a > maxBlocksRead || a&(a-1) != 0 || c != 0 {
			return formatError("Bloom filter of %d blocks (a power of two up to %d)", a, maxBlocksRead)
		}
		p, ok := take(int(a) * blockBytes)
		if !ok {
			return formatError("Bloom filter of %d blocks cut short", a)
		}
		x.addrs.bloom = make([]uint32, int(a)*blockWords)
		for i := range x.addrs.bloom {
			x.addrs.bloom[i] = le.Uint32(p[4*i:])
		}
	default:
		return formatError("address summary kind %d", b[89])
	}
	if len(rest) != 0 {
		return formatError("%d bytes after the summaries", len(rest))
	}
	*ix = x
	return nil
}

// ReadFile reads and checks the index file at path (Load also checks it
// against its capture). A missing file is an error matching
// fs.ErrNotExist; a file that is not a valid index, ErrFormat.
func ReadFile(path string) (*Index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read index %s: %w", path, err)
	}
	if fi.Size() > maxFileLen {
		return nil, fmt.Errorf("index %s: %w", path, formatError("%d bytes, over the %d of the largest index", fi.Size(), maxFileLen))
	}
	b := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("read index %s: %w", path, err)
	}
	ix := new(Index)
	if err := ix.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("index %s: %w", path, err)
	}
	return ix, nil
}

// WriteFile writes ix to path atomically (atomicfile.WriteFile):
// readers see the old file or the new one, whole, never a part; after a
// crash the file is the old one or the new one, and a temporary file may
// be left (Clean removes it).
func (ix *Index) WriteFile(path string) error {
	data, _ := ix.MarshalBinary()
	if err := atomicfile.WriteFile(path, data); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	return nil
}

// SidecarPath is the path of capture's index file: <dir>/.<name>.idx
// (store.SidecarPath, whose walker knows it for a sidecar).
func SidecarPath(capture string) string { return store.SidecarPath(capture) }

// Save writes ix as capture's index file (SidecarPath), atomically. An
// index not yet bound to its capture (CaptureSize and CaptureModTime 0:
// from a Builder) is bound to the file as it is now; one that is bound
// must match it (else ErrStale, and nothing is written).
func (ix *Index) Save(capture string) error {
	fi, err := os.Stat(capture)
	if err != nil {
		return fmt.Errorf("save index: %w", err)
	}
	if ix.CaptureSize == 0 && ix.CaptureModTime == 0 {
		ix.CaptureSize, ix.CaptureModTime = fi.Size(), fi.ModTime().UnixNano()
	} else if err := ix.describes(capture, fi); err != nil {
		return fmt.Errorf("save index: %w", err)
	}
	return ix.WriteFile(SidecarPath(capture))
}

// describes checks that ix was built for the file fi describes.
func (ix *Index) describes(capture string, fi fs.FileInfo) error {
	size, mod := fi.Size(), fi.ModTime().UnixNano()
	if ix.CaptureSize == size && ix.CaptureModTime == mod && (size != 0 || mod != 0) {
		return nil
	}
	return fmt.Errorf("%s is %d bytes modified at %d ns, the index describes %d bytes modified at %d ns: %w",
		capture, size, mod, ix.CaptureSize, ix.CaptureModTime, ErrStale)
}

// ForObject reads an index uploaded beside its capture to an object
// store (the sink sends the sidecar after the file), and checks that it
// describes an object of size bytes: an object keeps no modification
// time of the file, so the size is what binds them. An invalid index is
// ErrFormat, another file's ErrStale: scan the object.
func ForObject(sidecar []byte, size int64) (*Index, error) {
	ix := new(Index)
	if err := ix.UnmarshalBinary(sidecar); err != nil {
		return nil, err
	}
	if ix.CaptureSize != size || size == 0 {
		return nil, fmt.Errorf("the object is %d bytes, the index describes %d: %w", size, ix.CaptureSize, ErrStale)
	}
	return ix, nil
}

// Load reads capture's index file and checks that it describes capture
// as it is now. A missing index is an error matching fs.ErrNotExist, an
// invalid one ErrFormat, one for another version of the file ErrStale:
// in each case, scan the capture.
func Load(capture string) (*Index, error) {
	ix, err := ReadFile(SidecarPath(capture))
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(capture)
	if err != nil {
		return nil, fmt.Errorf("index of %s: %w", capture, err)
	}
	if err := ix.describes(capture, fi); err != nil {
		return nil, fmt.Errorf("index %s: %w", SidecarPath(capture), err)
	}
	return ix, nil
}

// isTempName reports whether name is a temporary file of WriteFile's
// for a sidecar: .<name>.idx.<8 hex digits>.tmp.
func isTempName(name string) bool {
	e := store.Classify(name, 0)
	return e.Kind == store.AtomicTemp && store.Classify(e.Of, 0).Of != ""
}

// Clean removes, under dir and the subdirectories store.Walk enters, the
// temporary files a crash left from WriteFile and
// the index files whose capture is gone. Run it when nothing writes
// index files under dir (before a sink starts, with store.Recover): a
// temporary file being written would be taken for a leftover. It returns
// what it removed; it goes on past errors and joins them.
func Clean(dir string) (removed []string, err error) {
	var errs []error
	walkErr := store.Walk(dir, func(e store.Entry) error {
		if e.Err != nil {
			errs = append(errs, e.Err)
			return nil
		}
		if !e.Type.IsRegular() {
			return nil
		}
		var gone bool
		switch e.Kind {
		case store.AtomicTemp:
			gone = isTempName(filepath.Base(e.Path))
		case store.Sidecar:
			if e.Of == "" {
				return nil
			}
			_, err := os.Lstat(filepath.Join(filepath.Dir(e.Path), e.Of))
			gone = errors.Is(err, fs.ErrNotExist)
		}
		if !gone {
			return nil
		}
		if err := os.Remove(e.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("clean: %w", err))
			return nil
		}
		removed = append(removed, e.Path)
		return nil
	})
	if walkErr != nil {
		errs = append(errs, fmt.Errorf("clean %s: %w", dir, walkErr))
	}
	return removed, errors.Join(errs...)
}
