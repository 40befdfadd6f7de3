package dpdk

/*
#include <stdlib.h>
#include <string.h>
#include <rte_mbuf.h>
#include "decap.h"

// What fc_test_decap saw of an mbuf, before and after.
struct fc_test_decap {
	struct fc_parsed p;
	int enter;     // fc_inner_enter's return
	uint32_t len;  // bytes of the frame presented (pkt_len after enter)
	int changed;   // what differs after leave (or after a refused enter): 1 data_off, 2 data_len, 4 pkt_len, 8 bytes
};

// fc_test_fill writes fill into every segment's headroom and tailroom,
// so a read outside the frame would see it.
static void fc_test_fill(struct rte_mbuf *m, uint8_t fill)
{
	for (struct rte_mbuf *s = m; s != NULL; s = s->next) {
		memset(s->buf_addr, fill, s->data_off);
		memset(rte_pktmbuf_mtod_offset(s, uint8_t *, s->data_len), fill, rte_pktmbuf_tailroom(s));
	}
}

static void fc_test_bytes(const struct rte_mbuf *m, uint8_t *dst)
{
	const void *p = rte_pktmbuf_read(m, 0, m->pkt_len, dst);

	if (p != NULL && p != dst)
		memcpy(dst, p, m->pkt_len);
}

// fc_test_decap parses m, enters its inner packet (its bytes into
// presented, of room for pkt_len bytes), leaves, and frees m.
static void fc_test_decap(struct rte_mbuf *m, uint8_t fill, uint8_t *presented, uint8_t *before, uint8_t *after, struct fc_test_decap *r)
{
	uint16_t off = m->data_off, dl = m->data_len;
	uint32_t pl = m->pkt_len;
	uint8_t saved[14];

	fc_test_fill(m, fill);
	fc_parse(m, &r->p);
	fc_test_bytes(m, before);
	r->enter = fc_inner_enter(m, &r->p, saved);
	r->len = m->pkt_len;
	r->changed = 0;
	if (r->enter == 0) {
		fc_test_bytes(m, presented);
		fc_inner_leave(m, &r->p, saved);
	}
	fc_test_bytes(m, after);
	r->changed = (m->data_off != off) | (m->data_len != dl) << 1 | (m->pkt_len != pl) << 2 |
		(memcmp(before, after, pl) != 0) << 3;
	rte_pktmbuf_free(m);
}

// fc_test_parse_loop parses m n times: the hashes summed, so the work is kept.
static uint32_t fc_test_parse_loop(const struct rte_mbuf *m, uint64_t n)
{
	struct fc_parsed p;
	uint32_t sum = 0;

	for (uint64_t i = 0; i < n; i++) {
		fc_parse(m, &p);
		sum += p.flow_hash + p.inner_off;
	}
	return sum;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// The kinds of innermost packet of fc_parse (decap.h).
const (
	innerNone = C.FC_INNER_NONE
	innerEth  = C.FC_INNER_ETH
	innerIP4  = C.FC_INNER_IP4
	innerIP6  = C.FC_INNER_IP6
)

// parsed is fc_parse's result, for tests.
type parsed struct {
	Off, Kind, Layers int
	Hash              uint32
}

func (p parsed) String() string {
	return fmt.Sprintf("kind %d at %d, %d layers, hash %08x", p.Kind, p.Off, p.Layers, p.Hash)
}

// decapResult is what decapForTest saw.
type decapResult struct {
	parsed
	Enter     int    // fc_inner_enter's return
	Presented []byte // the frame fc_inner_enter presented, when Enter is 0
	Changed   int    // after fc_inner_leave (or a refused enter): 1 data_off, 2 data_len, 4 pkt_len, 8 bytes differ
}

// decapForTest puts frame in an mbuf of pool (segments of seg bytes, 0:
// one), its headroom and tailroom filled with fill, runs fc_parse, then
// fc_inner_enter and fc_inner_leave as the RX loop will, and frees it.
func decapForTest(pool *Mempool, frame []byte, seg int, fill byte) (decapResult, error) {
	m := testMbuf(pool, frame, seg)
	if m == nil {
		return decapResult{}, fmt.Errorf("no mbuf for %d bytes in segments of %d", len(frame), seg)
	}
	n := C.size_t(len(frame) + 1)
	bufs := (*[3]*C.uint8_t)(C.calloc(3, C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(bufs))
	for i := range bufs {
		bufs[i] = (*C.uint8_t)(C.malloc(n))
		defer C.free(unsafe.Pointer(bufs[i]))
	}
	var r C.struct_fc_test_decap
	C.fc_test_decap(m, C.uint8_t(fill), bufs[0], bufs[1], bufs[2], &r)
	out := decapResult{
		parsed: parsed{Off: int(r.p.inner_off), Kind: int(r.p.inner_kind), Layers: int(r.p.layers), Hash: uint32(r.p.flow_hash)},
		Enter:  int(r.enter), Changed: int(r.changed),
	}
	if r.enter == 0 {
		out.Presented = C.GoBytes(unsafe.Pointer(bufs[0]), C.int(r.len))
	}
	return out, nil
}

// parseLoopForTest parses frame, in one mbuf of pool, n times in one C
// call (the benchmark of fc_parse without cgo per frame).
func parseLoopForTest(pool *Mempool, frame []byte, n int) (uint32, error) {
	m := testMbuf(pool, frame, 0)
	if m == nil {
		return 0, fmt.Errorf("no mbuf for %d bytes", len(frame))
	}
	defer C.rte_pktmbuf_free(m)
	return uint32(C.fc_test_parse_loop(m, C.uint64_t(n))), nil
}
