package sink

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/fastcapa-go/fastcapa/filter"
	"github.com/fastcapa-go/fastcapa/index"
	"github.com/fastcapa-go/fastcapa/store"
)

// Target is one stream of capture files: where they go, how they rotate
// and are named, and which packets they hold. One sink feeds all its
// targets from one consumer, each record read once.
type Target struct {
	// Name labels the target in logs and metrics (default: Store.Dir).
	Name  string
	Store store.Spec
	// Filter keeps the packets it matches, in tcpdump syntax ("" keeps
	// every packet). See Decap and FilterVLAN.
	Filter string
	// FilterVLAN also matches an 802.1Q/802.1ad-tagged frame on its
	// inner packet, so "host 10.0.0.1" finds that host on every VLAN
	// (see package filter for the exact tcpdump equivalent). Off, and
	// without Decap, the filter means exactly what tcpdump makes of the
	// frame.
	FilterVLAN bool
	// Decap matches the filter on the frame's innermost packet
	// (index.Inner: through VLAN tags, MPLS, IP in IP, GRE, ERSPAN,
	// VXLAN, Geneve and GTP-U, as fastcapa's capture.decap), presented as
	// an Ethernet frame; the file keeps the frame as it came. The
	// configuration's default is on, as FMADIO's.
	Decap bool
	// Retention is applied to Store.Dir at the first tick after files
	// are finalized, and once a minute besides.
	Retention store.Retention
	// Upload, if set, sends each finalized file away — key is its path
	// relative to Store.Dir, with '/' — and returns only once it is
	// stored, with the key it is stored under (package objstore's
	// Uploader.Upload, which numbers a key another object holds). The
	// file's sidecar index follows it, under the sidecar name of that
	// key. Store.Dir is then a spool: see upload.go.
	Upload func(ctx context.Context, localPath, key string) (stored string, err error)
	// OnFinalize, if set, runs a command for each finalized file: see
	// command.go. Not with Upload.
	OnFinalize *Command
}

// TargetCounters are one target's counts.
type TargetCounters struct {
	Name    string
	Written uint64 // packets written to its capture files
	// Skipped counts records consumed again (after a commit that did
	// not land, or a disk-full stop) that the target holds already in
	// a finalized file: not written again.
	Skipped  uint64
	Filtered uint64 // packets its filter did not keep
	Files    uint64 // files finalized
	// IndexErrors counts sidecar indexes that could not be written (the
	// file is then scanned whole by queries).
	IndexErrors uint64
	Deleted     uint64 // files deleted by retention
	Uploaded    uint64 // files uploaded (Upload set)
	// UploadErrors counts failed upload attempts (each is tried again).
	UploadErrors uint64
	// Commands counts files whose OnFinalize command exited 0;
	// CommandErrors the attempts that failed (each is tried again);
	// CommandsPending the files whose command has not exited 0 yet.
	Commands, CommandErrors, CommandsPending uint64
}

// target is a Target made live.
type target struct {
	spec  Target
	match *filter.Filter    // nil: every packet
	inner index.InnerWalker // for Decap, in the consumer goroutine

	dir   string        // Store.Dir, absolute
	queue chan *upload  // to the uploader; nil without Upload
	cmds  chan *command // to the command runners; nil without OnFinalize
	// Uploads for queue and commands for cmds, in order, while the
	// channel is full (hand).
	upBacklog  []*upload
	cmdBacklog []*command
	// left: files an earlier run left in the spool, or for OnFinalize
	// files Recover published; until queued.
	left    []string
	journal *journal

	written, skipped, filtered, files, deleted, uploadedFiles, uploadErrors, indexErrors atomic.Uint64
	cmdDone, cmdErrors                                                                   atomic.Uint64
	cmdPending                                                                           atomic.Int64
}

// newTargets validates specs and compiles their filters. Directories
// must be distinct and not nested: retention and recovery each walk a
// target's whole tree.
func newTargets(specs []Target) ([]*target, error) {
	if len(specs) == 0 {
		return nil, fmt.Errorf("no target: give at least one directory to write to")
	}
	var ts []*target
	names := map[string]bool{}
	for i, sp := range specs {
		if err := sp.Store.Validate(); err != nil {
			return nil, fmt.Errorf("target %d: %w", i, err)
		}
		if sp.Name == "" {
			sp.Name = sp.Store.Dir
		}
		if names[sp.Name] {
			return nil, fmt.Errorf("target %d: name %q used twice: give each target its own", i, sp.Name)
		}
		names[sp.Name] = true
		dir, err := filepath.Abs(sp.Store.Dir)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", sp.Name, err)
		}
		for _, o := range ts {
			od, _ := filepath.Abs(o.spec.Store.Dir)
			if within(dir, od) || within(od, dir) {
				return nil, fmt.Errorf("target %s: directory %s overlaps target %s's %s: give each target its own tree", sp.Name, dir, o.spec.Name, od)
			}
		}
		if r := sp.Retention; sp.Upload != nil && (r.MaxBytes != 0 || r.MinFreePct != 0 || r.MaxAge != 0) {
			return nil, fmt.Errorf("target %s: retention deletes local files, and an upload target's are its spool: bound the bucket with its lifecycle rules instead", sp.Name)
		}
		if sp.Upload != nil && sp.OnFinalize != nil {
			return nil, fmt.Errorf("target %s: an upload deletes each file once sent, so it cannot also run a command on it: use on_finalize alone (rclone copies to S3 too), or two targets", sp.Name)
		}
		if c := sp.OnFinalize; c != nil && (len(c.Argv) == 0 || c.Argv[0] == "" || c.Timeout < 0 || c.Concurrency < 0 || c.Concurrency > MaxCommandConcurrency) {
			return nil, fmt.Errorf("target %s: on_finalize: give a command, a timeout of 0 (none) or more, and a concurrency of 1 to %d", sp.Name, MaxCommandConcurrency)
		}
		t := &target{spec: sp, dir: dir}
		if sp.Filter != "" {
			if t.match, err = compileFilter(sp.Filter, sp.FilterVLAN); err != nil {
				return nil, fmt.Errorf("target %s: %w", sp.Name, err)
			}
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// keeps says whether t keeps a packet of the frame data, origLen bytes
// on the wire: t has no filter, or it matches the frame or, with Decap,
// its innermost packet. That packet is presented to the filter as an
// Ethernet frame, as fastcapa's fc_inner_enter presents it: from its own
// Ethernet header, or an IP packet behind the frame's MAC addresses and
// the EtherType of its version, written for the match over the 14 bytes
// before it and put back after (data is the sink's own copy, and the
// file gets it whole). Its length on the wire is origLen less what
// precedes it.
func (t *target) keeps(data []byte, origLen uint32) bool {
	if t.match == nil {
		return true
	}
	if !t.spec.Decap {
		return t.match.Match(data, origLen)
	}
	off, kind, _ := t.inner.Inner(data)
	et := uint16(0x0800)
	switch {
	case kind == index.InnerNone:
		return t.match.Match(data, origLen)
	case kind == index.InnerEthernet:
		return t.match.Match(data[off:], origLen-min(origLen, uint32(off)))
	case kind == index.InnerIPv6:
		et = 0x86dd
	}
	start := off - 14 // >= 4: the IP header follows a removal
	h := data[start:off]
	var saved [14]byte
	copy(saved[:], h)
	copy(h[:12], data[:12]) // memmove: they overlap after one VLAN tag
	binary.BigEndian.PutUint16(h[12:], et)
	ok := t.match.Match(data[start:], origLen-min(origLen, uint32(start)))
	copy(h, saved[:])
	return ok
}

// compileFilter compiles a target's filter for the Ethernet frames the
// sink stores, VLAN-tagged ones matched inside if vlan is set.
func compileFilter(expr string, vlan bool) (*filter.Filter, error) {
	f, err := filter.New(filter.Spec{Expr: expr, LinkType: filter.LinkTypeEthernet, MatchVLAN: vlan})
	if errors.Is(err, filter.ErrMatchVLAN) {
		return nil, fmt.Errorf("%w (set filter_vlan: false, or -filter-vlan=false)", err)
	}
	return f, err
}

// within reports whether path a is b or inside it.
func within(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+string(filepath.Separator))
}

// output is one target's files for one partition.
type output struct {
	t    *target
	w    *store.Writer
	open bool // a file is open: records from durable on may be in it
	// durable: with a file open, every record before it that the target
	// keeps is in a finalized file.
	durable int64
	// skip: records before it are on disk already (they are consumed
	// again after a disk-full stop, or a commit that did not land); 0
	// when nothing is.
	skip int64
	// pending are finalized files not yet uploaded, oldest first.
	pending []pending
	// partition and index say where the output is: Sink.parts[partition].outs[index].
	partition int32
	index     int
}

// stored is o's durable offset, next the partition's: every record
// before it that o's target keeps is in a finalized file (for an upload
// target, an uploaded one).
func (o *output) stored(next int64) int64 {
	d := max(next, o.skip)
	if o.open {
		d = min(d, o.durable)
	}
	if len(o.pending) > 0 {
		d = min(d, o.pending[0].from)
	}
	return d
}
