/*
 * pkt.h: a dequeued packet as the consumers of a burst see it, and the C
 * function a consumer gives fc_burst_drain. Plain C, no DPDK header: it is
 * the interface between package dpdk's C and a consumer's C
 * (kafka/internal/rdk), which includes this file and nothing else of
 * dpdk's.
 */
#ifndef FASTCAPA_PKT_H
#define FASTCAPA_PKT_H

#include <stdint.h>

/* One packet of a dequeued burst. */
struct fc_pkt {
	const uint8_t *data; /* first segment's data, or the whole frame linearized */
	uint32_t len;        /* pkt_len: the whole frame */
	uint32_t seg_len;    /* bytes at data: len once contiguous */
	uint64_t ts_ns;
	uint32_t routes;    /* fc_meta's */
	uint32_t flow_hash; /* fc_meta's */
	uint16_t nb_segs;
	uint16_t port;
	uint8_t bad; /* segment lengths do not add up to pkt_len */
};

/*
 * A burst's consumer: called by fc_burst_drain with n packets, each of
 * them contiguous (seg_len == len) unless bad. The data stays valid until
 * the consumer returns; then the mbufs are freed.
 */
typedef void fc_sink_fn(void *ctx, const struct fc_pkt *pkts, uint32_t n);

#endif
