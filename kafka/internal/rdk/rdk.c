/*
 * The C ceiling: librdkafka alone producing synthetic messages, every
 * per-message step in C (see doc.go).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rdk.h"

#define NS_PER_S 1000000000ull

/* Delivery reports, counted by dr_msg_cb on the thread that polls. */
struct counts {
	uint64_t delivered;
	uint64_t failed;
	int last_err;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct counts *c = opaque;

	(void)rk;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		c->delivered++;
	} else {
		c->failed++;
		c->last_err = m->err;
	}
}

static void put_be64(unsigned char *b, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		b[i] = (unsigned char)v;
		v >>= 8;
	}
}

/*
 * produce hands one message (key: seq, 8 bytes big-endian) to librdkafka,
 * which copies it. While the queue is full it serves delivery reports
 * (up to 1 ms a poll) and tries again, up to timeout_ns.
 */
static int produce(rd_kafka_t *rk, rd_kafka_topic_t *rkt, int flags, void *value,
		   size_t len, uint64_t seq, uint64_t timeout_ns,
		   struct fc_rdk_result *r)
{
	unsigned char key[8];
	uint64_t deadline = 0;
	int err;

	put_be64(key, seq);
	for (;;) {
		if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, flags,
				     value, len, key, sizeof(key), NULL) == 0)
			return 0;
		err = rd_kafka_last_error();
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			r->err = FC_RDK_EPRODUCE;
			snprintf(r->errstr, sizeof(r->errstr), "produce: %s",
				 rd_kafka_err2str(err));
			return -1;
		}
		if (deadline == 0) {
			deadline = now_ns() + timeout_ns;
		} else if (now_ns() > deadline) {
			r->err = FC_RDK_EQFULL;
			snprintf(r->errstr, sizeof(r->errstr),
				 "produce: queue full for %.3f s",
				 (double)timeout_ns / NS_PER_S);
			return -1;
		}
		rd_kafka_poll(rk, 1);
	}
}

/* wait_reports polls until want reports have come or timeout_ns passed. */
static int wait_reports(rd_kafka_t *rk, const struct counts *c, uint64_t want,
			uint64_t timeout_ns)
{
	uint64_t deadline = now_ns() + timeout_ns;

	while (c->delivered + c->failed < want) {
		if (now_ns() > deadline)
			return -1;
		rd_kafka_poll(rk, 10);
	}
	return 0;
}

/*
 * run is the timed part, timed as fcbench's Go modes: the clock starts at
 * the first produce; the steady window runs from the first check 1 s in
 * to the last produce; the whole run ends at the last delivery report.
 * The clock is read every 1024 messages, as there.
 */
static void run(rd_kafka_t *rk, rd_kafka_topic_t *rkt, struct counts *c,
		const struct fc_rdk_spec *s, void *value, uint64_t seq,
		struct fc_rdk_result *r)
{
	uint64_t base_d = c->delivered, base_f = c->failed;
	uint64_t t0 = now_ns(), t1 = 0, t2 = 0, d1 = 0, d2 = 0, i, t;

	for (i = 0;; i++) {
		if (s->duration_ns == 0 && i >= s->count) {
			t2 = now_ns();
			d2 = c->delivered - base_d;
			break;
		}
		if (i % 1024 == 0) {
			t = now_ns();
			if (t1 == 0 && t - t0 >= NS_PER_S) {
				t1 = t;
				d1 = c->delivered - base_d;
			}
			if (s->duration_ns > 0 && t - t0 >= s->duration_ns) {
				t2 = t;
				d2 = c->delivered - base_d;
				break;
			}
		}
		if (produce(rk, rkt, s->nocopy ? 0 : RD_KAFKA_MSG_F_COPY, value, s->size, seq + i, s->timeout_ns, r) != 0)
			break;
		r->sent++;
		rd_kafka_poll(rk, 0);
	}
	if (r->err == 0 && wait_reports(rk, c, base_d + base_f + r->sent, s->timeout_ns) != 0) {
		r->err = FC_RDK_EDRAIN;
		snprintf(r->errstr, sizeof(r->errstr),
			 "%llu of %llu delivery reports after %.3f s",
			 (unsigned long long)(c->delivered + c->failed - base_d - base_f),
			 (unsigned long long)r->sent, (double)s->timeout_ns / NS_PER_S);
	}
	r->elapsed_ns = now_ns() - t0;
	r->delivered = c->delivered - base_d;
	r->failed = c->failed - base_f;
	if (t1 != 0 && t2 > t1 && t2 - t1 >= NS_PER_S / 2) {
		r->steady_n = d2 - d1;
		r->steady_ns = t2 - t1;
	}
}

int fc_rdk_ceiling(const struct fc_rdk_spec *s, struct fc_rdk_result *r)
{
	struct counts c = { 0 };
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	unsigned char *value;
	uint64_t seq = 0;
	uint32_t j;
	int i;

	memset(r, 0, sizeof(*r));
	conf = rd_kafka_conf_new();
	for (i = 0; i < s->nprops; i++) {
		if (rd_kafka_conf_set(conf, s->keys[i], s->values[i], r->errstr,
				      sizeof(r->errstr)) != RD_KAFKA_CONF_OK) {
			rd_kafka_conf_destroy(conf);
			r->err = FC_RDK_ECONF;
			return -1;
		}
	}
	rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
	rd_kafka_conf_set_opaque(conf, &c);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, r->errstr, sizeof(r->errstr));
	if (rk == NULL) {
		rd_kafka_conf_destroy(conf);
		r->err = FC_RDK_ENEW;
		return -1;
	}
	/* From here rk owns conf. */
	rkt = rd_kafka_topic_new(rk, s->topic, NULL);
	if (rkt == NULL) {
		snprintf(r->errstr, sizeof(r->errstr), "topic %s: %s", s->topic,
			 rd_kafka_err2str(rd_kafka_last_error()));
		rd_kafka_destroy(rk);
		r->err = FC_RDK_ENEW;
		return -1;
	}
	value = malloc(s->size ? s->size : 1);
	for (j = 0; j < s->size; j++)
		value[j] = (unsigned char)j;

	if (s->warmup) {
		if (produce(rk, rkt, s->nocopy ? 0 : RD_KAFKA_MSG_F_COPY, value, s->size, seq++, s->timeout_ns, r) != 0) {
			r->err = FC_RDK_EWARMUP;
		} else if (wait_reports(rk, &c, 1, s->timeout_ns) != 0) {
			r->err = FC_RDK_EWARMUP;
			snprintf(r->errstr, sizeof(r->errstr),
				 "warm-up: no delivery report in %.3f s",
				 (double)s->timeout_ns / NS_PER_S);
		} else if (c.failed != 0) {
			r->err = FC_RDK_EWARMUP;
			snprintf(r->errstr, sizeof(r->errstr),
				 "warm-up: delivery failed: %s",
				 rd_kafka_err2str(c.last_err));
		}
	}
	if (r->err == 0)
		run(rk, rkt, &c, s, value, seq, r);
	r->last_err = c.last_err;

	/* Whatever is left fails now rather than holding rd_kafka_destroy. */
	rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	rd_kafka_flush(rk, 5000);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	free(value);
	return r->err == 0 ? 0 : -1;
}
