package rdk

/*
#include <stdlib.h>
#include <string.h>
#include "producer.h"
*/
import "C"

import "unsafe"

// Packet is a packet for SinkPackets: what dpdk's burst descriptor
// (struct fc_pkt) says of it.
type Packet struct {
	Data      []byte
	Len       int // the frame's length; 0: len(Data)
	Timestamp uint64
	Routes    uint32
	FlowHash  uint32
	Bad       bool // segments did not add up
}

// SinkPackets gives pkts to the producer's sink as one burst, as
// dpdk.Burst.Drain does, from C memory, which it overwrites with 0xFF
// and frees as soon as the sink returns, as the burst's mbufs are: a
// message that still pointed into it would arrive as 0xFF bytes. For
// tests of the sink without DPDK.
func (p *Producer) SinkPackets(pkts []Packet) {
	if len(pkts) == 0 {
		return
	}
	var a cArgs
	defer a.free()
	ds := cArray[C.struct_fc_pkt](&a, len(pkts))
	for i, pk := range pkts {
		d := &ds[i]
		if len(pk.Data) > 0 {
			buf := C.CBytes(pk.Data)
			a.ptrs = append(a.ptrs, buf)
			d.data = (*C.uint8_t)(buf)
		}
		d.seg_len = C.uint32_t(len(pk.Data))
		d.len = d.seg_len
		if pk.Len != 0 {
			d.len = C.uint32_t(pk.Len)
		}
		d.ts_ns, d.routes, d.flow_hash, d.nb_segs = C.uint64_t(pk.Timestamp), C.uint32_t(pk.Routes), C.uint32_t(pk.FlowHash), 1
		if pk.Bad {
			d.bad = 1
		}
	}
	C.fc_rdk_sink(unsafe.Pointer(p.c), &ds[0], C.uint32_t(len(pkts)))
	for i := range ds {
		if ds[i].data != nil {
			C.memset(unsafe.Pointer(ds[i].data), 0xFF, C.size_t(ds[i].seg_len))
		}
	}
}
