// Package libpcap is package filter's one cgo boundary: it compiles a
// tcpdump expression with libpcap itself (pcap_open_dead, pcap_compile)
// and runs libpcap's own BPF interpreter (pcap_offline_filter), which
// filter's tests and benchmarks use as the reference. Nothing else in
// filter imports "C".
//
// It never keeps Go pointers in C memory and never calls back into Go.
package libpcap

/*
#cgo pkg-config: libpcap
#cgo noescape fc_offline_filter
#cgo nocallback fc_offline_filter
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pcap/pcap.h>

// fc_compile compiles expr for a link type into prog, with libpcap's
// optimizer on or off and an unknown netmask. On failure it copies
// libpcap's message into errbuf and returns -1.
static int fc_compile(int linktype, int snaplen, const char *expr, int optimize,
		      struct bpf_program *prog, char *errbuf, size_t errlen) {
	pcap_t *p = pcap_open_dead(linktype, snaplen);
	if (p == NULL) {
		snprintf(errbuf, errlen, "pcap_open_dead failed");
		return -1;
	}
	int rc = pcap_compile(p, prog, expr, optimize, PCAP_NETMASK_UNKNOWN);
	if (rc != 0)
		snprintf(errbuf, errlen, "%s", pcap_geterr(p));
	pcap_close(p);
	return rc;
}

// fc_offline_filter runs prog over one packet as pcap_offline_filter
// does for a packet read from a file: len is the wire length, caplen
// the bytes present.
static int fc_offline_filter(const struct bpf_program *prog, const u_char *data,
			     bpf_u_int32 caplen, bpf_u_int32 wirelen) {
	struct pcap_pkthdr h;
	memset(&h, 0, sizeof h);
	h.caplen = caplen;
	h.len = wirelen;
	return pcap_offline_filter(prog, &h, data);
}
*/
import "C"

import (
	"errors"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/net/bpf"
)

// compileMu serializes pcap_compile, which is thread-safe only from
// libpcap 1.8 (its CHANGES) and may call libc's non-reentrant lookups
// (ether_hostton for "ether host NAME"). Compiles happen at start-up;
// serializing them costs nothing that matters.
var compileMu sync.Mutex

// Program is a program compiled by libpcap, in C memory until Free.
// Match may be called from several goroutines at once; Free must not run
// concurrently with any other method.
type Program struct {
	prog C.struct_bpf_program
}

// Compile compiles expr for a link type (a DLT_ value, as pcap_open_dead
// takes it) with the optimizer on or off and an unknown netmask. snapLen
// is the value an accepting program returns. An error's text is
// libpcap's own message (pcap_geterr).
func Compile(expr string, linkType, snapLen int, optimize bool) (*Program, error) {
	cexpr := C.CString(expr)
	defer C.free(unsafe.Pointer(cexpr))
	var errbuf [C.PCAP_ERRBUF_SIZE]C.char
	opt := C.int(0)
	if optimize {
		opt = 1
	}
	p := &Program{}
	compileMu.Lock()
	rc := C.fc_compile(C.int(linkType), C.int(snapLen), cexpr, opt, &p.prog, &errbuf[0], C.size_t(len(errbuf)))
	compileMu.Unlock()
	if rc != 0 {
		return nil, errors.New(C.GoString(&errbuf[0]))
	}
	return p, nil
}

// Instructions copies the program out of C memory.
func (p *Program) Instructions() []bpf.RawInstruction {
	cins := unsafe.Slice(p.prog.bf_insns, p.prog.bf_len)
	out := make([]bpf.RawInstruction, len(cins))
	for i, c := range cins {
		out[i] = bpf.RawInstruction{Op: uint16(c.code), Jt: uint8(c.jt), Jf: uint8(c.jf), K: uint32(c.k)}
	}
	return out
}

// Match runs libpcap's interpreter over one packet: data is the captured
// bytes, wireLen the length on the wire (BPF's len). One cgo call.
func (p *Program) Match(data []byte, wireLen uint32) bool {
	rc := C.fc_offline_filter(&p.prog, (*C.u_char)(unsafe.SliceData(data)), C.bpf_u_int32(len(data)), C.bpf_u_int32(wireLen))
	runtime.KeepAlive(data)
	return rc != 0
}

// Free releases the program's C memory (pcap_freecode).
func (p *Program) Free() {
	C.pcap_freecode(&p.prog)
}
