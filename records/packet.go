package records

import (
	"net/netip"

	"github.com/fastcapa-go/fastcapa/index"
)

// SchemaVersion is the version of the packet and flow schemas, in every
// file's key-value metadata under MetaSchema. A change that renames,
// retypes or removes a column raises it; adding a column does not.
const SchemaVersion = "1"

// The key-value metadata of every file written.
const (
	MetaSchema = "fastcapa.records.schema" // "packets/1", "flows/1"
)

// Packet is one packet's row. A column that the packet does not have
// (no IP header, no ports, no TCP) is null. With a tunnel, the IP
// columns are the innermost header's and outer_* the outermost's.
type Packet struct {
	// Ts is the capture time as a timestamp to the microsecond (UTC):
	// the precision every engine reads (Spark and Drill refuse
	// Parquet's nanosecond timestamps); TsNs is the same time exactly,
	// ns since the epoch.
	Ts   int64 `parquet:"ts,timestamp(microsecond:utc)"`
	TsNs int64 `parquet:"ts_ns"`
	// CapLen is the bytes captured, Length the bytes on the wire.
	CapLen int32 `parquet:"caplen"`
	Length int32 `parquet:"length"`
	// VLAN and InnerVLAN are the IDs of the first two VLAN tags of the
	// frame (802.1ad's service tag, then the customer tag).
	VLAN      *int32 `parquet:"vlan,optional"`
	InnerVLAN *int32 `parquet:"inner_vlan,optional"`

	IPVersion  *int32  `parquet:"ip_version,optional"`
	Src        *string `parquet:"src,optional,dict"`
	Dst        *string `parquet:"dst,optional,dict"`
	Proto      *int32  `parquet:"proto,optional"`
	SrcPort    *int32  `parquet:"src_port,optional"`
	DstPort    *int32  `parquet:"dst_port,optional"`
	TTL        *int32  `parquet:"ttl,optional"`
	IPLength   *int32  `parquet:"ip_length,optional"`
	IPFlags    *int32  `parquet:"ip_flags,optional"`
	FragOffset *int32  `parquet:"frag_offset,optional"`
	TCPSeq     *int64  `parquet:"tcp_seq,optional"`
	TCPAck     *int64  `parquet:"tcp_ack,optional"`
	TCPFlags   *int32  `parquet:"tcp_flags,optional"`
	ICMPType   *int32  `parquet:"icmp_type,optional"`
	ICMPCode   *int32  `parquet:"icmp_code,optional"`

	// Tunnel names the outermost encapsulation (TunnelName) when the
	// frame holds more than one IP header; OuterSrc, OuterDst and
	// OuterProto are that outermost header's.
	Tunnel     *string `parquet:"tunnel,optional,dict"`
	OuterSrc   *string `parquet:"outer_src,optional,dict"`
	OuterDst   *string `parquet:"outer_dst,optional,dict"`
	OuterProto *int32  `parquet:"outer_proto,optional"`

	// CommunityID is the packet's flow's Community ID: of its flow
	// record too.
	CommunityID *string `parquet:"community_id,optional,dict"`

	// Source is where the packet was read: a capture file's path, or
	// "kafka:TOPIC/PARTITION"; Position is its 1-based record number in
	// the file, or its offset in the partition.
	Source   string `parquet:"source,dict"`
	Position int64  `parquet:"position"`
}

// Decoded is a packet as Decode reads it, before it becomes a row.
type Decoded struct {
	Ts       int64
	CapLen   int
	Length   uint32 // on the wire: at least CapLen
	Frame    index.Frame
	Source   string
	Position int64
}

// Decode reads a record of linkType through index.Decode.
func Decode(ts int64, origLen uint32, linkType uint32, data []byte, source string, position int64) Decoded {
	d := Decoded{Ts: ts, CapLen: len(data), Length: max(origLen, uint32(len(data))), Source: source, Position: position}
	d.Frame = index.Decode(linkType, data)
	return d
}

// Inner returns the innermost IP header, or nil.
func (d *Decoded) Inner() *index.Layer {
	if d.Frame.N == 0 {
		return nil
	}
	return &d.Frame.Layers[d.Frame.N-1]
}

// Outer returns the outermost IP header when there is more than one.
func (d *Decoded) Outer() *index.Layer {
	if d.Frame.N < 2 {
		return nil
	}
	return &d.Frame.Layers[0]
}

// TunnelName names the encapsulation an outermost IP header l starts:
// by its protocol, and for UDP by the port the walk entered it by
// (index.TunnelPort).
func TunnelName(l *index.Layer) string {
	t := l.Transport
	switch t.Proto {
	case 4, 41:
		return "ip-in-ip"
	case 47:
		return "gre"
	case 97:
		return "etherip"
	case 137:
		return "mpls-in-ip"
	case 103:
		return "pim"
	case 51:
		return "ah"
	case 17:
		port, _ := index.TunnelPort(t.SrcPort, t.DstPort)
		switch port {
		case 4789:
			return "vxlan"
		case 4790:
			return "vxlan-gpe"
		case 6081:
			return "geneve"
		case 2152:
			return "gtp-u"
		}
	}
	return "other"
}

// packetVals holds the values a Packet row's pointers point to, so that
// rows cost no allocation beyond their strings.
type packetVals struct {
	vlan, innerVLAN, ipVersion, proto, sport, dport, ttl, ipLen, ipFlags, frag,
	tcpFlags, icmpType, icmpCode, outerProto int32
	seq, ack                                        int64
	src, dst, tunnel, outerSrc, outerDst, community string
}

// addrNames renders addresses as text, remembering the last few
// thousand: a capture's packets repeat their hosts, and a string per
// address per packet was a quarter of a row's cost.
type addrNames map[netip.Addr]string

const maxAddrNames = 4096

func (m *addrNames) name(a netip.Addr) string {
	if s, ok := (*m)[a]; ok {
		return s
	}
	if *m == nil || len(*m) >= maxAddrNames {
		*m = make(addrNames, maxAddrNames)
	}
	s := a.String()
	(*m)[a] = s
	return s
}

// fill makes r the row of d, its values in v, its addresses named
// through names; cid is its flow's Community ID ("" for none).
func (r *Packet) fill(d *Decoded, v *packetVals, names *addrNames, cid string) {
	*r = Packet{Ts: d.Ts / 1000, TsNs: d.Ts, CapLen: int32(d.CapLen), Length: int32(d.Length), Source: d.Source, Position: d.Position}
	f := &d.Frame
	if f.NVLANs > 0 {
		v.vlan, r.VLAN = int32(f.VLANs[0]), &v.vlan
	}
	if f.NVLANs > 1 {
		v.innerVLAN, r.InnerVLAN = int32(f.VLANs[1]), &v.innerVLAN
	}
	if cid != "" {
		v.community, r.CommunityID = cid, &v.community
	}
	l := d.Inner()
	if l == nil {
		return
	}
	v.ipVersion, r.IPVersion = int32(l.Version), &v.ipVersion
	v.src, r.Src = names.name(l.Src), &v.src
	v.dst, r.Dst = names.name(l.Dst), &v.dst
	v.ttl, r.TTL = int32(l.TTL), &v.ttl
	v.ipLen, r.IPLength = int32(l.Length), &v.ipLen
	v.ipFlags, r.IPFlags = int32(l.Flags), &v.ipFlags
	v.frag, r.FragOffset = int32(l.FragOffset), &v.frag
	t := &l.Transport
	v.proto, r.Proto = int32(t.Proto), &v.proto
	if t.Ports {
		v.sport, r.SrcPort = int32(t.SrcPort), &v.sport
		v.dport, r.DstPort = int32(t.DstPort), &v.dport
	}
	if t.TCP {
		v.seq, r.TCPSeq = int64(t.Seq), &v.seq
		v.ack, r.TCPAck = int64(t.Ack), &v.ack
		v.tcpFlags, r.TCPFlags = int32(t.TCPFlags), &v.tcpFlags
	}
	if t.ICMP {
		v.icmpType, r.ICMPType = int32(t.Type), &v.icmpType
		v.icmpCode, r.ICMPCode = int32(t.Code), &v.icmpCode
	}
	if o := d.Outer(); o != nil {
		v.tunnel, r.Tunnel = TunnelName(o), &v.tunnel
		v.outerSrc, r.OuterSrc = names.name(o.Src), &v.outerSrc
		v.outerDst, r.OuterDst = names.name(o.Dst), &v.outerDst
		v.outerProto, r.OuterProto = int32(o.Transport.Proto), &v.outerProto
	}
}
