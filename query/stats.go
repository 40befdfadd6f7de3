package query

import (
	"errors"
	"io"
)

// Why a file was skipped (Skip.Reason).
const (
	SkipHidden     = "hidden"               // a hidden file or directory (the sink's temporary files)
	SkipSidecar    = "dead letters"         // *.jsonl
	SkipIndex      = "index"                // *.idx
	SkipNotCapture = "not a capture"        // clearly not one (Sniff): no capture name, sidecar or magic
	SkipIrregular  = "not a regular file"   // a device, socket, pipe, or a link to a directory
	SkipExcluded   = "excluded"             // in Spec.Exclude (the query's output)
	SkipDuplicate  = "named more than once" // reached again through another path
)

// Skip is a file a query did not read, and why.
type Skip struct {
	Path   string
	Reason string // one of the Skip… constants
}

// FileError is a capture that could not be read whole, and why.
type FileError struct {
	Path string
	Err  error
}

func (e FileError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e FileError) Unwrap() error { return e.Err }

// Stats accounts for every file and record a query saw.
type Stats struct {
	Captures int // capture files found (after skips)
	Pruned   int // not opened: the Pruner said they hold no match
	Scanned  int // opened and read to their end, or to their error
	Unread   int // not read to their end because a limit or an error stopped the query
	Empty    int // captures without a record

	Skipped []Skip // not captures, and why
	// Failed: captures that could not be opened, or that are corrupt
	// part way; Run returns ErrIncomplete. Records before the corruption
	// were searched. When a limit stops the query, a corruption the merge
	// had not reached (so after every record emitted) is not reported.
	Failed []FileError
	// Truncated: captures whose last record is cut short (a capture
	// still being written by another tool, or torn: the sink publishes
	// only whole files, so in its store this is damage). The records
	// before the cut were searched; the answer is incomplete, as
	// tcpdump -r says (it exits 1): Run returns ErrIncomplete.
	Truncated []FileError

	Packets       int64 // records read
	FileBytes     int64 // bytes read from the files (compressed size)
	OtherLinkType int64 // records not of Ethernet frames: never matched

	Matched      int64 // records emitted
	MatchedBytes int64 // their captured bytes
	// OutOfOrder counts emitted records older than the one emitted
	// before: only files whose own records go back in time make them.
	OutOfOrder int64
	// Limited: MaxPackets or MaxBytes stopped the query; more records
	// may match.
	Limited bool
}

// SkipCounts counts Skipped by reason.
func (s *Stats) SkipCounts() map[string]int {
	m := map[string]int{}
	for _, k := range s.Skipped {
		m[k.Reason]++
	}
	return m
}

// truncated reports whether a read error is the input ending part way
// into a record: a capture still being written, or one cut short.
func truncated(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF)
}
