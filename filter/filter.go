package filter

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/net/bpf"

	"github.com/fastcapa-go/fastcapa/filter/internal/libpcap"
)

// LinkTypeEthernet is DLT_EN10MB, the link type of every record the sink
// handles.
const LinkTypeEthernet = 1

// snapLen is the snapshot length programs are compiled for, libpcap's
// maximum. It is only the value an accepting program returns: Match
// ignores it.
const snapLen = 262144

// Errors New returns wrap one of these.
var (
	// ErrCompile: libpcap does not compile the expression for the link
	// type. The error's text is libpcap's message.
	ErrCompile = errors.New("filter does not compile")
	// ErrKernelOnly: the program reads packet metadata only the Linux
	// kernel has, at a live capture ("inbound", "outbound", "ifindex"):
	// on captured bytes such a load rejects every packet. tcpdump -r
	// refuses these expressions ("not supported ... when reading
	// savefiles"); libpcap compiles them for pcap_open_dead, so New
	// refuses them itself.
	ErrKernelOnly = errors.New("reads metadata only a live Linux capture has (inbound, outbound, ifindex)")
	// ErrMatchVLAN: MatchVLAN was asked of an expression it cannot
	// apply to the inner packet.
	ErrMatchVLAN = errors.New("cannot match inside VLAN tags")
)

// compileError is libpcap's message about an expression.
type compileError struct{ expr, msg string }

func (e *compileError) Error() string { return fmt.Sprintf("filter %q: %s", e.expr, e.msg) }
func (e *compileError) Unwrap() error { return ErrCompile }

// Spec describes a filter.
type Spec struct {
	// Expr is the expression in tcpdump syntax (pcap-filter(7)); ""
	// matches every packet. Host, network and port names are resolved
	// by New, as tcpdump resolves them when it starts (DNS, /etc/hosts,
	// /etc/services, /etc/ethers); addresses and numbers avoid that.
	Expr string
	// LinkType is the link-layer type of the frames, a DLT_ value as
	// pcap_open_dead takes it (the same number as a pcap file header's
	// link type for Ethernet and most others). 0 means
	// LinkTypeEthernet: DLT_NULL cannot be chosen.
	LinkType uint32
	// MatchVLAN matches an Ethernet frame that carries one or two VLAN
	// tags on its inner packet, so "host 10.0.0.1" finds that host on
	// every VLAN. The filter is then exactly tcpdump's VLANExpr(Expr).
	// Off, the filter means exactly what tcpdump makes of Expr, where
	// "host 10.0.0.1" does not match a tagged frame.
	MatchVLAN bool
}

// Filter is a compiled filter. It is immutable: Match may be called from
// any number of goroutines at once. It holds no C memory, so there is
// nothing to close.
type Filter struct {
	expr string // what was compiled
	prog []bpf.RawInstruction
}

// New compiles a filter with libpcap: pcap_open_dead for the link type,
// pcap_compile with the optimizer on and an unknown netmask (so
// "ip broadcast" is refused, as libpcap refuses it without a netmask).
// Compiles are serialized process-wide.
func New(spec Spec) (*Filter, error) {
	lt := spec.LinkType
	if lt == 0 {
		lt = LinkTypeEthernet
	}
	expr := spec.Expr
	if spec.MatchVLAN && strings.TrimSpace(expr) != "" {
		if lt != LinkTypeEthernet {
			return nil, fmt.Errorf("filter %q: %w: VLAN tags are read from Ethernet frames, not link type %d", expr, ErrMatchVLAN, lt)
		}
		// Compile the expression alone first, so that its errors
		// read in the caller's terms, not VLANExpr's.
		if _, err := compile(expr, lt, true); err != nil {
			return nil, err
		}
		if err := checkNoShift(expr); err != nil {
			return nil, err
		}
		expr = VLANExpr(expr)
	}
	prog, err := compile(expr, lt, true)
	if err != nil {
		return nil, err
	}
	for _, ins := range prog {
		switch ins.Op {
		case opLdW, opLdH, opLdB:
			// Linux's negative offsets: SKF_AD_OFF, SKF_NET_OFF, SKF_LL_OFF.
			if int32(ins.K) < 0 {
				return nil, fmt.Errorf("filter %q: %w", spec.Expr, ErrKernelOnly)
			}
		}
	}
	return newFilter(expr, prog)
}

// newFilter makes a Filter of a program libpcap compiled.
func newFilter(expr string, prog []bpf.RawInstruction) (*Filter, error) {
	if err := validate(prog); err != nil {
		return nil, fmt.Errorf("filter %q: libpcap's program: %w", expr, err)
	}
	return &Filter{expr: expr, prog: prog}, nil
}

// compile returns libpcap's program for expr.
func compile(expr string, linkType uint32, optimize bool) ([]bpf.RawInstruction, error) {
	p, err := libpcap.Compile(expr, int(linkType), snapLen, optimize)
	if err != nil {
		return nil, &compileError{expr: expr, msg: err.Error()}
	}
	defer p.Free()
	return p.Instructions(), nil
}

// Match reports whether the filter accepts a packet: data is the
// captured bytes, wireLen its length on the wire, which is what the
// expression's "len", "less" and "greater" test (as pcap_offline_filter
// passes the record's len, not caplen). A field beyond the captured
// bytes rejects the packet, as in libpcap; any bytes are safe.
//
// Match allocates nothing, does not call into C and reads only its
// arguments and the immutable program.
func (f *Filter) Match(data []byte, wireLen uint32) bool {
	r, _ := run(f.prog, data, wireLen)
	return r != 0
}

// Expr is the expression the filter was compiled from: Spec.Expr, or
// VLANExpr(Spec.Expr) with MatchVLAN. tcpdump -r FILE 'EXPR' keeps the
// same packets.
func (f *Filter) Expr() string { return f.expr }

// Program returns a copy of the compiled classic BPF program, as libpcap
// made it; bpf.Disassemble reads it. An accepting run returns 262144.
func (f *Filter) Program() []bpf.RawInstruction { return slices.Clone(f.prog) }

// vlanTag tests for a VLAN tag's type at a fixed offset of an Ethernet
// frame: the three types libpcap's "vlan" keyword takes (802.1Q,
// 802.1ad, and the older QinQ 0x9100).
func vlanTag(off int) string {
	return fmt.Sprintf("(ether[%d:2] = 0x8100 or ether[%d:2] = 0x88a8 or ether[%d:2] = 0x9100)", off, off, off)
}

// VLANExpr is the tcpdump expression a MatchVLAN filter is compiled from:
// expr on an untagged frame, on the packet inside one tag, or on the
// packet inside two tags, each only where the frame has exactly that many
// tags in front (a third tag is left for expr to see):
//
//	(not T12 and (F)) or (vlan and not T16 and (F)) or (T12 and vlan and (F))
//
// where F is expr and Tn is (ether[n:2] = 0x8100 or ether[n:2] = 0x88a8
// or ether[n:2] = 0x9100). It relies on libpcap's rule that "vlan" moves
// the link-type and payload offsets by 4 for the rest of the expression:
// the second branch reads F 4 bytes in, the third 8. "ether[...]" stays
// absolute and "len" stays the wire length, tags included. An empty expr
// stays empty (every packet).
func VLANExpr(expr string) string {
	if strings.TrimSpace(expr) == "" {
		return expr
	}
	f := "(" + expr + ")"
	return "(not " + vlanTag(12) + " and " + f + ")" +
		" or (vlan and not " + vlanTag(16) + " and " + f + ")" +
		" or (" + vlanTag(12) + " and vlan and " + f + ")"
}

// probeType is an EtherType checkNoShift looks for.
const probeType = 0xfeed

// checkNoShift refuses, for MatchVLAN, an expression that moves
// libpcap's offsets itself ("vlan", "mpls", "pppoes", "geneve"): every
// term after it, VLANExpr's included, would read the wrong bytes. It asks
// libpcap: an "ether proto" test placed after the expression must still
// load the EtherType at offset 12.
func checkNoShift(expr string) error {
	refuse := fmt.Errorf("filter %q: %w: it moves header offsets itself (vlan, mpls, pppoes, geneve); match it without MatchVLAN", expr, ErrMatchVLAN)
	alone, err := compile(expr, LinkTypeEthernet, false)
	if err != nil {
		return err
	}
	probed, err := compile(fmt.Sprintf("(%s) or ether proto %#x", expr, probeType), LinkTypeEthernet, false)
	if err != nil {
		return refuse
	}
	if typeTests(probed) != typeTests(alone)+1 {
		return refuse
	}
	return nil
}

// typeTests counts "ldh [12]; jeq #probeType" in an unoptimized program.
func typeTests(prog []bpf.RawInstruction) int {
	n := 0
	for i := 1; i < len(prog); i++ {
		if prog[i].Op == opJeqK && prog[i].K == probeType && prog[i-1].Op == opLdH && prog[i-1].K == 12 {
			n++
		}
	}
	return n
}
