/*
 * The producer of fastcapa's packets: a librdkafka handle whose messages
 * are produced from C, one burst of packets per call (fc_rdk_sink, a
 * fc_sink_fn of dpdk/pkt.h), and whose events are served from C
 * (fc_rdk_poll): delivery reports are counted here and never reach Go;
 * logs, errors and statistics are handed to Go one at a time.
 *
 * Threads: one worker thread calls fc_rdk_sink (the producing side, its
 * counters plain); one poller thread calls fc_rdk_poll (delivery counts,
 * atomic); Go reads both with atomic loads.
 */
#ifndef FC_RDK_PRODUCER_H
#define FC_RDK_PRODUCER_H

#include <stdint.h>

#include "rdk.h"
#include "pkt.h"

#define FC_RDK_MAX_DESTS 32 /* dpdk's FC_MAX_ROUTES: a route mask is 32 bits */

enum fc_rdk_partitioner {
	FC_RDK_PART_KEY,	/* librdkafka's partitioner, on the key */
	FC_RDK_PART_FLOW,	/* the packet's flow hash mod partitions */
	FC_RDK_PART_RR,		/* round robin, per producer */
};

/* What the producing side counts for one destination. */
struct fc_rdk_sent {
	uint64_t produced;	/* accepted by librdkafka */
	uint64_t queue_dropped;	/* refused: queue full past the timeout, or another error */
	uint64_t bytes;		/* value bytes accepted */
	uint64_t queue_waits;	/* times it waited for room in a full queue */
};

/* Delivery reports of one destination, counted by the poller. */
struct fc_rdk_reported {
	uint64_t delivered;
	uint64_t failed;
} __attribute__((aligned(64)));

/* One destination: a topic and how a route's packets are sent there. */
struct fc_rdk_dest {
	rd_kafka_topic_t *rkt;
	uint64_t divisor;	/* timestamp ns / divisor = the key */
	uint32_t snaplen;	/* 0: whole frames */
	uint32_t partitions;	/* for FLOW and RR */
	uint32_t rr;		/* next round-robin partition */
	uint8_t partitioner;
	struct fc_rdk_sent sent;
};

/* What the producing side counts of the bursts it was given. */
struct fc_rdk_bursts {
	uint64_t packets;	/* packets given */
	uint64_t malformed;	/* not contiguous or bad: not sent */
	uint64_t bursts;
	uint64_t copies;	/* route bits of the packets given, summed */
	uint64_t holding;	/* packets of the burst being sent, 0 between bursts */
	uint64_t route_malformed[FC_RDK_MAX_DESTS];
};

struct fc_rdk_producer {
	rd_kafka_t *rk;
	rd_kafka_queue_t *q;	/* the main queue, polled as events */
	uint32_t ndests;
	uint8_t simple;		/* every packet is destination 0's; masks unread */
	uint8_t shedding;	/* the queue stayed full for a whole timeout */
	uint64_t qfull_timeout_ns;
	uint64_t shed_starts;	/* times shedding began */
	uint64_t refused;	/* produce errors other than queue full */
	int last_refusal;	/* the last of them */
	struct fc_rdk_bursts b;
	struct fc_rdk_dest d[FC_RDK_MAX_DESTS];
	/* the poller's */
	struct fc_rdk_reported r[FC_RDK_MAX_DESTS];
	int last_dr_err __attribute__((aligned(64)));
	uint64_t broker_answers; /* deliveries since start: a broker is up */
};

/* Everything fc_rdk_producer_new needs; dests as in struct fc_rdk_dest. */
struct fc_rdk_producer_spec {
	const char **keys;
	const char **values;
	int nprops;
	const char **topics;
	const uint64_t *divisors;
	const uint32_t *snaplens;
	const uint8_t *partitioners;
	const uint32_t *partitions;
	uint32_t ndests;
	uint8_t simple;
	uint64_t qfull_timeout_ns;
	int stats;		/* deliver statistics events */
};

/* An event for Go: a log line, an error or statistics. */
enum { FC_RDK_EV_NONE, FC_RDK_EV_LOG, FC_RDK_EV_ERROR, FC_RDK_EV_STATS };

struct fc_rdk_event {
	int type;
	int code;	/* ERROR: the error code */
	int fatal;	/* ERROR */
	int level;	/* LOG: syslog level */
	char fac[64];	/* LOG: facility */
	char *str;	/* malloc'd: the line, the error string, the JSON; Go frees it */
};

struct fc_rdk_producer *fc_rdk_producer_new(const struct fc_rdk_producer_spec *s,
					    char *errstr, size_t errstr_size);
void fc_rdk_set_partitions(struct fc_rdk_producer *p, uint32_t d, uint32_t n);
void fc_rdk_sink(void *ctx, const struct fc_pkt *pkts, uint32_t n); /* a fc_sink_fn */
fc_sink_fn *fc_rdk_sink_fn(void);
int fc_rdk_poll(struct fc_rdk_producer *p, int timeout_ms, struct fc_rdk_event *ev);
void fc_rdk_wake(struct fc_rdk_producer *p);
int fc_rdk_partitions(struct fc_rdk_producer *p, uint32_t d, int timeout_ms,
		      int *brokers, int *topic_err);
int fc_rdk_flush(struct fc_rdk_producer *p, int timeout_ms);
int fc_rdk_purge(struct fc_rdk_producer *p);
void fc_rdk_producer_destroy(struct fc_rdk_producer *p);

#endif
