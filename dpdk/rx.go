package dpdk

/*
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include "fc.h"

static int fc_rx_launch(struct fc_rx_lcore *lc)
{
	__atomic_store_n(&lc->stop, 0, __ATOMIC_RELAXED);
	return rte_eal_remote_launch(fc_rx_loop, lc, lc->lcore);
}

static void fc_rx_stop(struct fc_rx_lcore *lc)
{
	__atomic_store_n(&lc->stop, 1, __ATOMIC_RELAXED);
}

static void fc_rx_lcore_counts(const struct fc_rx_lcore *lc, uint64_t *polls, uint64_t *busy, uint64_t *sleeps,
			       uint64_t *slept_ns)
{
	*polls = __atomic_load_n(&lc->polls, __ATOMIC_RELAXED);
	*busy = __atomic_load_n(&lc->busy_polls, __ATOMIC_RELAXED);
	*sleeps = __atomic_load_n(&lc->sleeps, __ATOMIC_RELAXED);
	*slept_ns = __atomic_load_n(&lc->slept_ns, __ATOMIC_RELAXED);
}
*/
import "C"

import (
	"fmt"
	"time"
	"unsafe"
)

// RxQueue names one receive queue of a port.
type RxQueue struct {
	Port  *Port
	Queue uint16
}

// RxSpec describes one RX lcore: the queues it polls and the ring it
// fills.
type RxSpec struct {
	Lcore  uint
	Queues []RxQueue
	// Ring gets the kept packets; nil: none (outputs only), the kept
	// packets are freed after the outputs, counted Released.
	Ring  *Ring
	Burst uint16
	// IdleAfter is how many polls in a row that find nothing make the
	// lcore sleep between polls (from 1 µs, doubling to IdleSleep) until
	// a packet comes; 0: busy polling, never a pause.
	IdleAfter uint32
	IdleSleep time.Duration
	// Routes decide, for each packet, which routes keep it (see
	// Routes); the lcore does not own them: close them after it. Nil:
	// one route that keeps every packet.
	Routes *Routes
	// Outputs, if set, get the kept packets of their routes before the
	// ring, sent on TxQueue of each output's port. The lcore does not
	// own them: close them after it.
	Outputs *Outputs
	TxQueue uint16
}

// RxLcore is an EAL worker lcore running the C polling loop. Counters live
// in its C memory and are written only by that lcore.
type RxLcore struct {
	spec     RxSpec
	c        *C.struct_fc_rx_lcore
	routes   *Routes // spec.Routes, or its own default
	own      bool    // routes is its own
	launched bool
}

// MaxBurst is the largest burst an RX lcore or a worker handles.
const MaxBurst = C.FC_MAX_BURST

// NewRxLcore prepares an RX lcore; Launch starts it.
func NewRxLcore(spec RxSpec) (*RxLcore, error) {
	if len(spec.Queues) == 0 || len(spec.Queues) > C.FC_MAX_QUEUES_PER_LCORE {
		return nil, fmt.Errorf("rx lcore %d: %d queues (1 to %d)", spec.Lcore, len(spec.Queues), C.FC_MAX_QUEUES_PER_LCORE)
	}
	if spec.Burst == 0 || spec.Burst > MaxBurst {
		return nil, fmt.Errorf("rx lcore %d: burst %d (1 to %d)", spec.Lcore, spec.Burst, MaxBurst)
	}
	routes, own := spec.Routes, false
	if routes == nil {
		var err error
		if routes, err = NewRoutes(nil, RoutesOptions{}); err != nil {
			return nil, err
		}
		own = true
	}
	c := (*C.struct_fc_rx_lcore)(C.rte_zmalloc_socket(nil, C.sizeof_struct_fc_rx_lcore, C.RTE_CACHE_LINE_SIZE,
		C.int(C.rte_lcore_to_socket_id(C.uint(spec.Lcore)))))
	if c == nil {
		if own {
			routes.Close()
		}
		return nil, fmt.Errorf("rx lcore %d: out of memory", spec.Lcore)
	}
	c.lcore = C.uint(spec.Lcore)
	if spec.Ring != nil {
		c.ring = spec.Ring.r
	}
	c.burst = C.uint16_t(spec.Burst)
	c.nb_queues = C.uint16_t(len(spec.Queues))
	c.routes = routes.c
	c.idle_after = C.uint32_t(spec.IdleAfter)
	c.idle_sleep_ns = C.uint32_t(max(spec.IdleSleep, time.Microsecond).Nanoseconds())
	if spec.Outputs != nil {
		c.out.outs = spec.Outputs.c
		c.out.txq = C.uint16_t(spec.TxQueue)
		for i := range c.out.ip_id {
			c.out.ip_id[i] = C.uint16_t(spec.TxQueue) // each lcore its own ids: txq, txq + lcores, …
		}
	}
	for i, q := range spec.Queues {
		cq := &c.queues[i]
		cq.port = C.uint16_t(q.Port.Info.ID)
		cq.queue = C.uint16_t(q.Queue)
		cq.ts_mode = q.Port.tsMode
		cq.dev_clock = q.Port.clock
		cq.tin = q.Port.tin
	}
	return &RxLcore{spec: spec, c: c, routes: routes, own: own}, nil
}

// Spec returns the spec the lcore was made from.
func (r *RxLcore) Spec() RxSpec { return r.spec }

// Launch starts the polling loop on the lcore.
func (r *RxLcore) Launch() error {
	var code C.int
	if err := onMain(func() { code = C.fc_rx_launch(r.c) }); err != nil {
		return err
	}
	if err := rc(code); err != nil {
		return fmt.Errorf("launch rx lcore %d: %w", r.spec.Lcore, err)
	}
	r.launched = true
	return nil
}

// Stop tells the loop to return after its current pass and waits for it.
// After Stop the lcore enqueues nothing more.
func (r *RxLcore) Stop() {
	if !r.launched {
		return
	}
	C.fc_rx_stop(r.c)
	onMain(func() { C.rte_eal_wait_lcore(C.uint(r.spec.Lcore)) })
	r.launched = false
}

// RxQueueStats are the counters of one polled queue.
type RxQueueStats struct {
	Port        string
	Queue       uint16
	Lcore       uint
	Packets     uint64 // received from the device
	Bytes       uint64
	Enqueued    uint64 // put on the ring
	Filtered    uint64 // no route's filter matched: freed before the ring
	Sampled     uint64 // matched a route, but no route's sampling kept it: freed
	RingDropped uint64 // freed because the ring was full
	Released    uint64 // kept; no ring (RxSpec.Ring nil): freed after the outputs
	DeviceStamp uint64 // stamped with the device's timestamp
	// Copies is the routes' share of Enqueued: each enqueued packet
	// counts once per route that keeps it.
	Copies uint64
	// Decapsulated is the packets whose inner packet the filters saw
	// (RoutesOptions.Decap).
	Decapsulated uint64
	// Tunnel is the port's tunnel receiver's counts: of Packets, those
	// not Decapsulated were freed before anything else saw them.
	Tunnel TunnelStats
	// Routes are the counts of each route, in the lcore's route order.
	Routes []RouteRxStats
}

// RouteRxStats are one route's counts on one queue. Each packet received
// is, for each route, Filtered, Sampled, or kept: then enqueued,
// RingDropped or (no ring) Released.
type RouteRxStats struct {
	Filtered    uint64 // its filter did not match
	Sampled     uint64 // matched, not kept by its sampling
	RingDropped uint64 // kept, but the ring was full
	Released    uint64 // kept; no ring: freed after the outputs
}

// Stats reads the lcore's counters, one entry per queue.
func (r *RxLcore) Stats() []RxQueueStats {
	out := make([]RxQueueStats, len(r.spec.Queues))
	for i, q := range r.spec.Queues {
		var s C.struct_fc_rxq_stats
		C.fc_rx_lcore_read(r.c, C.uint(i), &s)
		out[i] = RxQueueStats{
			Port: q.Port.Info.Name, Queue: q.Queue, Lcore: r.spec.Lcore,
			Packets: uint64(s.packets), Bytes: uint64(s.bytes), Enqueued: uint64(s.enqueued),
			RingDropped: uint64(s.ring_dropped), Released: uint64(s.released), DeviceStamp: uint64(s.dev_ts), Filtered: uint64(s.filtered),
			Sampled: uint64(s.sampled), Copies: uint64(s.copies), Decapsulated: uint64(s.decapsulated), Routes: make([]RouteRxStats, r.routes.Len()),
			Tunnel: TunnelStats{Decapsulated: uint64(s.tunnel.decapsulated), Other: uint64(s.tunnel.other),
				WrongKey: uint64(s.tunnel.wrong_key), Malformed: uint64(s.tunnel.malformed)},
		}
		for j := range out[i].Routes {
			rs := &s.routes[j]
			out[i].Routes[j] = RouteRxStats{Filtered: uint64(rs.filtered), Sampled: uint64(rs.sampled),
				RingDropped: uint64(rs.ring_dropped), Released: uint64(rs.released)}
		}
	}
	return out
}

// LcoreStats are an RX lcore's own counts.
type LcoreStats struct {
	Lcore     uint
	Polls     uint64 // passes over its queues
	BusyPolls uint64 // passes that found packets
	Sleeps    uint64 // sleeps taken while idle
	Slept     time.Duration
}

// LcoreStats reads the lcore's own counts.
func (r *RxLcore) LcoreStats() LcoreStats {
	var p, b, s, ns C.uint64_t
	C.fc_rx_lcore_counts(r.c, &p, &b, &s, &ns)
	return LcoreStats{Lcore: r.spec.Lcore, Polls: uint64(p), BusyPolls: uint64(b), Sleeps: uint64(s),
		Slept: time.Duration(ns)}
}

// Close stops the lcore if needed and frees its memory.
func (r *RxLcore) Close() {
	r.Stop()
	if r.c != nil {
		C.rte_free(unsafe.Pointer(r.c))
		r.c = nil
	}
	if r.own {
		r.routes.Close()
		r.own = false
	}
}
