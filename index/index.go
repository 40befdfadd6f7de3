package index

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"time"

	"github.com/fastcapa-go/fastcapa/pcap"
)

// Index summarises one capture file: when its packets were taken, how
// many there are, and the addresses, ports and IP protocols they carry
// at any layer the walk reads (see Constraints.Match).
type Index struct {
	// First and Last are the earliest and latest packet times, ns since
	// the epoch, as stored in the file; both 0 when it has no packets.
	First, Last int64
	Packets     int64

	// CaptureSize and CaptureModTime (ns since the epoch) identify the
	// capture file the index describes: Save sets them from the file
	// when they are 0 (an index from a Builder), BuildFile from the file
	// it read, and Load refuses an index whose capture no longer matches
	// (ErrStale).
	CaptureSize    int64
	CaptureModTime int64

	protos [4]uint64 // bit p: IP protocol p
	ports  portSet
	addrs  addrSet
}

// ErrStale means an index does not describe its capture file as it is
// now: the file's size or modification time differ from those the index
// was built for (or the index was never bound to a file). Scan the file,
// or index it again.
var ErrStale = errors.New("index does not match its capture file")

// Constraints select packets: those taken between From and To
// (inclusive) that carry one of Hosts, one of Ports and one of
// Protocols. A zero time and an empty list constrain nothing: the zero
// Constraints select every packet.
//
// A host matches as an address anywhere in a packet: source or
// destination, outer or inner header. An IPv4 address and its
// IPv4-mapped IPv6 form (::ffff:a.b.c.d) are the same host; an IPv6
// zone is ignored. Hosts, Ports and Protocols are each matched on their
// own, so a packet whose outer header has a host and whose inner header
// has a port matches both.
type Constraints struct {
	From, To  time.Time
	Hosts     []netip.Addr
	Ports     []uint16 // TCP, UDP, UDP-Lite or SCTP, source or destination
	Protocols []uint8  // IP protocol numbers (IPv4 protocol, IPv6 next header)
}

// Validate reports a host that is not an address and a time range that
// ends before it starts. An invalid host matches nothing.
func (q *Constraints) Validate() error {
	for i, h := range q.Hosts {
		if !h.IsValid() {
			return fmt.Errorf("host %d: not an IP address", i)
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
		return fmt.Errorf("time range %s to %s ends before it starts", q.From, q.To)
	}
	return nil
}

// span is the time range in ns, inclusive.
func (q *Constraints) span() (from, to int64) {
	from, to = math.MinInt64, math.MaxInt64
	if !q.From.IsZero() {
		from = nanos(q.From)
	}
	if !q.To.IsZero() {
		to = nanos(q.To)
	}
	return from, to
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// nanos is t in ns since the epoch, clamped to int64.
func nanos(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

func hostKey(a netip.Addr) key {
	b := a.As16()
	return key6(b[:])
}

// Match reports whether the packet rec is one q selects: rec.Timestamp
// is within the time range, and each non-empty list has a member in the
// packet's headers as the walk reads them: the addresses of every IPv4
// and IPv6 header and of ARP, the ports of every TCP, UDP, UDP-Lite and
// SCTP header, the protocol of every IPv4 header and the next header of
// every IPv6 header and extension header; through VLAN tags, MPLS,
// PPPoE, LLC/SNAP, clear MACsec, Arista timestamps, Cisco MetaData and
// NSH, and into IP in IP, GRE (with ERSPAN and PPTP), EtherIP, MPLS in
// IP, PIM registers, VXLAN, VXLAN-GPE, Geneve, GTP-U and the packet an
// ICMP or ICMPv6 error quotes, up to 7 levels of encapsulation (decode.go
// says exactly what). The link types it reads are Ethernet, raw IP,
// Linux cooked (SLL, SLL2), BSD loopback and PPP; a packet of another
// link type has no headers, so only the zero lists select it. Note that
// a Record made by hand with LinkType 0 is BSD loopback, not Ethernet.
//
// Match is the meaning of "a packet that matches" in MayMatch's
// promise. It allocates nothing and is safe on any bytes.
func (q *Constraints) Match(rec pcap.Record) bool {
	from, to := q.span()
	if rec.Timestamp < from || rec.Timestamp > to {
		return false
	}
	if len(q.Hosts) == 0 && len(q.Ports) == 0 && len(q.Protocols) == 0 {
		return true
	}
	var h headers
	h.link(rec.LinkType, rec.Data)
	return q.matchHeaders(&h)
}

func (q *Constraints) matchHeaders(h *headers) bool {
	if len(q.Protocols) > 0 && !anyOf(q.Protocols, func(p uint8) bool { return h.protos[p>>6]&(1<<(p&63)) != 0 }) {
		return false
	}
	if len(q.Ports) > 0 && !anyOf(q.Ports, func(p uint16) bool {
		for _, x := range h.ports[:h.nPorts] {
			if x == p {
				return true
			}
		}
		return false
	}) {
		return false
	}
	if len(q.Hosts) > 0 && !anyOf(q.Hosts, func(a netip.Addr) bool {
		if !a.IsValid() {
			return false
		}
		k := hostKey(a)
		for _, x := range h.addrs[:h.nAddrs] {
			if x == k {
				return true
			}
		}
		return false
	}) {
		return false
	}
	return true
}

func anyOf[T any](list []T, fn func(T) bool) bool {
	for _, v := range list {
		if fn(v) {
			return true
		}
	}
	return false
}

// MayMatch reports whether the file ix describes may hold a packet q
// matches (Constraints.Match). It never returns false for a file that
// holds one: no false negatives. It returns true for a file that holds
// none only when an address filter answers for an address that is not
// in the file (a false positive, at the rate Stats.AddressFPR gives), or
// when the file's packets carry q's hosts, ports and protocols and its
// times overlap q's range, but no single packet has all of them.
func (ix *Index) MayMatch(q Constraints) bool {
	if ix.Packets == 0 {
		return false
	}
	from, to := q.span()
	if ix.Last < from || ix.First > to {
		return false
	}
	if len(q.Protocols) > 0 && !anyOf(q.Protocols, func(p uint8) bool { return ix.protos[p>>6]&(1<<(p&63)) != 0 }) {
		return false
	}
	if len(q.Ports) > 0 && !anyOf(q.Ports, ix.ports.has) {
		return false
	}
	if len(q.Hosts) > 0 && !anyOf(q.Hosts, func(a netip.Addr) bool { return a.IsValid() && ix.addrs.has(hostKey(a)) }) {
		return false
	}
	return true
}

// Stats describe an index's summaries.
type Stats struct {
	// Addresses is the number of distinct addresses: exact, or with a
	// Bloom filter, those that set a bit in it as they were added (a
	// few fewer than the distinct addresses when the filter is full).
	Addresses      int
	AddressesExact bool
	// AddressFPR is the probability that the address summary reports
	// an address that is not in the file: 0 when exact, else the
	// filter's rate computed from its bits.
	AddressFPR  float64
	FilterBytes int // the Bloom filter's size, 0 when exact
	Ports       int // distinct ports, always exact
	Protocols   int // distinct IP protocols, always exact
	Bytes       int // the encoded index, as Save writes it
}

// Stats describes ix.
func (ix *Index) Stats() Stats {
	st := Stats{
		Addresses:      int(ix.addrs.count),
		AddressesExact: ix.addrs.bloom == nil,
		AddressFPR:     ix.addrs.fpr(),
		FilterBytes:    4 * len(ix.addrs.bloom),
		Ports:          ix.ports.count,
		Bytes:          ix.encodedLen(),
	}
	for _, w := range ix.protos {
		st.Protocols += bits.OnesCount64(w)
	}
	return st
}

// Builder builds the index of one capture file from its packets, as
// they are written. The zero Builder is ready; Reset makes it ready for
// the next file and keeps its memory (about 90 KiB). A Builder is for
// one goroutine.
type Builder struct {
	packets     int64
	first, last int64
	protos      [4]uint64
	ports       [portWords]uint64
	nPorts      int
	addrs       addrBuilder
	h           headers
}

// Add records one Ethernet frame taken at tsNanos. tsNanos must be the
// time as stored in the file (cut to microseconds for a file of
// microsecond precision), and frame the bytes stored or more of them:
// an index built from fuller frames only holds more. Add allocates
// nothing (once the Builder's tables exist) and keeps no reference to
// frame.
func (b *Builder) Add(tsNanos int64, frame []byte) {
	b.h.reset()
	b.h.ether(frame, 0)
	b.absorb(tsNanos)
}

// AddRecord records rec, of any link type (see Constraints.Match).
func (b *Builder) AddRecord(rec pcap.Record) {
	b.h.reset()
	b.h.link(rec.LinkType, rec.Data)
	b.absorb(rec.Timestamp)
}

func (b *Builder) absorb(ts int64) {
	if b.packets == 0 {
		b.first, b.last = ts, ts
	} else {
		b.first = min(b.first, ts)
		b.last = max(b.last, ts)
	}
	b.packets++
	h := &b.h
	for i := range b.protos {
		b.protos[i] |= h.protos[i]
	}
	for _, p := range h.ports[:h.nPorts] {
		w, m := &b.ports[p>>6], uint64(1)<<(p&63)
		if *w&m == 0 {
			*w |= m
			b.nPorts++
		}
	}
	for _, k := range h.addrs[:h.nAddrs] {
		b.addrs.add(k)
	}
}

// Packets is the number of packets added since the last Reset.
func (b *Builder) Packets() int64 { return b.packets }

// Index returns the index of what was added since the last Reset. The
// Builder is unchanged: it can go on adding.
func (b *Builder) Index() *Index {
	return &Index{
		First:   b.first,
		Last:    b.last,
		Packets: b.packets,
		protos:  b.protos,
		ports:   portSetOf(&b.ports, b.nPorts),
		addrs:   b.addrs.set(),
	}
}

// Reset forgets what was added.
func (b *Builder) Reset() {
	b.packets, b.first, b.last = 0, 0, 0
	b.protos = [4]uint64{}
	if b.nPorts > 0 {
		clear(b.ports[:])
		b.nPorts = 0
	}
	b.addrs.reset()
}
