package query

import (
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// fmadioName is FMADIO's file name, which pcapstore sink writes with the
// template "{start}-{end}.pcap": the first and latest packet's epoch
// seconds, then an extension and maybe a compression suffix.
var fmadioName = regexp.MustCompile(`^([0-9]{10})-([0-9]{10})\.pcap(ng)?(\.(gz|zst|lz4))?$`)

// NameEnd reads the time a file's packets end by from its name, when the
// name says it: FMADIO's "{start}-{end}.pcap" names, whose {end} is the
// latest packet's second (store resolves it at Finalize from the
// greatest time in the file), so no packet of the file is later than the
// end of that second.
//
// A name's start is not used: store names a file by its first packet,
// and a later packet may be earlier (a file keeps arrival order). Nor
// are Metron's names (pcap_{topic}_{ts}_...): {ts} is a first packet
// too. The sidecar index has both bounds exactly.
func NameEnd(path string) (end time.Time, ok bool) {
	m := fmadioName.FindStringSubmatch(filepath.Base(path))
	if m == nil {
		return time.Time{}, false
	}
	start, _ := strconv.ParseInt(m[1], 10, 64)
	last, _ := strconv.ParseInt(m[2], 10, 64)
	if last < start {
		return time.Time{}, false
	}
	return time.Unix(last, 999_999_999), true
}

// NamePruner prunes the files whose name says they end before start
// (NameEnd), and asks next (if any) about the others.
func NamePruner(start time.Time, next Pruner) Pruner {
	if start.IsZero() {
		return next
	}
	return func(path string) (mayMatch, known bool) {
		if end, ok := NameEnd(path); ok && end.Before(start) {
			return false, true
		}
		if next == nil {
			return true, false
		}
		return next(path)
	}
}
