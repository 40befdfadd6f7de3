// Package pcap reads and writes capture files. It reads classic libpcap
// files (both byte orders, microsecond and nanosecond timestamps) and
// pcapng (both byte orders, several sections and interfaces, any
// timestamp resolution; Enhanced, Simple and obsolete Packet Blocks),
// plain or compressed with gzip, zstd or lz4 (Open sniffs which). It
// writes little-endian Ethernet files of either format, and compressors
// for the store's files (NewCompressor).
//
// Every capture is read as libpcap 1.10 reads it (tcpdump -r), and every
// other package reads captures only through this one, so that they all
// see the same records: a classic pcap record longer than the file's
// snapshot length is cut to it (its original length kept), a pcapng
// record longer than its interface's is corrupt, a snapshot length of 0
// (or over 2^31-1) means MaxSnapLen, and a record over MaxSnapLen is
// corrupt (RecordLimit). Wireshark's tools keep such records whole. The
// writers never write a record longer than their header's snapshot
// length. Deliberately unlike libpcap: pcapng interfaces may differ in
// link type and snapshot length (as Wireshark reads them), and no record
// over MaxSnapLen is read whatever its link type or interface says.
//
// Every reader bounds what it allocates by what the input holds, and
// reports bad or truncated input as ErrFormat (truncation also as
// io.ErrUnexpectedEOF) and the underlying reader's errors as themselves.
// It holds no state beyond the stream it wraps and never interprets
// packet contents.
package pcap
