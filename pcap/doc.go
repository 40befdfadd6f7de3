// Package pcap reads and writes capture files. It reads classic libpcap
// files (both byte orders, microsecond and nanosecond timestamps) and
// pcapng (both byte orders, several sections and interfaces, any
// timestamp resolution; Enhanced, Simple and obsolete Packet Blocks),
// plain or compressed with gzip, zstd or lz4 (Open sniffs which). It
// writes little-endian Ethernet files of either format, and compressors
// for the store's files (NewCompressor).
//
// Every reader bounds what it allocates by what the input holds, and
// reports bad or truncated input as ErrFormat (truncation also as
// io.ErrUnexpectedEOF) and the underlying reader's errors as themselves.
// It holds no state beyond the stream it wraps and never interprets
// packet contents.
package pcap
