// Package sink consumes the packet topic in a consumer group and writes
// every record into rotated capture files through package store. It
// commits a partition's offsets only once the file holding those records
// is fsynced and renamed, so a crash loses nothing (records after the
// last commit are consumed again, never gaps); each target's journal
// (journal.go) keeps those already in its finalized files from being
// written again, so the duplicates are an open file's, recovered. Records no
// capture file can hold go to a dead-letter file with their reason,
// counted, never dropped: no record stops it. A target keeps the packets
// its tcpdump filter matches (package filter). After a file is finished
// it may be uploaded (upload.go) or given to a command (command.go), and
// the commit can wait for either.
//
// It also holds what configures and watches it: `pcapstore sink`'s YAML
// configuration and the Spec made from it (config.go, pcapstore.example.yaml),
// the command line's flags mapped onto the same Config (flags.go), and
// the Prometheus collector over its Counters (metrics.go).
package sink
