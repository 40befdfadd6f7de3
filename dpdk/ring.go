package dpdk

/*
#include <stdlib.h>
#include <rte_errno.h>
#include <rte_ring.h>

static struct rte_ring *fc_ring_create(const char *name, unsigned size, int socket,
		unsigned flags, int *err)
{
	struct rte_ring *r = rte_ring_create(name, size, socket, flags);
	*err = r == NULL ? rte_errno : 0;
	return r;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// RingSpec describes the lock-free ring between one RX lcore and its
// workers.
type RingSpec struct {
	Name          string
	Size          uint32 // a power of two; the ring holds Size-1 mbufs
	Socket        int
	MultiConsumer bool // more than one worker dequeues from it
}

// Ring is an rte_ring of mbuf pointers with a single producer.
type Ring struct {
	spec RingSpec
	r    *C.struct_rte_ring
}

// NewRing creates a ring.
func NewRing(spec RingSpec) (*Ring, error) {
	if spec.Size == 0 || spec.Size&(spec.Size-1) != 0 {
		return nil, fmt.Errorf("create ring %s: size %d is not a power of two", spec.Name, spec.Size)
	}
	flags := C.uint(C.RING_F_SP_ENQ)
	if !spec.MultiConsumer {
		flags |= C.RING_F_SC_DEQ
	}
	name := C.CString(spec.Name)
	defer C.free(unsafe.Pointer(name))
	var errno C.int
	r := C.fc_ring_create(name, C.uint(spec.Size), C.int(spec.Socket), flags, &errno)
	if r == nil {
		return nil, fmt.Errorf("create ring %s: %w", spec.Name, flushLogErr(Errno(errno)))
	}
	return &Ring{spec: spec, r: r}, nil
}

// Count is the number of mbufs in the ring now.
func (r *Ring) Count() uint32 { return uint32(C.rte_ring_count(r.r)) }

// Capacity is the number of mbufs the ring can hold.
func (r *Ring) Capacity() uint32 { return uint32(C.rte_ring_get_capacity(r.r)) }

// Close frees the ring. It must be empty and no lcore may use it.
func (r *Ring) Close() {
	if r.r != nil {
		C.rte_ring_free(r.r)
		r.r = nil
	}
}
