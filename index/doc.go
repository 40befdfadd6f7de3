// Package index keeps a small index beside each capture file — a
// sidecar — so that a query for the packets of a host, port or protocol
// between two times opens only the files that can hold one.
//
// An Index records a file's earliest and latest packet time (ns, as
// stored), its packet count, and summaries of what its packets carry at
// any layer the walk reads (Constraints.Match lists them: VLAN tags,
// MPLS, PPPoE, IP in IP, GRE with ERSPAN, VXLAN, Geneve, GTP-U, the
// packet an ICMP error quotes, and more, up to 7 levels of
// encapsulation):
//
//   - IP protocols: a 256-bit set, exact;
//   - TCP, UDP, UDP-Lite and SCTP ports: exact, a sorted list while it
//     is smaller than a bitmap of all ports (8 KiB), else that bitmap;
//   - IPv4 and IPv6 addresses: exact, sorted lists, while they take at
//     most 1 KiB or twice the Bloom filter that would replace them; else
//     a split-block Bloom filter, a power of two from 32 B to
//     MaxFilterBytes (32 KiB), the smallest whose false-positive rate is
//     at most TargetFPR (0.1 %). It holds about 15,000 addresses at that
//     rate; past it the rate grows (2 % at 30,000, 26 % at 60,000, 68 %
//     at 100,000: such a file is seldom pruned by host). Stats gives an
//     index's rate, computed from its bits.
//
// An index is 116 bytes plus its summaries: a few hundred bytes for a
// file of a few flows, at most about 41 KiB.
//
// MayMatch never returns false for a file that holds a packet that
// Constraints.Match selects: a query that scans the files MayMatch
// keeps, matching packets with Match, finds every packet a scan of all
// files would. Match is the meaning of "matches": layers the walk does
// not read (sFlow samples, NHRP error indications, encrypted payloads,
// fragments not reassembled, encapsulations deeper than 7 levels) are
// not matched, nor indexed.
//
// A Builder makes an index as a file is written: Add, once per packet,
// allocates nothing and takes about 30 ns for a typical frame (the
// Metron sample), about 60 ns when both addresses are new to a full
// filter; Index once per file. An Indexer, observing a store.Writer,
// feeds its Builder each record exactly as the Writer stored it and
// saves the sidecar when the Writer publishes the file. BuildFile
// indexes a capture already on disk (pcap or pcapng, plain or
// compressed), for files written without one.
//
// The same walk, kept to dpdk/decap.h's narrower ground, finds a frame's
// innermost packet for filters with decapsulation (Inner, InnerWalker:
// the sink's decap), so that a filter means the same packets at capture
// and in storage.
//
// The index of <dir>/<name> is <dir>/.<name>.idx (SidecarPath, which is
// store.SidecarPath): hidden, and classified as a sidecar by store.Walk,
// with which store's retention and recovery, a sink's spool and queries
// walk, so none takes it for a capture. Save writes it through a hidden
// temporary file, fsynced, renamed over the name, and the directory
// fsynced (atomicfile.WriteFile). The file format (format.go) is versioned and ends
// in a CRC-32C; ReadFile refuses a foreign, corrupt or truncated file,
// or another version, with ErrFormat. An index is bound to its
// capture's size and modification time; Load refuses one that no longer
// matches with ErrStale. A missing index is fs.ErrNotExist. In every one
// of these cases the caller scans the capture. Clean removes the
// temporary files a crash left and the indexes whose capture is gone.
//
// The package owns the sidecar files and their temporary files. It
// never writes, modifies or deletes a capture file, never decides which
// files to keep (it removes only what Clean finds orphaned), never logs,
// and never reads past a frame's captured bytes or panics on them.
package index
