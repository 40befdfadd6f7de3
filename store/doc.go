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
// directory, so a final name always holds a complete file. Recover, run
// before the Writers start, keeps the whole records of the temporary
// files a crash left (truncating a plain pcap file, rewriting any other
// into a complete file of its format and compression) and publishes
// them, and deletes those that hold none and those a command wrote.
//
// It owns the files and directories it creates under Spec.Dir, and their
// names, and the PipeCmd processes it starts: each is waited for (or
// killed and waited for), never left behind. It never overwrites, modifies or deletes a final file, never
// interprets packet contents, and never reads Kafka or commits offsets:
// the caller counts a record as stored once its file is returned as
// Finalized (by Write, Tick or Finalize). It does not fsync per record:
// a crash loses what Recover cannot find whole in a temporary file, which
// Kafka still holds until the caller commits. A Writer is for one
// goroutine; different Writers are independent, and may share a
// directory.
package store
