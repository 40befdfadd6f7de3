// Package store writes one stream of packets — one Kafka partition — into
// rotated classic pcap files that no reader ever sees half-written.
//
// A Spec says where files go (Dir, and a name Template with Metron's,
// FMADIO's and strftime variables) and when one ends (MaxPackets,
// MaxBytes, MaxSpan, Slot). NewWriter validates it and makes a Writer for
// one stream. Write appends records, through package pcap, to a hidden
// temporary file in the directory of the final name; Write and Tick
// rotate files by the rules (Write by packet time, Tick by the wall
// clock, for a stream gone quiet). Finalize flushes, fsyncs the file,
// links it under its final name without replacing anything, removes the
// temporary name and fsyncs the directory, so a final name always holds
// a complete file. Recover, run before the Writers start, truncates the
// temporary files a crash left to their whole records and publishes
// them, and deletes those that hold none.
//
// It owns the files and directories it creates under Spec.Dir, and their
// names. It never overwrites, modifies or deletes a final file, never
// interprets packet contents, and never reads Kafka or commits offsets:
// the caller counts a record as stored once its file is returned as
// Finalized (by Write, Tick or Finalize). It does not fsync per record:
// a crash loses what Recover cannot find whole in a temporary file, which
// Kafka still holds until the caller commits. A Writer is for one
// goroutine; different Writers are independent, and may share a
// directory.
package store
