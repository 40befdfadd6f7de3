package dpdk

/*
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <rte_launch.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_dev.h>
#include "fc.h"

// fc_test_copy copies an mbuf's frame (up to cap bytes) into buf and
// returns its length.
static uint32_t fc_test_copy(const struct rte_mbuf *m, uint8_t *buf, uint32_t cap)
{
	uint32_t n = m->pkt_len < cap ? m->pkt_len : cap;
	const void *p = rte_pktmbuf_read(m, 0, n, buf);

	if (p != buf)
		memcpy(buf, p, n);
	return m->pkt_len;
}

// fc_test_rx_timed runs fc_rx_loop and writes the CPU time its thread
// spent in it (CLOCK_THREAD_CPUTIME_ID), in ns, to fc_test_rx_cpu_ns:
// what the loop cost, whatever else shares the CPU.
static volatile uint64_t fc_test_rx_cpu_ns;

static uint64_t fc_thread_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int fc_test_rx_timed(void *arg)
{
	uint64_t t0 = fc_thread_ns();
	int rc = fc_rx_loop(arg);

	fc_test_rx_cpu_ns = fc_thread_ns() - t0;
	return rc;
}

static int fc_test_rx_launch_timed(struct fc_rx_lcore *lc)
{
	__atomic_store_n(&lc->stop, 0, __ATOMIC_RELAXED);
	return rte_eal_remote_launch(fc_test_rx_timed, lc, lc->lcore);
}

static uint64_t fc_test_rx_cpu(void) { return fc_test_rx_cpu_ns; }

// fc_test_mbuf builds an mbuf holding data, in segments of seg bytes
// (0: one segment). NULL if the pool is empty or seg too large.
static struct rte_mbuf *fc_test_mbuf(struct rte_mempool *mp, const uint8_t *data, uint32_t len, uint32_t seg)
{
	struct rte_mbuf *head = NULL;
	uint32_t off = 0;

	do {
		struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
		uint32_t l = len - off;
		char *dst;

		if (seg != 0 && l > seg)
			l = seg;
		if (m == NULL || (dst = rte_pktmbuf_append(m, l)) == NULL) {
			rte_pktmbuf_free(m);
			rte_pktmbuf_free(head);
			return NULL;
		}
		memcpy(dst, data + off, l);
		if (head == NULL)
			head = m;
		else if (rte_pktmbuf_chain(head, m) != 0) {
			rte_pktmbuf_free(m);
			rte_pktmbuf_free(head);
			return NULL;
		}
		off += l;
	} while (off < len);
	return head;
}

// fc_test_filter runs fc_filter_burst as the RX loop does and writes, for
// each kept mbuf, its index in pkts; then frees the kept ones.
static int fc_test_filter(const struct fc_filter *f, struct rte_mbuf **pkts, uint16_t n, int32_t *kept)
{
	struct rte_mbuf *orig[FC_MAX_BURST];
	uint16_t k;

	memcpy(orig, pkts, n * sizeof(*pkts));
	k = fc_filter_burst(f, pkts, n);
	for (uint16_t i = 0; i < k; i++) {
		kept[i] = -1;
		for (uint16_t j = 0; j < n; j++)
			if (orig[j] == pkts[i])
				kept[i] = j;
	}
	rte_pktmbuf_free_bulk(pkts, k);
	return k;
}

static int fc_test_mtu(uint16_t port)
{
	uint16_t mtu;
	int rc = rte_eth_dev_get_mtu(port, &mtu);

	return rc != 0 ? rc : mtu;
}

static int fc_test_double_free(struct rte_mempool *mp)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	if (m == NULL)
		return -1;
	rte_pktmbuf_free(m);
	rte_pktmbuf_free(m);
	return 0;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// doubleFreeForTest frees one mbuf twice, the bug the original fastcapa
// had, so a test can show Audit catches it. It corrupts the pool.
func doubleFreeForTest(m *Mempool) error {
	if C.fc_test_double_free(m.mp) != 0 {
		return errors.New("alloc failed")
	}
	return nil
}

// portMTU is a port's MTU now, which rte_eth_dev_configure sets.
func portMTU(name string) (int, error) {
	id, err := portID(name)
	if err != nil {
		return 0, err
	}
	n := int(C.fc_test_mtu(id))
	if n < 0 {
		return 0, fmt.Errorf("device info: %w", Errno(-n))
	}
	return n, nil
}

// filterForTest puts frames in mbufs of pool (in segments of seg bytes;
// 0: one segment each), runs f over them as one burst, the RX loop's
// code, and returns the indexes of the frames kept, in the order kept.
// Every mbuf is freed.
func filterForTest(f *Filter, pool *Mempool, frames [][]byte, seg int) ([]int, error) {
	if len(frames) > MaxBurst {
		return nil, fmt.Errorf("%d frames, more than a burst", len(frames))
	}
	pkts := (*[MaxBurst]*C.struct_rte_mbuf)(C.calloc(MaxBurst, C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(pkts))
	for i, fr := range frames {
		p := C.CBytes(fr)
		pkts[i] = C.fc_test_mbuf(pool.mp, (*C.uint8_t)(p), C.uint32_t(len(fr)), C.uint32_t(seg))
		C.free(p)
		if pkts[i] == nil {
			C.rte_pktmbuf_free_bulk(&pkts[0], C.uint(i))
			return nil, fmt.Errorf("frame %d: no mbuf", i)
		}
	}
	var kept [MaxBurst]C.int32_t
	k := int(C.fc_test_filter(f.c, &pkts[0], C.uint16_t(len(frames)), &kept[0]))
	out := make([]int, k)
	for i := range out {
		out[i] = int(kept[i])
	}
	return out, nil
}

// tunnelForTest puts frames in mbufs of pool (one segment each), runs the
// tunnel receiver t over them as one burst, as the RX loop does, and
// returns the frames it kept, as they are then, and its counts. The
// receiver frees what it refuses; the rest are freed here.
func tunnelForTest(t *TunnelIn, pool *Mempool, frames [][]byte) ([][]byte, TunnelStats, error) {
	if len(frames) > MaxBurst {
		return nil, TunnelStats{}, fmt.Errorf("%d frames, more than a burst", len(frames))
	}
	tin, err := t.cStruct()
	if err != nil {
		return nil, TunnelStats{}, err
	}
	defer C.free(unsafe.Pointer(tin))
	pkts := (*[MaxBurst]*C.struct_rte_mbuf)(C.calloc(MaxBurst, C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(pkts))
	for i, fr := range frames {
		p := C.CBytes(fr)
		pkts[i] = C.fc_test_mbuf(pool.mp, (*C.uint8_t)(p), C.uint32_t(len(fr)), 0)
		C.free(p)
		if pkts[i] == nil {
			C.rte_pktmbuf_free_bulk(&pkts[0], C.uint(i))
			return nil, TunnelStats{}, fmt.Errorf("frame %d: no mbuf", i)
		}
	}
	var st C.struct_fc_tunnel_stats
	k := int(C.fc_tunnel_burst(tin, &st, &pkts[0], C.uint16_t(len(frames))))
	buf := (*[1 << 16]byte)(C.malloc(1 << 16))
	defer C.free(unsafe.Pointer(buf))
	kept := make([][]byte, k)
	for i := range kept {
		n := int(C.fc_test_copy(pkts[i], (*C.uint8_t)(unsafe.Pointer(buf)), 1<<16))
		kept[i] = append([]byte(nil), buf[:min(n, 1<<16)]...)
	}
	C.rte_pktmbuf_free_bulk(&pkts[0], C.uint(k))
	return kept, TunnelStats{Decapsulated: uint64(st.decapsulated), Other: uint64(st.other), WrongKey: uint64(st.wrong_key),
		Malformed: uint64(st.malformed)}, nil
}

// launchTimedForTest launches r's loop as Launch does, under a wrapper
// that measures its thread's CPU time; rxCPUForTest reads it after Stop.
func launchTimedForTest(r *RxLcore) error {
	var code C.int
	if err := onMain(func() { code = C.fc_test_rx_launch_timed(r.c) }); err != nil {
		return err
	}
	if err := rc(code); err != nil {
		return err
	}
	r.launched = true
	return nil
}

// rxCPUForTest is the CPU time, in ns, of the last loop launched with
// launchTimedForTest, once it has stopped.
func rxCPUForTest() uint64 { return uint64(C.fc_test_rx_cpu()) }

// testMbuf is fc_test_mbuf for the other test hooks of the package: an
// mbuf of pool holding data in segments of seg bytes (0: one segment),
// or nil.
func testMbuf(pool *Mempool, data []byte, seg int) *C.struct_rte_mbuf {
	p := C.CBytes(data)
	defer C.free(p)
	return C.fc_test_mbuf(pool.mp, (*C.uint8_t)(p), C.uint32_t(len(data)), C.uint32_t(seg))
}

// addVdevForTest creates a virtual device after EAL start (rte_eal_hotplug_add),
// so a test can open ports over files it wrote; removeVdevForTest
// removes it.
func addVdevForTest(name, args string) error {
	cn, ca, cvdev := C.CString(name), C.CString(args), C.CString("vdev")
	defer C.free(unsafe.Pointer(cvdev))
	defer C.free(unsafe.Pointer(cn))
	defer C.free(unsafe.Pointer(ca))
	var code C.int
	if err := onMain(func() { code = C.rte_eal_hotplug_add(cvdev, cn, ca) }); err != nil {
		return err
	}
	if err := rc(code); err != nil {
		return fmt.Errorf("vdev %s,%s: %w", name, args, flushLogErr(err))
	}
	return nil
}

func removeVdevForTest(name string) error {
	cn, cvdev := C.CString(name), C.CString("vdev")
	defer C.free(unsafe.Pointer(cvdev))
	defer C.free(unsafe.Pointer(cn))
	var code C.int
	if err := onMain(func() { code = C.rte_eal_hotplug_remove(cvdev, cn) }); err != nil {
		return err
	}
	return rc(code)
}
