package dpdk

/*
#include <stdlib.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include "fc.h"

static struct rte_mempool *fc_pool_create(const char *name, unsigned n, unsigned cache,
		uint16_t room, int socket, int *err)
{
	struct rte_mempool *mp = rte_pktmbuf_pool_create(name, n, cache, 0, room, socket);
	*err = mp == NULL ? rte_errno : 0;
	return mp;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// MempoolSpec describes a pool of packet mbufs.
type MempoolSpec struct {
	Name     string
	Mbufs    uint32 // number of mbufs; 2^n-1 uses memory best
	Cache    uint32 // per-lcore cache size
	DataRoom uint16 // bytes of each mbuf's buffer, headroom included
	Socket   int    // NUMA socket, or -1 for any
}

// Mempool is a pool of packet mbufs.
type Mempool struct {
	spec MempoolSpec
	mp   *C.struct_rte_mempool
}

// NewMempool creates a pool of packet mbufs.
func NewMempool(spec MempoolSpec) (*Mempool, error) {
	name := C.CString(spec.Name)
	defer C.free(unsafe.Pointer(name))
	var errno C.int
	mp := C.fc_pool_create(name, C.uint(spec.Mbufs), C.uint(spec.Cache), C.uint16_t(spec.DataRoom), C.int(spec.Socket), &errno)
	if mp == nil {
		return nil, fmt.Errorf("create mempool %s (%d mbufs of %d B on socket %d): %w",
			spec.Name, spec.Mbufs, spec.DataRoom, spec.Socket, flushLogErr(Errno(errno)))
	}
	return &Mempool{spec: spec, mp: mp}, nil
}

// Spec returns the spec the pool was made from.
func (m *Mempool) Spec() MempoolSpec { return m.spec }

// MempoolAudit counts where a pool's mbufs are.
type MempoolAudit struct {
	Size     uint64 // mbufs the pool was made with
	InRing   uint64 // in the pool's backing store
	InCaches uint64 // in per-lcore caches
	InUse    int64  // Size-InRing-InCaches: held by someone; below zero after a double free
}

// Audit counts the pool's mbufs. Unlike rte_mempool_avail_count it does
// not clamp, so a double free shows as InUse < 0.
func (m *Mempool) Audit() MempoolAudit {
	var a C.struct_fc_mempool_audit
	C.fc_mempool_audit(m.mp, &a)
	return MempoolAudit{Size: uint64(a.size), InRing: uint64(a.in_ring), InCaches: uint64(a.in_caches), InUse: int64(a.in_use)}
}

// Close frees the pool. Every mbuf should be back first.
func (m *Mempool) Close() {
	if m.mp != nil {
		C.rte_mempool_free(m.mp)
		m.mp = nil
	}
}
