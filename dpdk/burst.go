package dpdk

/*
#include <stdlib.h>
#include <rte_malloc.h>
#include "fc.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// ErrMalformed is returned for a packet whose mbuf chain does not hold
// pkt_len bytes (a driver bug; net_pcap in DPDK 22.11 truncates frames over
// 65535 bytes this way).
var ErrMalformed = errors.New("mbuf segments do not add up to the packet length")

// Burst is a worker's window onto the mbufs it dequeued from a ring. The
// worker owns those mbufs from one Cycle to the next (or to Release); then
// they go back to their pool, in one bulk free.
//
// A Burst is used by one goroutine at a time.
type Burst struct {
	c    *C.struct_fc_burst
	pkts []C.struct_fc_pkt
}

// NewBurst allocates a burst of up to size packets in C memory.
func NewBurst(size int) (*Burst, error) {
	if size <= 0 || size > MaxBurst {
		return nil, fmt.Errorf("burst size %d (1 to %d)", size, MaxBurst)
	}
	c := (*C.struct_fc_burst)(C.rte_zmalloc(nil, C.sizeof_struct_fc_burst, C.RTE_CACHE_LINE_SIZE))
	if c == nil {
		return nil, fmt.Errorf("allocate burst: out of memory")
	}
	c.cap = C.uint32_t(size)
	return &Burst{c: c, pkts: unsafe.Slice(&c.pkts[0], size)}, nil
}

// Cycle frees the packets the burst held, dequeues up to its size from r
// and returns how many it now holds. One cgo call.
func (b *Burst) Cycle(r *Ring) int {
	return int(C.fc_burst_cycle(r.r, b.c))
}

// Sink is C code that consumes a burst: Fn is a fc_sink_fn (pkt.h) and
// Ctx its first argument, both C pointers. A consumer's package makes
// them; this one calls Fn on the burst without knowing what it does.
type Sink struct {
	Fn, Ctx unsafe.Pointer
}

// Drain frees the packets the burst held, dequeues up to its size from
// r, hands them to s (every frame contiguous: multi-segment ones are
// copied first) and frees them, in one cgo call. It returns how many
// packets s was given; the burst holds none after it.
func (b *Burst) Drain(r *Ring, s Sink) int {
	return int(C.fc_burst_drain(r.r, b.c, (*C.fc_sink_fn)(s.Fn), s.Ctx))
}

// Release frees the packets the burst holds.
func (b *Burst) Release() { C.fc_burst_release(b.c) }

// Len is the number of packets held.
func (b *Burst) Len() int { return int(b.c.n) }

// Packet is one received frame as a worker sees it.
type Packet struct {
	// Data is the frame when it fits in one segment: a view of mbuf
	// memory, valid until the burst's next Cycle or Release. Nil for a
	// multi-segment frame: use Burst.Copy.
	Data      []byte
	Len       int    // the whole frame's length
	Timestamp uint64 // wall-clock nanoseconds, taken at receive
	Segments  int
	Port      uint16
	Malformed bool // segments do not add up to Len; Copy fails
	// Routes has bit r set when route r keeps the packet; not set when
	// the routes are Simple (every packet is route 0's).
	Routes uint32
	// FlowHash is the symmetric hash of the packet's 5-tuple, when the
	// routes need it.
	FlowHash uint32
}

// Packet describes packet i of the burst without a cgo call.
func (b *Burst) Packet(i int) Packet {
	p := &b.pkts[i]
	pk := Packet{
		Len:       int(p.len),
		Timestamp: uint64(p.ts_ns),
		Segments:  int(p.nb_segs),
		Port:      uint16(p.port),
		Malformed: p.bad != 0,
		Routes:    uint32(p.routes),
		FlowHash:  uint32(p.flow_hash),
	}
	if p.nb_segs == 1 && !pk.Malformed {
		pk.Data = unsafe.Slice((*byte)(unsafe.Pointer(p.data)), int(p.seg_len))
	}
	return pk
}

// Copy copies packet i, all its segments, into dst and returns the
// filled part of dst. dst must hold Packet(i).Len bytes.
func (b *Burst) Copy(i int, dst []byte) ([]byte, error) {
	n := b.Packet(i).Len
	if len(dst) < n || n == 0 {
		if n == 0 {
			return dst[:0], nil
		}
		return nil, fmt.Errorf("copy packet: buffer of %d B for %d B", len(dst), n)
	}
	got := C.fc_pkt_copy(b.c, C.uint32_t(i), (*C.uint8_t)(unsafe.Pointer(&dst[0])), C.uint64_t(len(dst)))
	if got < 0 {
		return nil, ErrMalformed
	}
	return dst[:got], nil
}

// Close releases held packets and frees the burst.
func (b *Burst) Close() {
	if b.c != nil {
		C.fc_burst_destroy(b.c)
		b.c = nil
		b.pkts = nil
	}
}
