// Package sink consumes the packet topic in a consumer group and writes
// every record into rotated capture files through package store. It
// commits a partition's offsets only once the file holding those records
// is fsynced and renamed, so a crash loses nothing (records after the
// last commit are consumed again: duplicates, never gaps). Records it
// cannot decode go to a dead-letter file, counted, never dropped.
package sink
