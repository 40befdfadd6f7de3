package dpdk

/*
#include <stdlib.h>
#include "fc.h"
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unsafe"
)

// MaxOutputs is how many outputs a capture may have.
const MaxOutputs = C.FC_MAX_OUTPUTS

// TunnelKind is how an output carries frames across an IP network, or
// which tunnel a port receives.
type TunnelKind uint8

const (
	TunnelNone TunnelKind = C.FC_TUN_NONE
	// TunnelGRETAP carries the whole Ethernet frame in GRE, protocol
	// 0x6558 (Linux's gretap).
	TunnelGRETAP TunnelKind = C.FC_TUN_GRETAP
	// TunnelGRE carries what follows the frame's Ethernet header and
	// VLAN tags in GRE, protocol the frame's ethertype (Linux's gre).
	TunnelGRE TunnelKind = C.FC_TUN_GRE
	// TunnelVXLAN carries the Ethernet frame in UDP (RFC 7348).
	TunnelVXLAN TunnelKind = C.FC_TUN_VXLAN
)

var tunnelNames = []string{"none", "gretap", "gre", "vxlan"}

func (k TunnelKind) String() string { return tunnelNames[k] }

// ParseTunnelKind reads gretap, gre or vxlan.
func ParseTunnelKind(s string) (TunnelKind, error) {
	for i, n := range tunnelNames[1:] {
		if s == n {
			return TunnelKind(i + 1), nil
		}
	}
	return 0, fmt.Errorf("tunnel %q: use gretap, gre or vxlan", s)
}

// ParseTunnelKey reads a GRE key or a VXLAN VNI as fluxcap and Linux's ip
// take it: a decimal integer, or a dotted quad (1.2.3.4 is 0x01020304).
func ParseTunnelKey(s string) (uint32, error) {
	if strings.Contains(s, ".") {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return 0, fmt.Errorf("key %q: not an integer or a dotted quad", s)
		}
		b := a.As4()
		return binary.BigEndian.Uint32(b[:]), nil
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("key %q: not an integer (0 to 4294967295) or a dotted quad", s)
	}
	return uint32(v), nil
}

// Tunnel is the outer headers an output puts around each frame: Ethernet
// (its MACs given: fastcapa does not resolve them), IPv4 with a correct
// checksum and an identification that increments, then GRE (with the key
// when HasKey) or UDP and VXLAN (the VNI is Key).
type Tunnel struct {
	Kind           TunnelKind
	Local, Remote  netip.Addr // IPv4
	SrcMAC, DstMAC net.HardwareAddr
	Key            uint32
	HasKey         bool   // GRE: send the key; VXLAN always carries Key as its VNI
	TTL            uint8  // 0: 64
	UDPPort        uint16 // VXLAN; 0: 4789
}

// header lays out t's outer headers: the template, where its IPv4 and
// GRE/UDP headers start.
func (t Tunnel) header() (tmpl []byte, ipOff, l4Off int, err error) {
	if !t.Local.Is4() || !t.Remote.Is4() {
		return nil, 0, 0, fmt.Errorf("tunnel %s: local and remote must be IPv4 addresses (%v, %v)", t.Kind, t.Local, t.Remote)
	}
	if len(t.SrcMAC) != 6 || len(t.DstMAC) != 6 {
		return nil, 0, 0, fmt.Errorf("tunnel %s: give both MAC addresses (source %q, destination %q)", t.Kind, t.SrcMAC, t.DstMAC)
	}
	if t.Kind == TunnelVXLAN && t.Key >= 1<<24 {
		return nil, 0, 0, fmt.Errorf("tunnel vxlan: VNI %d does not fit 24 bits", t.Key)
	}
	ttl := t.TTL
	if ttl == 0 {
		ttl = 64
	}
	h := append([]byte{}, t.DstMAC...)
	h = append(h, t.SrcMAC...)
	h = append(h, 0x08, 0x00)
	ipOff = len(h)
	proto := byte(47)
	if t.Kind == TunnelVXLAN {
		proto = 17
	}
	// version 4, IHL 5; length, id, checksum filled per packet; DF
	// clear: a router may fragment what the MTU here let through.
	h = append(h, 0x45, 0, 0, 0, 0, 0, 0, 0, ttl, proto, 0, 0)
	l, r := t.Local.As4(), t.Remote.As4()
	h = append(h, l[:]...)
	h = append(h, r[:]...)
	l4Off = len(h)
	switch t.Kind {
	case TunnelGRETAP, TunnelGRE:
		flags := uint16(0)
		if t.HasKey {
			flags |= 0x2000
		}
		h = binary.BigEndian.AppendUint16(h, flags)
		h = binary.BigEndian.AppendUint16(h, 0x6558) // GRE: the frame's ethertype, per packet
		if t.HasKey {
			h = binary.BigEndian.AppendUint32(h, t.Key)
		}
	case TunnelVXLAN:
		port := t.UDPPort
		if port == 0 {
			port = 4789
		}
		h = binary.BigEndian.AppendUint16(h, 0) // source port: per packet, from the flow
		h = binary.BigEndian.AppendUint16(h, port)
		h = append(h, 0, 0, 0, 0)    // length per packet; checksum 0 (RFC 7348)
		h = append(h, 0x08, 0, 0, 0) // I: the VNI is valid
		h = binary.BigEndian.AppendUint32(h, t.Key<<8)
	default:
		return nil, 0, 0, fmt.Errorf("tunnel kind %d", t.Kind)
	}
	return h, ipOff, l4Off, nil
}

// OutputSpec is one output: a TX port and what it sends there.
type OutputSpec struct {
	Name string
	// Port is opened with a TX queue for every RX lcore.
	Port *Port
	// Routes is the mask of routes (bit r: route r) whose packets it
	// sends; 0: every route's.
	Routes uint32
	// KeepVLAN, if set, sends only frames whose outer VLAN tag has this
	// VID (others are counted Skipped).
	KeepVLAN *uint16
	// StripVLAN removes the frame's VLAN tags; InsertVLAN inserts the
	// tag of the port the frame came from (OutputsSpec.VLANOfPort).
	StripVLAN, InsertVLAN bool
	// Trim removes this many bytes from each frame's end (an FCS);
	// Snaplen then cuts the frame to at most this many bytes (0: whole).
	Trim, Snaplen uint32
	// MTU bounds what is sent: the outer IPv4 packet of a tunnel, or
	// the frame less its Ethernet header (and one tag). 0: the port's.
	MTU uint32
	// DropOversize drops a frame over MTU (TooBig) instead of cutting
	// it to fit (Truncated).
	DropOversize bool
	// Tunnel, if set, carries each frame to a remote address.
	Tunnel *Tunnel
}

// OutputsSpec is every output of a capture.
type OutputsSpec struct {
	Outputs []OutputSpec
	// VLANOfPort is the tag (VID, with priority bits if wanted: the
	// whole TCI) inserted into the frames each input port received, by
	// the outputs that insert one; by port name.
	VLANOfPort map[string]uint16
	// Lcores is how many RX lcores send, each on its own TX queue
	// (0..Lcores-1) of every output port.
	Lcores int
	// Pool holds the header and clone mbufs the outputs build: a frame
	// sent re-framed takes one for its new bytes and one per segment.
	Pool *Mempool
}

// Outputs are the outputs every RX lcore applies, in C memory, read-only
// while they run.
type Outputs struct {
	spec OutputsSpec
	c    *C.struct_fc_outputs
}

// NewOutputs checks and lays out the outputs.
func NewOutputs(spec OutputsSpec) (*Outputs, error) {
	if len(spec.Outputs) == 0 || len(spec.Outputs) > MaxOutputs {
		return nil, fmt.Errorf("%d outputs: 1 to %d", len(spec.Outputs), MaxOutputs)
	}
	if spec.Lcores < 1 || spec.Pool == nil {
		return nil, fmt.Errorf("outputs: %d lcores, pool %v", spec.Lcores, spec.Pool != nil)
	}
	c := (*C.struct_fc_outputs)(C.calloc(1, C.sizeof_struct_fc_outputs))
	if c == nil {
		return nil, fmt.Errorf("outputs: out of memory")
	}
	o := &Outputs{spec: spec, c: c}
	c.n = C.uint16_t(len(spec.Outputs))
	c.nb_lcores = C.uint16_t(spec.Lcores)
	c.pool = spec.Pool.mp
	for name, tci := range spec.VLANOfPort {
		id, err := portID(name)
		if err != nil {
			o.Close()
			return nil, fmt.Errorf("vlan of port %s: %w", name, err)
		}
		c.vlan_of_port[id] = C.uint16_t(tci)
	}
	for i, s := range spec.Outputs {
		if err := o.set(&c.o[i], s); err != nil {
			o.Close()
			return nil, fmt.Errorf("output %s: %w", s.Name, err)
		}
	}
	return o, nil
}

func (o *Outputs) set(co *C.struct_fc_output, s OutputSpec) error {
	if s.Port == nil || int(s.Port.Info.TxQueues) < o.spec.Lcores {
		return fmt.Errorf("its port needs a TX queue for each of %d RX lcores", o.spec.Lcores)
	}
	co.port = C.uint16_t(s.Port.Info.ID)
	co.routes = C.uint32_t(s.Routes)
	if s.Routes == 0 {
		co.routes = ^C.uint32_t(0)
	}
	co.only_vlan = -1
	if s.KeepVLAN != nil {
		if *s.KeepVLAN > 4095 {
			return fmt.Errorf("keep vlan %d: a VID is 0 to 4095", *s.KeepVLAN)
		}
		co.only_vlan = C.int32_t(*s.KeepVLAN)
	}
	co.strip_vlan, co.insert_vlan = cbool(s.StripVLAN), cbool(s.InsertVLAN)
	co.snaplen, co.trim = C.uint32_t(s.Snaplen), C.uint32_t(s.Trim)
	if s.Snaplen != 0 && s.Snaplen < 64 {
		return fmt.Errorf("snaplen %d: at least 64", s.Snaplen)
	}
	mtu := s.MTU
	if mtu == 0 {
		mtu = uint32(s.Port.Info.MTU)
	}
	if mtu == 0 {
		mtu = 1500
	}
	co.mtu = C.uint32_t(mtu)
	if s.DropOversize {
		co.oversize = C.FC_OVERSIZE_DROP
	}
	if s.Tunnel == nil {
		return nil
	}
	t := *s.Tunnel
	if t.Kind == TunnelGRE && (s.StripVLAN || s.InsertVLAN) {
		return fmt.Errorf("a gre tunnel carries no Ethernet header, so no VLAN tag to strip or insert: use gretap")
	}
	tmpl, ipOff, l4Off, err := t.header()
	if err != nil {
		return err
	}
	if len(tmpl) > C.FC_OUT_HDR_MAX-16 {
		return fmt.Errorf("outer headers of %d bytes", len(tmpl))
	}
	// the smallest payload that still carries an Ethernet header
	if int(mtu) < len(tmpl)-ipOff+64 {
		return fmt.Errorf("mtu %d leaves no room for a frame inside %d bytes of outer headers", mtu, len(tmpl)-ipOff)
	}
	co.tunnel = C.uint8_t(t.Kind)
	for i, b := range tmpl {
		co.tmpl[i] = C.uint8_t(b)
	}
	co.tmpl_len, co.ip_off, co.l4_off = C.uint8_t(len(tmpl)), C.uint8_t(ipOff), C.uint8_t(l4Off)
	return nil
}

// Len is the number of outputs.
func (o *Outputs) Len() int { return len(o.spec.Outputs) }

// Spec returns the spec the outputs were made from.
func (o *Outputs) Spec() OutputsSpec { return o.spec }

// Close frees the outputs (not their ports or pool).
func (o *Outputs) Close() {
	if o != nil && o.c != nil {
		C.free(unsafe.Pointer(o.c))
		o.c = nil
	}
}

// OutputStats are one output's counts. Every packet of a route the
// output takes (Offered) is exactly one of Sent, Skipped (KeepVLAN),
// TooBig, NoMbuf (no header or clone mbuf), QueueFull (the TX queue
// refused it) or Malformed (shorter than what is stripped or trimmed).
// Truncated counts the sent ones cut to the MTU.
type OutputStats struct {
	Name      string
	Offered   uint64
	Sent      uint64
	Bytes     uint64 // of the frames sent, outer headers included
	Truncated uint64
	Skipped   uint64
	TooBig    uint64
	NoMbuf    uint64
	QueueFull uint64
	Malformed uint64
}

// Add adds s's counts to o's.
func (o *OutputStats) Add(s OutputStats) {
	o.Offered += s.Offered
	o.Sent += s.Sent
	o.Bytes += s.Bytes
	o.Truncated += s.Truncated
	o.Skipped += s.Skipped
	o.TooBig += s.TooBig
	o.NoMbuf += s.NoMbuf
	o.QueueFull += s.QueueFull
	o.Malformed += s.Malformed
}

// Dropped is what the output was offered and did not send, but for
// Skipped (not its VLAN).
func (o OutputStats) Dropped() uint64 { return o.TooBig + o.NoMbuf + o.QueueFull + o.Malformed }

// Balance is Offered less every outcome: 0 when each packet is counted once.
func (o OutputStats) Balance() int64 {
	return int64(o.Offered) - int64(o.Sent+o.Skipped+o.Dropped())
}

// OutputStats reads the lcore's counts of each output, in the outputs'
// order; nil without outputs.
func (r *RxLcore) OutputStats() []OutputStats {
	if r.spec.Outputs == nil {
		return nil
	}
	out := make([]OutputStats, r.spec.Outputs.Len())
	for i := range out {
		var s C.struct_fc_out_stats
		C.fc_out_read(&r.c.out, C.uint(i), &s)
		out[i] = OutputStats{Name: r.spec.Outputs.spec.Outputs[i].Name, Offered: uint64(s.offered), Sent: uint64(s.sent),
			Bytes: uint64(s.bytes), Truncated: uint64(s.truncated), Skipped: uint64(s.skipped), TooBig: uint64(s.too_big),
			NoMbuf: uint64(s.no_mbuf), QueueFull: uint64(s.queue_full), Malformed: uint64(s.malformed)}
	}
	return out
}

// TunnelIn is a port's tunnel receiver: only packets of this tunnel,
// with this key, are captured, as the frame they carry (GRE: the packet
// behind an Ethernet header of the outer MACs and the GRE protocol).
type TunnelIn struct {
	Kind TunnelKind
	// Key must match; HasKey: GRE packets must carry one (and without
	// it must not). VXLAN: Key is the VNI, always compared.
	Key    uint32
	HasKey bool
	// Local, if valid, must be the outer IPv4 destination.
	Local   netip.Addr
	UDPPort uint16 // VXLAN; 0: 4789
}

// TunnelStats are a tunnel receiver's counts on one queue: every packet
// received is Decapsulated, Other (not this tunnel's: another protocol,
// port, destination or GRE protocol), WrongKey or Malformed (bad or
// truncated headers, a bad IPv4 checksum, a fragment).
type TunnelStats struct {
	Decapsulated, Other, WrongKey, Malformed uint64
}

// Dropped is what the receiver freed.
func (t TunnelStats) Dropped() uint64 { return t.Other + t.WrongKey + t.Malformed }

func (t *TunnelIn) cStruct() (*C.struct_fc_tunnel_in, error) {
	switch t.Kind {
	case TunnelGRETAP, TunnelGRE, TunnelVXLAN:
	default:
		return nil, fmt.Errorf("tunnel receiver: kind %v", t.Kind)
	}
	if t.Kind == TunnelVXLAN && t.Key >= 1<<24 {
		return nil, fmt.Errorf("tunnel receiver: VNI %d does not fit 24 bits", t.Key)
	}
	if t.Local.IsValid() && !t.Local.Is4() {
		return nil, fmt.Errorf("tunnel receiver: local %v is not IPv4", t.Local)
	}
	c := (*C.struct_fc_tunnel_in)(C.calloc(1, C.sizeof_struct_fc_tunnel_in))
	if c == nil {
		return nil, fmt.Errorf("tunnel receiver: out of memory")
	}
	c.kind, c.has_key, c.key = C.uint8_t(t.Kind), cbool(t.HasKey), C.uint32_t(t.Key)
	if t.Local.IsValid() {
		a := t.Local.As4()
		c.local = *(*C.uint32_t)(unsafe.Pointer(&a[0])) // network order, as in the packet
	}
	c.udp_port = C.uint16_t(t.UDPPort)
	if t.UDPPort == 0 {
		c.udp_port = 4789
	}
	return c, nil
}
