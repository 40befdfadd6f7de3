/*
 * fc.h: the C half of package dpdk. Everything here runs either on an EAL
 * lcore (the RX loop) or inside one cgo call made by a Go worker per burst.
 * No function in this file calls back into Go on the packet path.
 */
#ifndef FASTCAPA_FC_H
#define FASTCAPA_FC_H

#include <stdint.h>
#include <rte_config.h>
#include <rte_ring.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_bpf.h>
#include <pcap/bpf.h> /* struct bpf_program, for rte_bpf_convert: the type only */

#include "pkt.h" /* struct fc_pkt, fc_sink_fn */
#include "out.h" /* outputs and tunnel receivers */

#define FC_MAX_BURST 1024
#define FC_MAX_QUEUES_PER_LCORE 64
#define FC_MAX_ROUTES 32

/* How a queue's packets get their timestamp. */
enum fc_ts_mode {
	FC_TS_TSC = 0,      /* TSC read at receive, converted to wall-clock ns */
	FC_TS_DEV_US = 1,   /* the mbuf's RX timestamp dynfield holds epoch µs (net_pcap) */
	FC_TS_DEV_CLOCK = 2 /* the dynfield holds device clock ticks, mapped by a per-port clock */
};

/*
 * A linear map from a free-running counter (TSC, or a NIC clock) to
 * CLOCK_REALTIME nanoseconds: ns = ns0 + ((ticks - ticks0) * mult) >> 32.
 * Written by one Go goroutine (re-anchoring), read by RX lcores under a
 * sequence lock.
 */
struct fc_clock {
	uint32_t seq;
	uint64_t ticks0;
	uint64_t ns0;
	uint64_t mult;
	/* first anchor, the long baseline the rate is refined against */
	uint64_t base_ticks;
	uint64_t base_ns;
	uint64_t hz;
} __rte_cache_aligned;

/* Counters of one route on one RX queue. Written only by its RX lcore. */
struct fc_route_stats {
	uint64_t filtered;     /* rejected by the route's filter */
	uint64_t sampled;      /* matched, not kept by the route's sampling */
	uint64_t ring_dropped; /* kept by the route, freed because the ring was full */
	uint64_t released;     /* kept by the route; no ring: the outputs had it, then freed */
};

/* Counters of one RX queue. Written only by its RX lcore. */
struct fc_rxq_stats {
	uint64_t packets;      /* received from the device */
	uint64_t bytes;        /* their pkt_len, summed */
	uint64_t enqueued;     /* handed to the ring */
	uint64_t ring_dropped; /* freed because the ring was full */
	uint64_t released;     /* kept; no ring (outputs only): freed after the outputs */
	uint64_t dev_ts;       /* stamped from the device's timestamp */
	uint64_t filtered;     /* no route's filter matched: freed */
	uint64_t sampled;      /* matched a route, kept by none's sampling: freed */
	uint64_t copies;       /* route bits of the enqueued packets, summed */
	uint64_t decapsulated; /* the routes' filters saw the inner packet */
	struct fc_tunnel_stats tunnel; /* a tunnel receiver's counts (packets: before it) */
	struct fc_route_stats routes[FC_MAX_ROUTES];
};

struct fc_rxq {
	uint16_t port;
	uint16_t queue;
	uint8_t ts_mode;
	struct fc_clock *dev_clock; /* FC_TS_DEV_CLOCK only */
	const struct fc_tunnel_in *tin; /* NULL: frames as received */
	struct fc_rxq_stats st;
} __rte_cache_aligned;

/*
 * A capture filter: libpcap's classic BPF converted to eBPF and loaded by
 * librte_bpf. jit is the native code rte_bpf_get_jit gave, or NULL: then
 * the interpreter runs it (rte_bpf_exec_burst). Read-only once loaded.
 */
struct fc_filter {
	struct rte_bpf *bpf;
	uint64_t (*jit)(void *);
};

/*
 * A route: which packets a destination gets. A packet is offered to every
 * route; each one that keeps it sets its bit in the packet's route mask
 * (fc_meta). A packet no route keeps is freed before the ring.
 */
struct fc_route {
	const struct fc_filter *filter; /* NULL: every packet matches */
	uint32_t every;                 /* keep 1 in every (per queue); 0 or 1: all */
	uint64_t below;                 /* keep when rte_rand() < below; 0: all */
	uint8_t unmatched;              /* matches what no other route's filter matched (routes without one do not count) */
};

/* The routes every RX lcore applies; read-only while they run. */
struct fc_routes {
	uint16_t n;
	/*
	 * simple: one route, no filter, no sampling: nothing to do per
	 * packet (every packet is route 0's). The worker then reads no mask.
	 */
	uint8_t simple;
	/* filter_only: one route, a filter, nothing else: fc_filter_burst */
	uint8_t filter_only;
	uint8_t hash;       /* compute the flow hash (fc_parse) */
	uint8_t decap;      /* filters see the innermost packet (fc_inner_enter) */
	uint8_t send_inner; /* and the packet stays cut to it */
	struct fc_route r[FC_MAX_ROUTES];
};

/* Per-packet metadata beside the timestamp (dynfield fastcapa_dynfield_meta). */
struct fc_meta {
	uint32_t routes;    /* bit r: route r keeps the packet */
	uint32_t flow_hash; /* symmetric hash of the 5-tuple */
};

/* One RX lcore: polls nb_queues (port, queue) pairs into one ring. */
struct fc_rx_lcore {
	volatile int stop;
	unsigned lcore;
	struct rte_ring *ring;
	const struct fc_routes *routes;
	uint16_t burst;
	uint16_t nb_queues;
	uint64_t last_ns; /* monotonic clamp for TSC stamps */
	/*
	 * Idling: after idle_after polls in a row found nothing, the loop
	 * sleeps between polls, from 1 µs doubling to idle_sleep_ns, until a
	 * packet comes. idle_after 0: busy polling, never a pause.
	 */
	uint32_t idle_after;
	uint32_t idle_sleep_ns;
	uint64_t polls;
	uint64_t busy_polls;
	uint64_t sleeps;      /* nanosleeps taken */
	uint64_t slept_ns;    /* their requested durations, summed */
	uint32_t sample_count[FC_MAX_QUEUES_PER_LCORE][FC_MAX_ROUTES];
	struct fc_out_lcore out; /* out.outs NULL: no outputs */
	struct fc_rxq queues[FC_MAX_QUEUES_PER_LCORE];
};

/*
 * A worker's burst: the mbufs it owns between two fc_burst_cycle calls,
 * and their descriptors.
 */
struct fc_burst {
	uint32_t n;
	uint32_t cap;
	struct rte_mbuf *mbufs[FC_MAX_BURST];
	struct fc_pkt pkts[FC_MAX_BURST];
	/* fc_burst_drain's copies of multi-segment frames (malloc'd, grown) */
	uint8_t *lin;
	uint64_t lin_cap;
};

struct fc_mempool_audit {
	uint64_t size;
	uint64_t in_ring; /* objects in the pool's backing store */
	uint64_t in_caches;
	int64_t in_use;   /* size - in_ring - in_caches; negative means double free */
};

extern int fc_ts_offset;       /* our dynfield: uint64 wall-clock ns */
extern int fc_meta_offset;     /* our dynfield: struct fc_meta */
extern int fc_devts_offset;    /* DPDK's RX timestamp dynfield, -1 if none */
extern uint64_t fc_devts_flag; /* DPDK's RX timestamp dynflag, 0 if none */
extern struct fc_clock fc_tsc_clock;
extern volatile int fc_poison_on_free;

int fc_dynfield_init(void);
void fc_devts_lookup(void);

void fc_clock_init(struct fc_clock *c, uint64_t ticks, uint64_t ns, uint64_t hz);
void fc_clock_anchor(struct fc_clock *c, uint64_t ticks, uint64_t ns);
uint64_t fc_clock_ns(struct fc_clock *c, uint64_t ticks);
int fc_tsc_sample(uint64_t *tsc, uint64_t *ns);
int fc_dev_sample(uint16_t port, uint64_t *ticks, uint64_t *ns);

int fc_filter_load(const struct bpf_insn *ins, uint32_t n, int interpret, struct fc_filter *f);
void fc_filter_free(struct fc_filter *f);
uint16_t fc_filter_burst(const struct fc_filter *f, struct rte_mbuf **pkts, uint16_t n);
uint16_t fc_route_burst(struct fc_rx_lcore *lc, unsigned qi, struct rte_mbuf **pkts, uint16_t n);

int fc_rx_loop(void *arg);
void fc_rx_lcore_read(const struct fc_rx_lcore *lc, unsigned q, struct fc_rxq_stats *out);

unsigned fc_burst_cycle(struct rte_ring *r, struct fc_burst *b);
void fc_burst_release(struct fc_burst *b);
unsigned fc_burst_drain(struct rte_ring *r, struct fc_burst *b, fc_sink_fn *sink, void *ctx);
void fc_burst_destroy(struct fc_burst *b);
int64_t fc_pkt_copy(const struct fc_burst *b, uint32_t i, uint8_t *dst, uint64_t cap);

void fc_mempool_audit(const struct rte_mempool *mp, struct fc_mempool_audit *a);

int fc_log_to_go(void);

#endif
