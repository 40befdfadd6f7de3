package dpdk

/*
#include <stdlib.h>
#include "fc.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/net/bpf"
)

// Errors of NewFilter and CheckFilterProgram.
var (
	ErrEmptyFilter = errors.New("filter has no instructions")
	// ErrBackwardJump: rte_bpf_convert (DPDK 22.11) takes only forward
	// jumps; libpcap compiles "protochain" into a loop.
	ErrBackwardJump = errors.New("the capture filter cannot loop: DPDK's rte_bpf_convert refuses backward jumps (\"protochain\"); use \"ip proto\" or \"ip6 proto\"")
)

// CheckFilterProgram reports what NewFilter would refuse in a program
// before any conversion, so that a configuration can be checked without
// DPDK: no instructions, or a backward jump.
func CheckFilterProgram(prog []bpf.RawInstruction) error {
	if len(prog) == 0 {
		return ErrEmptyFilter
	}
	for _, ins := range prog {
		// BPF_JMP|BPF_JA: k is an offset, unsigned in classic BPF;
		// libpcap's protochain wraps it to jump back.
		if ins.Op == 0x05 && int32(ins.K) < 0 {
			return ErrBackwardJump
		}
	}
	return nil
}

// FilterSpec is a capture filter: a classic BPF program as libpcap
// compiles it (package filter's Filter.Program) for a DLT_EN10MB frame.
// The RX lcores run it over every burst, before the ring.
type FilterSpec struct {
	// Expr is what the program was compiled from, for errors.
	Expr    string
	Program []bpf.RawInstruction
	// Interpret runs the program with librte_bpf's interpreter even
	// where a JIT compiler exists (benchmarks and tests).
	Interpret bool
}

// Filter is a loaded capture filter: the program converted to eBPF by
// rte_bpf_convert, loaded by rte_bpf_load and, where librte_bpf has a JIT
// for this CPU (x86-64, arm64), compiled to native code. It is read-only
// once made; any number of RX lcores may run it. Close it after every RX
// lcore that runs it has stopped.
//
// What it means is what libpcap's interpreter means for a packet whose
// captured bytes are all of the mbuf: a load past the mbuf's data rejects
// the packet, and "len" (greater, less) is the mbuf's pkt_len, the bytes
// the device delivered. For net_pcap that is the record's captured
// length, not its original length: see docs/ARCHITECTURE.md.
type Filter struct {
	spec FilterSpec
	c    *C.struct_fc_filter
}

// NewFilter converts and loads a program.
func NewFilter(spec FilterSpec) (*Filter, error) {
	if err := CheckFilterProgram(spec.Program); err != nil {
		return nil, fmt.Errorf("load filter %q: %w", spec.Expr, err)
	}
	ins := make([]C.struct_bpf_insn, len(spec.Program))
	for i, r := range spec.Program {
		ins[i] = C.struct_bpf_insn{code: C.u_short(r.Op), jt: C.u_char(r.Jt), jf: C.u_char(r.Jf), k: C.bpf_u_int32(r.K)}
	}
	c := (*C.struct_fc_filter)(C.calloc(1, C.sizeof_struct_fc_filter))
	if c == nil {
		return nil, fmt.Errorf("load filter %q: out of memory", spec.Expr)
	}
	interpret := C.int(0)
	if spec.Interpret {
		interpret = 1
	}
	if err := rc(C.fc_filter_load(&ins[0], C.uint32_t(len(ins)), interpret, c)); err != nil {
		C.free(unsafe.Pointer(c))
		return nil, fmt.Errorf("load filter %q (rte_bpf_convert, rte_bpf_load): %w", spec.Expr, err)
	}
	return &Filter{spec: spec, c: c}, nil
}

// JIT reports whether the filter runs as native code; false: in
// librte_bpf's interpreter.
func (f *Filter) JIT() bool { return f.c.jit != nil }

// Engine is "jit" or "interpreter", for logs.
func (f *Filter) Engine() string {
	if f.JIT() {
		return "jit"
	}
	return "interpreter"
}

// Spec returns the spec the filter was made from.
func (f *Filter) Spec() FilterSpec { return f.spec }

// Close frees the filter (rte_bpf_destroy).
func (f *Filter) Close() {
	if f == nil || f.c == nil {
		return
	}
	C.fc_filter_free(f.c)
	C.free(unsafe.Pointer(f.c))
	f.c = nil
}
