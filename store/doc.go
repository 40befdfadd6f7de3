// Package store writes one stream of packets — one Kafka partition — into
// rotated capture files that no reader ever sees half-written: classic
// pcap or pcapng, plain, compressed in process (gzip, zstd, lz4), or
// piped through an external command (FMADIO's PipeCmd).
//
// A Spec says where files go (Dir, and a name Template with Metron's,
// FMADIO's and strftime variables), when one ends (MaxPackets,
// MaxBytes, MaxSpan, Slot) and how it is written (Format, Compression,
// PipeCmd). NewWriter validates it and makes a Writer for one stream.
// Write appends records, through package pcap, to a hidden temporary
// file in the directory of the final name; Write and Tick rotate files
// by the rules (Write by packet time, Tick by the wall clock, for a
// stream gone quiet). Finalize flushes, ends the compressed stream (or
// waits for the command), fsyncs the file, links it under its final name
// without replacing anything, removes the temporary name and fsyncs the
// directory, so a final name always holds a complete file; an Observer
// (Writer.Observe) sees each record as stored and the file published.
// Recover, run before the Writers start, keeps the whole records of the
// temporary files a crash left (truncating a plain pcap file, rewriting
// any other into a complete file of its format and compression) and
// publishes them, and deletes those that hold none and those a command
// wrote. Retain deletes the oldest finished captures to bound a
// directory.
//
// It owns the files and directories it creates under Spec.Dir, and their
// names, and the PipeCmd processes it starts: each is waited for (or
// killed and waited for), never left behind. It never overwrites or
// modifies a final file, or deletes one but by Retain, never
// interprets packet contents, and never reads Kafka or commits offsets:
// the caller counts a record as stored once its file is returned as
// Finalized (by Write, Tick or Finalize). It does not fsync per record:
// a crash loses what Recover cannot find whole in a temporary file, which
// Kafka still holds until the caller commits. A Writer is for one
// goroutine; different Writers are independent, and may share a
// directory.
//
// # What is in a store directory
//
// Walk is the one rule for which entries under a directory are finished
// captures and which are not (Classify, Kind): Recover, Retain, package
// index's Clean, the sink's upload spool, queries and pcapstore index
// all walk with it. It never enters a hidden directory, and a hidden
// name is never a capture; the names are:
//
//	<name>                                 a finished capture (Capture)
//	.<base>.<tag>.inprogress               a Writer's temporary file (Temp)
//	.<base>.<tag>.pipe.inprogress          the same, written through PipeCmd
//	.<base>.<tag>.recovering               Recover's rewrite of one (Rewrite)
//	.<name>.idx                            <name>'s sidecar index (Sidecar; package index)
//	.<name>.<8 hex digits>.tmp             atomicfile.WriteFile's temporary file (AtomicTemp)
//	*.jsonl                                a dead-letter file (DeadLetter)
//
// where <base> is the final base name, suffix included, with "{end}"
// standing for the latest packet's epoch seconds, and <tag> 16 random
// hex digits, so that two writers whose names coincide never share a
// temporary file. A file is published the one way package
// internal/atomicfile does it: written under its temporary name in the
// directory of its final name (so the final link is atomic, on one
// filesystem), fsynced, hard-linked under its final name (never over an
// existing one), its temporary name removed, the directory fsynced.
//
// # Recovery
//
// Recover walks the directory. For each temporary file:
//
//   - plain classic pcap: a valid header followed by at least one whole
//     record: the file is truncated after its last whole record (a record
//     cut short, or what follows a corrupt record header, is dropped),
//     fsynced, and published under its final name as Finalize does —
//     never over an existing file, with a numeric suffix on collision, or,
//     when the final name is already this file's own link (a crash
//     between link and removal), under that name;
//   - pcapng, or compressed (gzip, zstd, lz4, whatever the Spec said: the
//     file's first bytes tell): every whole record that can be read from
//     it is rewritten into a complete file of the same format and
//     compression (the default level), as .<base>.<tag>.recovering; that
//     is fsynced and renamed over the temporary name, which is then
//     published as above. A file already linked under a final name (a
//     crash between link and removal) was complete: it is published as it
//     is. A leftover .recovering file (a crash during a rewrite) is
//     deleted: the temporary file it came from is still there;
//   - written through PipeCmd: its format is unknown (it is the command's
//     output, possibly cut), so it is deleted;
//   - no valid header, or no whole record: it holds no packet; it is
//     deleted.
package store
