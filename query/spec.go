package query

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/fastcapa-go/fastcapa/filter"
)

// Errors Run returns wrap one of these (or filter's, for a filter that
// does not compile, or the file system's, for a path that is missing).
var (
	// ErrSpec: the Spec is invalid; the message names the field.
	ErrSpec = errors.New("invalid query")
	// ErrNoCaptures: the paths hold no capture file (Stats.Skipped says
	// what they hold).
	ErrNoCaptures = errors.New("no capture files")
	// ErrIncomplete: some captures could not be read, were corrupt part
	// way, or were cut short (Stats.Failed and Stats.Truncated name them
	// with their errors). Every other file was searched, and a failed
	// file's records before the failure were emitted.
	ErrIncomplete = errors.New("some captures could not be read")
)

// IsInvalid reports whether err says the query itself is wrong, before
// any file was read: the Spec (ErrSpec), or a filter that does not
// compile or cannot be matched here. A caller answers it as bad usage
// (exit 2, HTTP 400), with err's message.
func IsInvalid(err error) bool {
	return errors.Is(err, ErrSpec) || errors.Is(err, filter.ErrCompile) || errors.Is(err, filter.ErrMatchVLAN) ||
		errors.Is(err, filter.ErrKernelOnly)
}

// PayloadMatcher tests a packet's bytes, such as Metron's byte pattern
// (package pattern). Match gets the captured frame, from its first byte;
// it must be safe for concurrent use, and must not keep or modify b.
type PayloadMatcher interface {
	Match(b []byte) bool
}

// Pruner tells, without reading a capture, whether it may hold a match
// (from a sidecar index, for instance). known false means it cannot tell:
// the file is scanned. It is called from several goroutines at once.
type Pruner func(path string) (mayMatch, known bool)

// Spec describes a query.
type Spec struct {
	// Paths are capture files and directories. Directories are walked
	// (Walk): hidden files and directories (the sink's temporary files
	// start with '.'), *.jsonl (dead letters) and *.idx (indexes) are
	// skipped, and so is any file that is clearly not a capture (Sniff:
	// neither named nor indexed like one, nor starting like one). A file
	// named here is read even if hidden, and is a capture. Each skip is
	// in Stats.Skipped; a capture that cannot be read whole is in
	// Stats.Failed or Stats.Truncated. A path that does not exist is an
	// error.
	Paths []string
	// Exclude names files never to read (the query's own output), each
	// counted as skipped.
	Exclude []string
	// Sources are captures besides the files under Paths, each read
	// through its Found.Open and named by its Found.Path in Stats: a
	// failing source makes the answer incomplete as a failing file does.
	// Their records are matched like a file's. A non-nil Sources lets
	// Paths be empty: a caller whose sources listed nothing gets
	// ErrNoCaptures from Run, not ErrSpec.
	Sources []Found

	// Filter is a tcpdump expression ("" keeps every packet), matched
	// with libpcap's meaning by package filter on Ethernet frames.
	// Records of other link types never match; Stats.OtherLinkType
	// counts them.
	Filter string
	// MatchVLAN matches the filter on the packet inside one or two VLAN
	// tags as well (filter.Spec.MatchVLAN): tcpdump keeps the same
	// packets for filter.VLANExpr(Filter).
	MatchVLAN bool
	// Payload, if set, must also accept the frame's bytes.
	Payload PayloadMatcher

	// Start and End bound the packet times, both inclusive, as Metron's
	// PcapJob keeps start ≤ ts ≤ end. The zero Time leaves that side
	// open.
	Start, End time.Time

	// MaxPackets stops the query after that many matches; MaxBytes stops
	// it before the match that would take the matches' captured bytes
	// past it (0: no limit). Stats.Limited tells that one stopped it.
	MaxPackets, MaxBytes int64

	// Workers bounds the goroutines scanning at once (0: GOMAXPROCS).
	Workers int
	// Prune, if set, is asked about each capture before it is opened.
	Prune Pruner
	// Progress, if set, is called about every ProgressEvery (200 ms if
	// 0) while Run scans, from a goroutine of Run's own, never after Run
	// returns and never concurrently with itself.
	Progress      func(Progress)
	ProgressEvery time.Duration
}

// Progress is how far a query has got.
type Progress struct {
	Files, FilesDone int   // captures to scan, and scanned
	Bytes, BytesDone int64 // their size on disk, and bytes read
	Matched          int64 // records emitted
}

// Validate checks the Spec without touching the file system, and compiles
// its filter.
func (s *Spec) Validate() error {
	_, err := s.compile()
	return err
}

// compiled is what Run needs of a Spec.
type compiled struct {
	filter     *filter.Filter // nil: every packet
	start, end int64          // inclusive, ns
	workers    int
	every      time.Duration
}

func (s *Spec) compile() (*compiled, error) {
	if len(s.Paths) == 0 && s.Sources == nil {
		return nil, fmt.Errorf("%w: Paths: name at least one file or directory", ErrSpec)
	}
	if s.MaxPackets < 0 || s.MaxBytes < 0 {
		return nil, fmt.Errorf("%w: MaxPackets and MaxBytes must be 0 (no limit) or more", ErrSpec)
	}
	if s.Workers < 0 {
		return nil, fmt.Errorf("%w: Workers must be 0 (GOMAXPROCS) or more", ErrSpec)
	}
	c := &compiled{start: math.MinInt64, end: math.MaxInt64, workers: s.Workers, every: s.ProgressEvery}
	if !s.Start.IsZero() {
		c.start = s.Start.UnixNano()
	}
	if !s.End.IsZero() {
		c.end = s.End.UnixNano()
	}
	if c.start > c.end {
		return nil, fmt.Errorf("%w: Start %s is after End %s", ErrSpec, s.Start.Format(time.RFC3339Nano), s.End.Format(time.RFC3339Nano))
	}
	if c.workers == 0 {
		c.workers = runtime.GOMAXPROCS(0)
	}
	if c.every <= 0 {
		c.every = 200 * time.Millisecond
	}
	if strings.TrimSpace(s.Filter) != "" {
		f, err := filter.New(filter.Spec{Expr: s.Filter, LinkType: filter.LinkTypeEthernet, MatchVLAN: s.MatchVLAN})
		if err != nil {
			return nil, err
		}
		c.filter = f
	}
	return c, nil
}
