/*
 * The producer of fastcapa's packets (see producer.h): every per-packet
 * step in C, one call per burst.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/types.h>

#include "producer.h"

#define NS_PER_S 1000000000ull
#define WAIT_MIN_NS 50000ull	/* first sleep while the queue is full */
#define WAIT_MAX_NS 5000000ull	/* longest sleep */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = ns / NS_PER_S, .tv_nsec = ns % NS_PER_S };

	nanosleep(&ts, NULL);
}

/* The counters Go reads while they change: one writer, relaxed stores. */
#define PUBLISH(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define BUMP(field) __atomic_fetch_add(&(field), 1, __ATOMIC_RELAXED)

/*
 * keep_heap stops glibc's malloc from handing the top of the heap back to
 * the kernel as soon as it is free. librdkafka allocates each message in
 * the worker's thread (rd_kafka_msg_new, key and value copied in) and
 * frees it in the poller's once delivered: at a million messages a second
 * the heap top was trimmed and grown again without end (sysmalloc, page
 * faults, clear_page: a tenth of the worker's side in perf). Freed memory
 * up to FC_TRIM_THRESHOLD stays mapped for the next messages, far less
 * than librdkafka's own queue may hold (queue.buffering.max.kbytes). It
 * is process-wide, so it is applied once and not at all when the user set
 * malloc's tunables (MALLOC_TRIM_THRESHOLD_, GLIBC_TUNABLES).
 */
#define FC_TOP_PAD (64 << 20)
#define FC_TRIM_THRESHOLD (256 << 20)

static pthread_once_t keep_heap_once = PTHREAD_ONCE_INIT;

static void keep_heap(void)
{
	const char *t = getenv("GLIBC_TUNABLES");

	if (getenv("MALLOC_TRIM_THRESHOLD_") != NULL || getenv("MALLOC_TOP_PAD_") != NULL ||
	    (t != NULL && strstr(t, "glibc.malloc.") != NULL))
		return;
	mallopt(M_TOP_PAD, FC_TOP_PAD);
	mallopt(M_TRIM_THRESHOLD, FC_TRIM_THRESHOLD);
}

struct fc_rdk_producer *
fc_rdk_producer_new(const struct fc_rdk_producer_spec *s, char *errstr, size_t errstr_size)
{
	struct fc_rdk_producer *p;
	rd_kafka_conf_t *conf;
	int events = RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_LOG | RD_KAFKA_EVENT_ERROR;

	if (s->ndests == 0 || s->ndests > FC_RDK_MAX_DESTS) {
		snprintf(errstr, errstr_size, "%u destinations (1 to %d)", s->ndests, FC_RDK_MAX_DESTS);
		return NULL;
	}
	p = aligned_alloc(64, (sizeof(*p) + 63) / 64 * 64);
	if (p == NULL) {
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	memset(p, 0, sizeof(*p));
	pthread_once(&keep_heap_once, keep_heap);
	conf = rd_kafka_conf_new();
	for (int i = 0; i < s->nprops; i++)
		if (rd_kafka_conf_set(conf, s->keys[i], s->values[i], errstr, errstr_size) != RD_KAFKA_CONF_OK)
			goto fail_conf;
	/* Log lines go to the main queue, as events, not to stderr. */
	if (rd_kafka_conf_set(conf, "log.queue", "true", errstr, errstr_size) != RD_KAFKA_CONF_OK)
		goto fail_conf;
	if (s->stats)
		events |= RD_KAFKA_EVENT_STATS;
	rd_kafka_conf_set_events(conf, events);
	p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
	if (p->rk == NULL)
		goto fail_conf; /* conf is still ours */
	p->q = rd_kafka_queue_get_main(p->rk);
	rd_kafka_set_log_queue(p->rk, NULL);
	p->ndests = s->ndests;
	p->simple = s->simple;
	p->qfull_timeout_ns = s->qfull_timeout_ns;
	for (uint32_t i = 0; i < s->ndests; i++) {
		struct fc_rdk_dest *d = &p->d[i];
		/* The topic-level properties given with the others
		 * (message.timeout.ms, acks, compression.type, ...) are in the
		 * handle's default topic configuration: a fresh one would
		 * silently drop them. */
		rd_kafka_topic_conf_t *tc = rd_kafka_default_topic_conf_dup(p->rk);

		/* A delivery report finds its destination by its topic. */
		rd_kafka_topic_conf_set_opaque(tc, d);
		d->rkt = rd_kafka_topic_new(p->rk, s->topics[i], tc);
		if (d->rkt == NULL) {
			snprintf(errstr, errstr_size, "topic %s: %s", s->topics[i],
				 rd_kafka_err2str(rd_kafka_last_error()));
			fc_rdk_producer_destroy(p);
			return NULL;
		}
		d->divisor = s->divisors[i] ? s->divisors[i] : 1;
		d->snaplen = s->snaplens[i];
		d->partitioner = s->partitioners[i];
		d->partitions = s->partitions[i];
	}
	return p;

fail_conf:
	rd_kafka_conf_destroy(conf);
	free(p);
	return NULL;
}

void
fc_rdk_set_partitions(struct fc_rdk_producer *p, uint32_t d, uint32_t n)
{
	if (d < p->ndests)
		p->d[d].partitions = n;
}

/* The orig_len header's value: ASCII decimal (kafka/origlen.go). */
static int
fmt_dec(char *b, uint32_t v)
{
	char t[10];
	int n = 0, i = 0;

	do {
		t[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		b[i++] = t[--n];
	return i;
}

/*
 * send_one hands one message to librdkafka, which copies it. While the
 * queue is full it sleeps (50 µs doubling to 5 ms: the poller serves
 * delivery reports meanwhile) and tries again, up to the timeout; once a
 * timeout has run out it drops without waiting until a message is taken
 * again, so a dead broker costs one wait, not one a packet.
 */
static void
send_one(struct fc_rdk_producer *p, struct fc_rdk_dest *d, const struct fc_pkt *pk)
{
	uint32_t len = pk->len, orig = 0;
	int32_t part = RD_KAFKA_PARTITION_UA;
	uint64_t key = pk->ts_ns / d->divisor, deadline = 0, wait = WAIT_MIN_NS;
	/* The record's timestamp (CreateTime, ms) is the packet's capture
	 * time, not the time it was produced: brokers' time-based retention
	 * and a consumer's offsetsForTimes then follow capture time, and
	 * librdkafka reads no clock for it. */
	int64_t ts_ms = (int64_t)(pk->ts_ns / 1000000u);
	unsigned char kb[8];
	char hv[12];
	int hl = 0;
	rd_kafka_resp_err_t err;

	if (d->snaplen != 0 && len > d->snaplen) {
		orig = len;
		len = d->snaplen;
		hl = fmt_dec(hv, orig);
	}
	switch (d->partitioner) {
	case FC_RDK_PART_FLOW:
		part = (int32_t)(pk->flow_hash % d->partitions);
		break;
	case FC_RDK_PART_RR:
		part = (int32_t)(d->rr++ % d->partitions);
		break;
	}
	for (int i = 7; i >= 0; i--, key >>= 8)
		kb[i] = (unsigned char)key;
	for (;;) {
		if (hl == 0)
			err = rd_kafka_producev(p->rk, RD_KAFKA_VTYPE_RKT, d->rkt,
						RD_KAFKA_VTYPE_PARTITION, part,
						RD_KAFKA_VTYPE_MSGFLAGS, RD_KAFKA_MSG_F_COPY,
						RD_KAFKA_VTYPE_TIMESTAMP, ts_ms,
						RD_KAFKA_VTYPE_KEY, (const void *)kb, sizeof(kb),
						RD_KAFKA_VTYPE_VALUE, (void *)pk->data, (size_t)len,
						RD_KAFKA_VTYPE_END);
		else
			err = rd_kafka_producev(p->rk, RD_KAFKA_VTYPE_RKT, d->rkt,
						RD_KAFKA_VTYPE_PARTITION, part,
						RD_KAFKA_VTYPE_MSGFLAGS, RD_KAFKA_MSG_F_COPY,
						RD_KAFKA_VTYPE_TIMESTAMP, ts_ms,
						RD_KAFKA_VTYPE_KEY, (const void *)kb, sizeof(kb),
						RD_KAFKA_VTYPE_VALUE, (void *)pk->data, (size_t)len,
						RD_KAFKA_VTYPE_HEADER, "orig_len", (const void *)hv, (ssize_t)hl,
						RD_KAFKA_VTYPE_END);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			PUBLISH(d->sent.produced, d->sent.produced + 1);
			PUBLISH(d->sent.bytes, d->sent.bytes + len);
			p->shedding = 0;
			return;
		}
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			p->last_refusal = err;
			PUBLISH(p->refused, p->refused + 1);
			break;
		}
		if (p->shedding)
			break;
		if (deadline == 0) {
			PUBLISH(d->sent.queue_waits, d->sent.queue_waits + 1);
			deadline = now_ns() + p->qfull_timeout_ns;
		} else if (now_ns() >= deadline) {
			p->shedding = 1;
			PUBLISH(p->shed_starts, p->shed_starts + 1);
			break;
		}
		sleep_ns(wait);
		if (wait < WAIT_MAX_NS)
			wait *= 2;
	}
	PUBLISH(d->sent.queue_dropped, d->sent.queue_dropped + 1);
}

/*
 * The sink: each packet once for every destination (route) in its mask,
 * cut to the destination's snaplen, partitioned as it says.
 */
void
fc_rdk_sink(void *ctx, const struct fc_pkt *pkts, uint32_t n)
{
	struct fc_rdk_producer *p = ctx;
	uint64_t malformed = 0, copies = 0;

	PUBLISH(p->b.holding, n);
	for (uint32_t i = 0; i < n; i++) {
		const struct fc_pkt *pk = &pkts[i];
		uint32_t routes = p->simple ? 1 : pk->routes;

		copies += (uint64_t)__builtin_popcount(routes);
		if (pk->bad || pk->seg_len != pk->len) {
			malformed++;
			for (uint32_t m = routes; m != 0; m &= m - 1) {
				unsigned r = (unsigned)__builtin_ctz(m);

				PUBLISH(p->b.route_malformed[r], p->b.route_malformed[r] + 1);
			}
			continue;
		}
		for (uint32_t m = routes; m != 0; m &= m - 1) {
			unsigned r = (unsigned)__builtin_ctz(m);

			if (r < p->ndests)
				send_one(p, &p->d[r], pk);
		}
	}
	PUBLISH(p->b.malformed, p->b.malformed + malformed);
	PUBLISH(p->b.copies, p->b.copies + copies);
	PUBLISH(p->b.bursts, p->b.bursts + 1);
	PUBLISH(p->b.packets, p->b.packets + n);
	PUBLISH(p->b.holding, 0);
}

fc_sink_fn *
fc_rdk_sink_fn(void)
{
	return fc_rdk_sink;
}

static void
count_reports(struct fc_rdk_producer *p, rd_kafka_event_t *ev)
{
	const rd_kafka_message_t *m;

	while ((m = rd_kafka_event_message_next(ev)) != NULL) {
		struct fc_rdk_dest *d = rd_kafka_topic_opaque(m->rkt);
		struct fc_rdk_reported *r = &p->r[d != NULL ? d - p->d : 0];

		if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			BUMP(r->delivered);
			BUMP(p->broker_answers);
		} else {
			BUMP(r->failed);
			__atomic_store_n(&p->last_dr_err, m->err, __ATOMIC_RELAXED);
		}
	}
}

static char *
dup_str(const char *s)
{
	return strdup(s != NULL ? s : "");
}

/*
 * fc_rdk_poll serves the main queue for up to timeout_ms: delivery
 * reports are counted here; the first other event is returned in ev
 * (type FC_RDK_EV_NONE if none came).
 */
int
fc_rdk_poll(struct fc_rdk_producer *p, int timeout_ms, struct fc_rdk_event *ev)
{
	rd_kafka_event_t *e;
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000ull;

	memset(ev, 0, sizeof(*ev));
	while ((e = rd_kafka_queue_poll(p->q, timeout_ms)) != NULL) {
		const char *fac = NULL, *str = NULL;

		switch (rd_kafka_event_type(e)) {
		case RD_KAFKA_EVENT_DR:
			count_reports(p, e);
			break;
		case RD_KAFKA_EVENT_LOG:
			rd_kafka_event_log(e, &fac, &str, &ev->level);
			ev->type = FC_RDK_EV_LOG;
			snprintf(ev->fac, sizeof(ev->fac), "%s", fac != NULL ? fac : "");
			ev->str = dup_str(str);
			break;
		case RD_KAFKA_EVENT_ERROR:
			ev->type = FC_RDK_EV_ERROR;
			ev->code = rd_kafka_event_error(e);
			ev->fatal = rd_kafka_event_error_is_fatal(e);
			ev->str = dup_str(rd_kafka_event_error_string(e));
			break;
		case RD_KAFKA_EVENT_STATS:
			ev->type = FC_RDK_EV_STATS;
			ev->str = dup_str(rd_kafka_event_stats(e));
			break;
		}
		rd_kafka_event_destroy(e);
		if (ev->type != FC_RDK_EV_NONE)
			return ev->type;
		/* Reports drained, more may follow: wait out what is left. */
		uint64_t now = now_ns();
		timeout_ms = now >= end ? 0 : (int)((end - now) / 1000000ull);
		if (timeout_ms == 0)
			break;
	}
	return FC_RDK_EV_NONE;
}

/* Make a fc_rdk_poll waiting now return at once. */
void
fc_rdk_wake(struct fc_rdk_producer *p)
{
	rd_kafka_queue_yield(p->q);
}

/*
 * Ask a broker about destination d's topic: returns the error of the
 * request (0: answered), the partition count, the brokers known and the
 * topic's own error.
 */
int
fc_rdk_partitions(struct fc_rdk_producer *p, uint32_t d, int timeout_ms, int *brokers, int *topic_err)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t err;
	int n = 0;

	*brokers = 0;
	*topic_err = 0;
	if (d >= p->ndests)
		return -1;
	err = rd_kafka_metadata(p->rk, 0, p->d[d].rkt, &md, timeout_ms);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		*topic_err = err;
		return 0;
	}
	*brokers = md->broker_cnt;
	if (md->topic_cnt < 1) {
		*topic_err = -1;
	} else {
		*topic_err = md->topics[0].err;
		n = md->topics[0].partition_cnt;
	}
	rd_kafka_metadata_destroy(md);
	return n;
}

/*
 * rd_kafka_flush: the poller must run meanwhile. Returns 0 once every
 * message was delivered or failed (some reports may still wait for the
 * poller), else how many are left.
 */
int
fc_rdk_flush(struct fc_rdk_producer *p, int timeout_ms)
{
	if (rd_kafka_flush(p->rk, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR)
		return 0;
	return rd_kafka_outq_len(p->rk);
}

/* Purge what was not delivered: each comes back as a failed report. */
int
fc_rdk_purge(struct fc_rdk_producer *p)
{
	return rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
}

void
fc_rdk_producer_destroy(struct fc_rdk_producer *p)
{
	if (p == NULL)
		return;
	for (uint32_t i = 0; i < FC_RDK_MAX_DESTS; i++)
		if (p->d[i].rkt != NULL)
			rd_kafka_topic_destroy(p->d[i].rkt);
	if (p->q != NULL)
		rd_kafka_queue_destroy(p->q);
	if (p->rk != NULL)
		rd_kafka_destroy(p->rk);
	free(p);
}
