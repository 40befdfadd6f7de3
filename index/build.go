package index

import (
	"fmt"
	"io"
	"os"

	"github.com/fastcapa-go/fastcapa/pcap"
)

// BuildFile reads the capture at path — classic pcap or pcapng, plain or
// compressed with gzip, zstd or lz4 — and returns its index, bound to
// the file as it was read (CaptureSize, CaptureModTime). A file that is
// not a capture, or corrupt or cut short anywhere, is an error wrapping
// pcap.ErrFormat that says after how many packets, and where: the byte
// offset in the (decompressed) capture for classic pcap, the block and
// its offset for pcapng. A file that changes while it is read is an
// error wrapping ErrStale.
func BuildFile(path string) (*Index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", path, err)
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", path, err)
	}
	c, err := pcap.Open(f)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", path, err)
	}
	defer c.Close()
	var b Builder
	for {
		rec, err := c.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			where := ""
			if c.Format() == pcap.FormatPcap {
				where = fmt.Sprintf(", at byte %d", c.Offset())
				if c.Compression() != pcap.CompressNone {
					where += " of the decompressed capture"
				}
			}
			return nil, fmt.Errorf("index %s: after %d packets%s: %w", path, b.Packets(), where, err)
		}
		b.AddRecord(rec)
	}
	after, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", path, err)
	}
	ix := b.Index()
	ix.CaptureSize, ix.CaptureModTime = before.Size(), before.ModTime().UnixNano()
	if err := ix.describes(path, after); err != nil {
		return nil, fmt.Errorf("index %s: changed while read: %w", path, err)
	}
	return ix, nil
}
