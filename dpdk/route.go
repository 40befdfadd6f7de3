package dpdk

/*
#include <stdlib.h>
#include "fc.h"
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"
)

// MaxRoutes is how many routes a capture may have.
const MaxRoutes = C.FC_MAX_ROUTES

// Route is which packets one destination gets, decided on the RX lcore
// before the ring: those its filter matches, thinned by its sampling.
type Route struct {
	// Filter, if set, is what the route keeps; nil: every packet.
	// Routes do not own their filters: close them after the lcores.
	Filter *Filter
	// Unmatched routes match the packets no other route's filter
	// matched (and their own filter, if any, matches).
	Unmatched bool
	// Every keeps the first of each Every packets the route matched on
	// a queue (1 in N); 0 or 1: all.
	Every uint32
	// Fraction keeps each matched packet with this probability
	// (rte_rand); 0 or 1: all. Every and Fraction are not both set.
	Fraction float64
}

// Routes are the routes every RX lcore applies, in C memory. A packet
// goes on the ring with a mask of the routes that keep it
// (Packet.Routes), or is freed and counted, per queue, Filtered (no
// route's filter matched) or Sampled (matched, but no route's sampling
// kept it), and per route Filtered or Sampled (RxQueueStats.Routes).
type Routes struct {
	list []Route
	c    *C.struct_fc_routes
}

// RoutesOptions are what the RX lcores do to every packet before the
// routes' filters.
type RoutesOptions struct {
	// FlowHash computes each packet's symmetric 5-tuple hash (the
	// innermost tuple, through tunnels): Packet.FlowHash.
	FlowHash bool
	// Decap shows the filters the innermost packet (VLAN, MPLS, GRE,
	// ERSPAN, VXLAN, Geneve, GTP-U removed; an inner IP packet behind an
	// Ethernet header of the outer MACs): see decap.h.
	Decap bool
	// SendInner, with Decap, leaves each packet cut to its innermost
	// packet, so that is what is sent.
	SendInner bool
}

// NewRoutes checks and lays out routes. No routes is one route that
// keeps every packet.
func NewRoutes(routes []Route, opts RoutesOptions) (*Routes, error) {
	if len(routes) > MaxRoutes {
		return nil, fmt.Errorf("%d routes: at most %d", len(routes), MaxRoutes)
	}
	if len(routes) == 0 {
		routes = []Route{{}}
	}
	c := (*C.struct_fc_routes)(C.calloc(1, C.sizeof_struct_fc_routes))
	if c == nil {
		return nil, fmt.Errorf("routes: out of memory")
	}
	c.n = C.uint16_t(len(routes))
	for i, r := range routes {
		cr := &c.r[i]
		if r.Filter != nil {
			cr.filter = r.Filter.c
		}
		if r.Unmatched {
			cr.unmatched = 1
		}
		switch {
		case r.Every > 1 && r.Fraction > 0 && r.Fraction < 1:
			C.free(unsafe.Pointer(c))
			return nil, fmt.Errorf("route %d: sampling both 1 in %d and %g", i, r.Every, r.Fraction)
		case r.Every > 1:
			cr.every = C.uint32_t(r.Every)
		case r.Fraction < 0 || r.Fraction > 1 || math.IsNaN(r.Fraction):
			C.free(unsafe.Pointer(c))
			return nil, fmt.Errorf("route %d: sampling fraction %g (0 to 1)", i, r.Fraction)
		case r.Fraction > 0 && r.Fraction < 1:
			// rte_rand is uniform over 2^64; keep below p·2^64.
			cr.below = C.uint64_t(r.Fraction * (1 << 63) * 2)
		}
	}
	if opts.SendInner && !opts.Decap {
		C.free(unsafe.Pointer(c))
		return nil, fmt.Errorf("routes: sending the inner packet needs decapsulation")
	}
	c.hash, c.decap, c.send_inner = cbool(opts.FlowHash), cbool(opts.Decap), cbool(opts.SendInner)
	r0 := routes[0]
	alone := len(routes) == 1 && r0.Every <= 1 && (r0.Fraction == 0 || r0.Fraction == 1) && !opts.FlowHash && !opts.SendInner
	switch {
	case alone && r0.Filter == nil:
		c.simple = 1
	case alone && !opts.Decap:
		c.filter_only = 1
	}
	return &Routes{list: routes, c: c}, nil
}

// Len is the number of routes.
func (r *Routes) Len() int { return len(r.list) }

// Simple reports whether every packet on the ring is route 0's: there is
// one route. Packet.Routes may then be unset.
func (r *Routes) Simple() bool { return len(r.list) == 1 }

// Close frees the routes (not their filters).
func (r *Routes) Close() {
	if r != nil && r.c != nil {
		C.free(unsafe.Pointer(r.c))
		r.c = nil
	}
}

func cbool(b bool) C.uint8_t {
	if b {
		return 1
	}
	return 0
}
