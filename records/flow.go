package records

import (
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fastcapa-go/fastcapa/index"
)

// Flow is one flow record: a bidirectional flow's endpoints, its first
// and last packet, its packets and bytes each way, the TCP flags seen
// each way and how it ended. The originator is the sender of the first
// packet seen (the receiver if that packet was a TCP SYN-ACK).
type Flow struct {
	// UID names the flow across its records: a flow cut by the active
	// timeout, or written open at shutdown and continued after a
	// restart, keeps it.
	UID         string `parquet:"uid,dict" json:"uid"`
	CommunityID string `parquet:"community_id,dict" json:"community_id"`
	// FirstTs and LastTs are the first and last packet's times to the
	// microsecond (as Packet.Ts); First and Last the same in ns. The
	// flow topic carries them as text (FlowJSON); the json tags are the
	// topic's names.
	FirstTs   int64  `parquet:"first_ts,timestamp(microsecond:utc)" json:"-"`
	LastTs    int64  `parquet:"last_ts,timestamp(microsecond:utc)" json:"-"`
	First     int64  `parquet:"first_ns" json:"-"`
	Last      int64  `parquet:"last_ns" json:"-"`
	VLAN      *int32 `parquet:"vlan,optional" json:"vlan,omitempty"`
	InnerVLAN *int32 `parquet:"inner_vlan,optional" json:"inner_vlan,omitempty"`
	IPVersion int32  `parquet:"ip_version" json:"ip_version"`
	Proto     int32  `parquet:"proto" json:"proto"`
	OrigAddr  string `parquet:"orig_addr,dict" json:"orig_addr"`
	OrigPort  *int32 `parquet:"orig_port,optional" json:"orig_port,omitempty"`
	RespAddr  string `parquet:"resp_addr,dict" json:"resp_addr"`
	RespPort  *int32 `parquet:"resp_port,optional" json:"resp_port,omitempty"`
	// ICMPType and ICMPCode are the first ICMP packet's.
	ICMPType *int32 `parquet:"icmp_type,optional" json:"icmp_type,omitempty"`
	ICMPCode *int32 `parquet:"icmp_code,optional" json:"icmp_code,omitempty"`
	// Tunnel, OuterOrig and OuterResp: the outermost IP header of the
	// flow's packets when tunnelled (part of the flow's key).
	Tunnel    *string `parquet:"tunnel,optional,dict" json:"tunnel,omitempty"`
	OuterOrig *string `parquet:"outer_orig,optional,dict" json:"outer_orig,omitempty"`
	OuterResp *string `parquet:"outer_resp,optional,dict" json:"outer_resp,omitempty"`

	OrigPackets int64 `parquet:"orig_packets" json:"orig_packets"`
	OrigBytes   int64 `parquet:"orig_bytes" json:"orig_bytes"`
	RespPackets int64 `parquet:"resp_packets" json:"resp_packets"`
	RespBytes   int64 `parquet:"resp_bytes" json:"resp_bytes"`
	// OrigFlags and RespFlags are the TCP flags seen each way, or-ed.
	OrigFlags *int32 `parquet:"orig_tcp_flags,optional" json:"orig_tcp_flags,omitempty"`
	RespFlags *int32 `parquet:"resp_tcp_flags,optional" json:"resp_tcp_flags,omitempty"`
	// State is Zeek's conn_state for TCP (S0, S1, SF, REJ, S2, S3,
	// RSTO, RSTR, RSTOS0, RSTRH, SH, SHR, OTH), null otherwise.
	State *string `parquet:"state,optional,dict" json:"state,omitempty"`
	// End says why the record was written: "idle" (the idle timeout),
	// "closed" (TCP's FINs or a RST, after the close delay), "active"
	// (the active timeout: the flow goes on in a next record with the
	// same UID), "end" (the input ended: files read once), or "open"
	// (written at shutdown; continued after a restart).
	End string `parquet:"end,dict" json:"end"`
	// Sources are the captures (or partitions) the flow's packets were
	// read from, in order of first use.
	Sources []string `parquet:"sources,list" json:"sources"`
}

// Timeouts decide when a flow's record is written.
type Timeouts struct {
	// Idle: no packet for this long (packet time). Default 60 s.
	Idle time.Duration
	// Active: the flow has lasted this long; its record is written and
	// it goes on in a new one. Default 30 min.
	Active time.Duration
	// Close: a TCP flow whose FINs were both seen, or that saw a RST, is
	// written after this long without a packet. Default 5 s.
	Close time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	if t.Idle <= 0 {
		t.Idle = time.Minute
	}
	if t.Active <= 0 {
		t.Active = 30 * time.Minute
	}
	if t.Close <= 0 {
		t.Close = 5 * time.Second
	}
	return t
}

// flowKey is a flow's identity: the endpoints ordered as Community ID
// orders them, the protocol, the outer VLAN tags and the outermost IP
// header's addresses (ordered) when tunnelled.
type flowKey struct {
	a, b         netip.Addr
	aPort, bPort uint16
	proto        uint8
	ports        bool
	vlans        [2]uint16
	nVLANs       uint8
	outerA       netip.Addr
	outerB       netip.Addr
	tunnel       uint8
}

// TCP flags.
const (
	tcpFIN = 1 << iota
	tcpSYN
	tcpRST
	tcpPSH
	tcpACK
)

type flowState struct {
	Flow
	origAddr netip.Addr
	origPort uint16
	ports    bool
	flags    [2]uint16 // TCP flags per direction: 0 orig → resp, 1 resp → orig
	closed   bool      // TCP: both FINs or a RST seen
	vals     struct {
		vlan, innerVLAN, origPort, respPort, icmpType, icmpCode, origFlags, respFlags int32
		tunnel, outerOrig, outerResp, state                                           string
	}
}

// Table aggregates decoded packets into flows, by packet time, and hands
// each flow's record to emit when it ends (Timeouts) or when Flush is
// called. It is not safe for concurrent use.
type Table struct {
	t       Timeouts
	emit    func(*Flow)
	flows   map[flowKey]*flowState
	now     int64 // the latest packet time seen
	swept   int64
	nextUID uint64
	uidBase string
}

// NewTable returns a Table writing each ended flow through emit, which
// must not keep the *Flow.
func NewTable(t Timeouts, emit func(*Flow)) *Table {
	return &Table{t: t.withDefaults(), emit: emit, flows: map[flowKey]*flowState{}, uidBase: newUIDBase()}
}

// Len returns the number of open flows.
func (t *Table) Len() int { return len(t.flows) }

// Add counts d in its flow, opening one if needed, and returns the
// flow's Community ID: "" for a packet without an IP header, which
// belongs to no flow. It first writes the flows that ended by d's time.
func (t *Table) Add(d *Decoded) string {
	if d.Ts > t.now {
		t.now = d.Ts
		if t.now-t.swept >= int64(time.Second) {
			t.expire(t.now)
			t.swept = t.now
		}
	}
	l := d.Inner()
	if l == nil {
		return ""
	}
	tr := &l.Transport
	src, dst := l.Src, l.Dst
	var sport, dport uint16
	ports, oneWay := false, false
	switch tr.Proto {
	case 6, 17, 132:
		ports, sport, dport = tr.Ports, tr.SrcPort, tr.DstPort
	case 1, 58:
		if tr.ICMP {
			ports = true
			sport, dport, oneWay = icmpPorts(tr.Proto, tr.Type, tr.Code)
		}
	}
	k := flowKey{a: src, b: dst, aPort: sport, bPort: dport, proto: tr.Proto, ports: ports,
		vlans: d.Frame.VLANs, nVLANs: uint8(d.Frame.NVLANs)}
	if c := src.Compare(dst); !oneWay && (c > 0 || c == 0 && sport > dport) {
		k.a, k.b, k.aPort, k.bPort = dst, src, dport, sport
	}
	o := d.Outer()
	if o != nil {
		k.outerA, k.outerB, k.tunnel = o.Src, o.Dst, o.Transport.Proto
		if k.outerA.Compare(k.outerB) > 0 {
			k.outerA, k.outerB = k.outerB, k.outerA
		}
	}
	f := t.flows[k]
	if f == nil {
		f = t.open(k, d, l, o)
	}
	if f.OrigPackets+f.RespPackets == 0 {
		f.First = d.Ts // a flow's next part starts at its first packet
	}
	dir := 0
	if src != f.origAddr || f.ports && src == dst && sport != f.origPort {
		dir = 1
	}
	if dir == 0 {
		f.OrigPackets++
		f.OrigBytes += int64(d.Length)
	} else {
		f.RespPackets++
		f.RespBytes += int64(d.Length)
	}
	f.Last = max(f.Last, d.Ts)
	if tr.Proto == 6 && tr.TCP {
		f.flags[dir] |= tr.TCPFlags
		if tr.TCPFlags&tcpRST != 0 || f.flags[0]&tcpFIN != 0 && f.flags[1]&tcpFIN != 0 {
			f.closed = true
		}
	}
	if n := len(f.Sources); n == 0 || f.Sources[n-1] != d.Source && !slices.Contains(f.Sources, d.Source) {
		f.Sources = append(f.Sources, d.Source)
	}
	if d.Ts-f.First >= int64(t.t.Active) {
		t.write(f, "active")
		t.restart(f)
	}
	return f.CommunityID
}

// open starts the flow of d's packet, key k.
func (t *Table) open(k flowKey, d *Decoded, l, o *index.Layer) *flowState {
	tr := &l.Transport
	f := &flowState{origAddr: l.Src, ports: k.ports}
	orig, resp := l.Src, l.Dst
	sport, dport := tr.SrcPort, tr.DstPort
	if tr.Proto == 6 && tr.TCP && tr.TCPFlags&(tcpSYN|tcpACK) == tcpSYN|tcpACK {
		// A SYN-ACK first: its receiver opened the connection.
		orig, resp, sport, dport = resp, orig, dport, sport
	}
	f.origAddr, f.origPort = orig, sport
	t.nextUID++
	f.Flow = Flow{
		UID:       t.uidBase + strconv.FormatUint(t.nextUID, 36),
		First:     d.Ts,
		Last:      d.Ts,
		IPVersion: int32(l.Version),
		Proto:     int32(tr.Proto),
		OrigAddr:  orig.String(),
		RespAddr:  resp.String(),
	}
	v := &f.vals
	switch {
	case tr.Proto == 1 || tr.Proto == 58:
		if tr.ICMP {
			v.icmpType, f.ICMPType = int32(tr.Type), &v.icmpType
			v.icmpCode, f.ICMPCode = int32(tr.Code), &v.icmpCode
			f.CommunityID = CommunityID(l.Src, l.Dst, tr.Proto, uint16(tr.Type), uint16(tr.Code), true)
		} else {
			f.CommunityID = CommunityID(l.Src, l.Dst, tr.Proto, 0, 0, false)
		}
	default:
		if k.ports {
			v.origPort, f.OrigPort = int32(sport), &v.origPort
			v.respPort, f.RespPort = int32(dport), &v.respPort
		}
		f.CommunityID = CommunityID(orig, resp, tr.Proto, sport, dport, k.ports)
	}
	if d.Frame.NVLANs > 0 {
		v.vlan, f.VLAN = int32(d.Frame.VLANs[0]), &v.vlan
	}
	if d.Frame.NVLANs > 1 {
		v.innerVLAN, f.InnerVLAN = int32(d.Frame.VLANs[1]), &v.innerVLAN
	}
	if o != nil {
		v.tunnel, f.Tunnel = TunnelName(o), &v.tunnel
		oo, or := o.Src, o.Dst
		if orig != l.Src {
			oo, or = or, oo
		}
		v.outerOrig, f.OuterOrig = oo.String(), &v.outerOrig
		v.outerResp, f.OuterResp = or.String(), &v.outerResp
	}
	t.flows[k] = f
	return f
}

// restart empties f's counters after a record of part of it (active
// timeout, shutdown): the flow goes on, its UID kept, its next part
// from its next packet.
func (t *Table) restart(f *flowState) {
	f.OrigPackets, f.OrigBytes, f.RespPackets, f.RespBytes = 0, 0, 0, 0
	f.Sources = nil
}

// expire writes the flows that ended by now, oldest first.
func (t *Table) expire(now int64) {
	var ended []*flowState
	for k, f := range t.flows {
		idle := now - f.Last
		switch {
		case f.closed && idle >= int64(t.t.Close):
			f.End = "closed"
		case idle >= int64(t.t.Idle):
			f.End = "idle"
		default:
			continue
		}
		ended = append(ended, f)
		delete(t.flows, k)
	}
	slices.SortFunc(ended, byFirst)
	for _, f := range ended {
		t.write(f, f.End)
	}
}

// Flush writes every open flow's record with End "end" (the input
// ended) and forgets them.
func (t *Table) Flush() {
	for _, f := range t.sorted() {
		if f.OrigPackets+f.RespPackets > 0 {
			t.write(f, "end")
		}
	}
	clear(t.flows)
}

// Cut writes the part of every open flow since its last record with End
// "open" and keeps the flows, their counts emptied: at shutdown, before
// the table is saved (Save) to go on after a restart. A flow's records
// are disjoint parts: its packets and bytes are their sums by UID.
func (t *Table) Cut() {
	for _, f := range t.sorted() {
		if f.OrigPackets+f.RespPackets > 0 {
			t.write(f, "open")
			t.restart(f)
		}
	}
}

// sorted returns the open flows by first packet, then UID.
func (t *Table) sorted() []*flowState {
	fs := make([]*flowState, 0, len(t.flows))
	for _, f := range t.flows {
		fs = append(fs, f)
	}
	slices.SortFunc(fs, byFirst)
	return fs
}

func byFirst(a, b *flowState) int {
	return cmp.Or(cmp.Compare(a.First, b.First), strings.Compare(a.UID, b.UID))
}

// write hands f's record to emit.
func (t *Table) write(f *flowState, end string) {
	v := &f.vals
	f.OrigFlags, f.RespFlags, f.State = nil, nil, nil
	if f.Proto == 6 {
		v.origFlags, f.OrigFlags = int32(f.flags[0]), &v.origFlags
		v.respFlags, f.RespFlags = int32(f.flags[1]), &v.respFlags
		v.state, f.State = tcpState(f.flags[0], f.flags[1]), &v.state
	}
	f.End = end
	f.FirstTs, f.LastTs = f.First/1000, f.Last/1000
	t.emit(&f.Flow)
}

// tcpState is Zeek's conn_state from the flags each side sent.
func tcpState(orig, resp uint16) string {
	oSYN, rSYN := orig&tcpSYN != 0, resp&tcpSYN != 0
	oFIN, rFIN := orig&tcpFIN != 0, resp&tcpFIN != 0
	oRST, rRST := orig&tcpRST != 0, resp&tcpRST != 0
	switch {
	case oSYN && rSYN: // established
		switch {
		case oRST:
			return "RSTO"
		case rRST:
			return "RSTR"
		case oFIN && rFIN:
			return "SF"
		case oFIN:
			return "S2"
		case rFIN:
			return "S3"
		}
		return "S1"
	case oSYN:
		switch {
		case oRST:
			return "RSTOS0"
		case rRST:
			return "REJ"
		case oFIN:
			return "SH"
		}
		return "S0"
	case rSYN:
		switch {
		case rRST:
			return "RSTRH"
		case rFIN:
			return "SHR"
		}
	}
	return "OTH"
}

// newUIDBase returns a random prefix for this table's flow UIDs: "F"
// and 10 base-36 digits, then the flow's number in base 36.
func newUIDBase() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "F" + strconv.FormatUint(binary.BigEndian.Uint64(b[:])%3656158440062976, 36) + "-"
}

// clone returns a copy of f that shares nothing with it.
func (f *Flow) clone() Flow {
	c := *f
	c.VLAN = clonePtr(f.VLAN)
	c.InnerVLAN = clonePtr(f.InnerVLAN)
	c.OrigPort = clonePtr(f.OrigPort)
	c.RespPort = clonePtr(f.RespPort)
	c.ICMPType = clonePtr(f.ICMPType)
	c.ICMPCode = clonePtr(f.ICMPCode)
	c.Tunnel = clonePtr(f.Tunnel)
	c.OuterOrig = clonePtr(f.OuterOrig)
	c.OuterResp = clonePtr(f.OuterResp)
	c.OrigFlags = clonePtr(f.OrigFlags)
	c.RespFlags = clonePtr(f.RespFlags)
	c.State = clonePtr(f.State)
	c.Sources = slices.Clone(f.Sources)
	return c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// TableState is a Table saved to go on after a restart: its open flows
// and its packet clock.
type TableState struct {
	Now   int64       `json:"now"`
	Swept int64       `json:"swept"`
	Flows []savedFlow `json:"flows"`
}

// savedFlow is an open flow as saved: its record so far, its key, and
// what the table keeps beside them. The record is a field of its own,
// not embedded: its Proto, OrigAddr, OrigPort and Tunnel would be
// shadowed by the key's fields of those names, and lost.
type savedFlow struct {
	Flow         Flow
	First, Last  int64 // the record's, which its JSON leaves out
	A, B         netip.Addr
	APort, BPort uint16
	Proto        uint8
	HasPorts     bool
	VLANs        [2]uint16
	NVLANs       uint8
	OuterA       netip.Addr
	OuterB       netip.Addr
	Tunnel       uint8
	OrigAddr     netip.Addr
	OrigPort     uint16
	Flags        [2]uint16
	Closed       bool
}

// Save returns the table's open flows and clock.
func (t *Table) Save() *TableState {
	st := &TableState{Now: t.now, Swept: t.swept}
	keys := make(map[*flowState]flowKey, len(t.flows))
	for k, f := range t.flows {
		keys[f] = k
	}
	for _, f := range t.sorted() {
		k := keys[f]
		st.Flows = append(st.Flows, savedFlow{Flow: f.clone(), First: f.First, Last: f.Last, A: k.a, B: k.b, APort: k.aPort, BPort: k.bPort, Proto: k.proto,
			HasPorts: k.ports, VLANs: k.vlans, NVLANs: k.nVLANs, OuterA: k.outerA, OuterB: k.outerB, Tunnel: k.tunnel,
			OrigAddr: f.origAddr, OrigPort: f.origPort, Flags: f.flags, Closed: f.closed})
	}
	return st
}

// Restore puts back the flows and clock Save returned, replacing any.
func (t *Table) Restore(st *TableState) {
	clear(t.flows)
	if st == nil {
		return
	}
	t.now, t.swept = st.Now, st.Swept
	for _, s := range st.Flows {
		k := flowKey{a: s.A, b: s.B, aPort: s.APort, bPort: s.BPort, proto: s.Proto, ports: s.HasPorts,
			vlans: s.VLANs, nVLANs: s.NVLANs, outerA: s.OuterA, outerB: s.OuterB, tunnel: s.Tunnel}
		fl := s.Flow
		fl.First, fl.Last = s.First, s.Last
		t.flows[k] = &flowState{Flow: fl, origAddr: s.OrigAddr, origPort: s.OrigPort, ports: s.HasPorts,
			flags: s.Flags, closed: s.Closed}
	}
}
