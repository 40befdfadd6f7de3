// Package sink consumes the packet topic in a consumer group and writes
// every record into rotated capture files through package store. It
// commits a partition's offsets only once the file holding those records
// is fsynced and renamed, so a crash loses nothing (records after the
// last commit are consumed again, never gaps); each target's journal
// (journal.go) keeps those already in its finalized files from being
// written again, so the duplicates are an open file's, recovered. Records no
// capture file can hold go to a dead-letter file with their reason,
// counted, never dropped: no record stops it.
package sink
