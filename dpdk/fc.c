/*
 * fc.c: RX polling loop, worker burst helper, clocks, mempool audit and
 * log redirection. See fc.h.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf_dyn.h>

#include "fc.h"
#include "_cgo_export.h"

int fc_ts_offset = -1;
int fc_devts_offset = -1;
uint64_t fc_devts_flag;
struct fc_clock fc_tsc_clock;
volatile int fc_poison_on_free;

int
fc_dynfield_init(void)
{
	static const struct rte_mbuf_dynfield desc = {
		.name = "fastcapa_dynfield_ts_ns",
		.size = sizeof(uint64_t),
		.align = __alignof__(uint64_t),
	};
	fc_ts_offset = rte_mbuf_dynfield_register(&desc);
	return fc_ts_offset < 0 ? -rte_errno : 0;
}

void
fc_devts_lookup(void)
{
	int bit;

	fc_devts_offset = rte_mbuf_dynfield_lookup(RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, NULL);
	bit = rte_mbuf_dynflag_lookup(RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME, NULL);
	fc_devts_flag = (fc_devts_offset >= 0 && bit >= 0) ? RTE_BIT64(bit) : 0;
}

/* ---- clocks ---- */

static inline uint64_t
clock_map(struct fc_clock *c, uint64_t ticks)
{
	uint32_t s0, s1;
	uint64_t t0, n0, m;

	do {
		s0 = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
		t0 = __atomic_load_n(&c->ticks0, __ATOMIC_RELAXED);
		n0 = __atomic_load_n(&c->ns0, __ATOMIC_RELAXED);
		m = __atomic_load_n(&c->mult, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s1 = __atomic_load_n(&c->seq, __ATOMIC_RELAXED);
	} while ((s0 & 1) != 0 || s0 != s1);

	__int128 off = ((__int128)(int64_t)(ticks - t0) * (__int128)m) >> 32;
	return n0 + (uint64_t)(int64_t)off;
}

uint64_t
fc_clock_ns(struct fc_clock *c, uint64_t ticks)
{
	return clock_map(c, ticks);
}

void
fc_clock_init(struct fc_clock *c, uint64_t ticks, uint64_t ns, uint64_t hz)
{
	memset(c, 0, sizeof(*c));
	c->hz = hz;
	c->base_ticks = ticks;
	c->base_ns = ns;
	c->ticks0 = ticks;
	c->ns0 = ns;
	c->mult = (uint64_t)(((unsigned __int128)1000000000 << 32) / hz);
}

/*
 * Re-anchor c at (ticks, ns). The rate is refined against the first anchor,
 * so it follows the wall clock's own rate (NTP slew); a rate more than
 * 500 ppm from nominal means the wall clock was stepped, and the baseline
 * starts again from here.
 */
void
fc_clock_anchor(struct fc_clock *c, uint64_t ticks, uint64_t ns)
{
	uint64_t nominal = (uint64_t)(((unsigned __int128)1000000000 << 32) / c->hz);
	uint64_t mult = nominal;

	if (ticks > c->base_ticks + c->hz / 2 && ns > c->base_ns) {
		mult = (uint64_t)(((unsigned __int128)(ns - c->base_ns) << 32) /
				  (ticks - c->base_ticks));
		uint64_t diff = mult > nominal ? mult - nominal : nominal - mult;
		if (diff > nominal / 2000) {
			c->base_ticks = ticks;
			c->base_ns = ns;
			mult = nominal;
		}
	} else if (ns <= c->base_ns) {
		c->base_ticks = ticks;
		c->base_ns = ns;
	}

	__atomic_store_n(&c->seq, c->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&c->ticks0, ticks, __ATOMIC_RELAXED);
	__atomic_store_n(&c->ns0, ns, __ATOMIC_RELAXED);
	__atomic_store_n(&c->mult, mult, __ATOMIC_RELAXED);
	__atomic_store_n(&c->seq, c->seq + 1, __ATOMIC_RELEASE);
}

static inline uint64_t
realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The tightest of a few (counter, CLOCK_REALTIME, counter) brackets. */
int
fc_tsc_sample(uint64_t *tsc, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < 7; i++) {
		uint64_t a = rte_rdtsc_precise();
		uint64_t n = realtime_ns();
		uint64_t b = rte_rdtsc_precise();
		if (b - a < best) {
			best = b - a;
			*tsc = a + (b - a) / 2;
			*ns = n;
		}
	}
	return 0;
}

int
fc_dev_sample(uint16_t port, uint64_t *ticks, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < 7; i++) {
		uint64_t a, b, n;
		int rc = rte_eth_read_clock(port, &a);
		if (rc != 0)
			return rc;
		n = realtime_ns();
		rte_eth_read_clock(port, &b);
		if (b - a < best) {
			best = b - a;
			*ticks = a + (b - a) / 2;
			*ns = n;
		}
	}
	return 0;
}

/* ---- RX loop: one per RX lcore ---- */

static inline void
stamp(struct fc_rx_lcore *lc, struct fc_rxq *q, struct rte_mbuf **pkts, uint16_t n)
{
	const uint64_t devflag = fc_devts_flag;
	uint64_t devts = 0;

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		uint64_t ns;

		if (q->ts_mode != FC_TS_TSC && (m->ol_flags & devflag) != 0) {
			uint64_t v = *RTE_MBUF_DYNFIELD(m, fc_devts_offset, rte_mbuf_timestamp_t *);
			if (q->ts_mode == FC_TS_DEV_US) {
				/*
				 * libpcap reads the file's 32-bit seconds as signed;
				 * the format says unsigned (to 2106). Undo the sign.
				 */
				if ((int64_t)v < 0)
					v += 4294967296ull * 1000000ull;
				ns = v * 1000;
			} else {
				ns = clock_map(q->dev_clock, v);
			}
			devts++;
		} else {
			ns = clock_map(&fc_tsc_clock, rte_rdtsc());
			if (ns < lc->last_ns)
				ns = lc->last_ns;
			lc->last_ns = ns;
		}
		*RTE_MBUF_DYNFIELD(m, fc_ts_offset, uint64_t *) = ns;
	}
	if (devts != 0)
		__atomic_store_n(&q->st.dev_ts, q->st.dev_ts + devts, __ATOMIC_RELAXED);
}

/*
 * Counters are stored with relaxed atomics: a plain store on x86, so a
 * reader on another thread sees a whole value and the loop pays nothing.
 */
#define BUMP(field, v) __atomic_store_n(&(field), (field) + (v), __ATOMIC_RELAXED)

int
fc_rx_loop(void *arg)
{
	struct fc_rx_lcore *lc = arg;
	struct rte_mbuf *pkts[FC_MAX_BURST];
	const uint16_t burst = lc->burst;

	while (!__atomic_load_n(&lc->stop, __ATOMIC_RELAXED)) {
		uint64_t busy = 0;

		for (uint16_t qi = 0; qi < lc->nb_queues; qi++) {
			struct fc_rxq *q = &lc->queues[qi];
			uint16_t n = rte_eth_rx_burst(q->port, q->queue, pkts, burst);
			uint64_t bytes = 0;
			unsigned sent;

			if (n == 0)
				continue;
			busy++;
			stamp(lc, q, pkts, n);
			for (uint16_t i = 0; i < n; i++)
				bytes += pkts[i]->pkt_len;
			sent = rte_ring_enqueue_burst(lc->ring, (void **)pkts, n, NULL);
			if (unlikely(sent < n)) {
				rte_pktmbuf_free_bulk(&pkts[sent], n - sent);
				BUMP(q->st.ring_dropped, n - sent);
			}
			BUMP(q->st.packets, n);
			BUMP(q->st.bytes, bytes);
			BUMP(q->st.enqueued, sent);
		}
		BUMP(lc->polls, 1);
		if (busy)
			BUMP(lc->busy_polls, 1);
	}
	return 0;
}

void
fc_rx_lcore_read(const struct fc_rx_lcore *lc, unsigned q, struct fc_rxq_stats *out)
{
	const struct fc_rxq_stats *s = &lc->queues[q].st;

	out->packets = __atomic_load_n(&s->packets, __ATOMIC_RELAXED);
	out->bytes = __atomic_load_n(&s->bytes, __ATOMIC_RELAXED);
	out->enqueued = __atomic_load_n(&s->enqueued, __ATOMIC_RELAXED);
	out->ring_dropped = __atomic_load_n(&s->ring_dropped, __ATOMIC_RELAXED);
	out->dev_ts = __atomic_load_n(&s->dev_ts, __ATOMIC_RELAXED);
}

/* ---- worker side: one cgo call per burst ---- */

static void
poison(struct fc_burst *b)
{
	for (uint32_t i = 0; i < b->n; i++)
		for (struct rte_mbuf *s = b->mbufs[i]; s != NULL; s = s->next)
			memset(rte_pktmbuf_mtod(s, void *), 0xEE, s->data_len);
}

void
fc_burst_release(struct fc_burst *b)
{
	if (b->n == 0)
		return;
	if (unlikely(fc_poison_on_free))
		poison(b);
	rte_pktmbuf_free_bulk(b->mbufs, b->n);
	b->n = 0;
}

/*
 * Free the burst the worker held, dequeue the next one and describe it.
 * The worker owns the new mbufs until its next call.
 */
unsigned
fc_burst_cycle(struct rte_ring *r, struct fc_burst *b)
{
	unsigned n;

	fc_burst_release(b);
	n = rte_ring_dequeue_burst(r, (void **)b->mbufs, b->cap, NULL);
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = b->mbufs[i];
		struct fc_pkt *p = &b->pkts[i];

		p->data = rte_pktmbuf_mtod(m, const uint8_t *);
		p->len = m->pkt_len;
		p->seg_len = m->data_len;
		p->ts_ns = *RTE_MBUF_DYNFIELD(m, fc_ts_offset, uint64_t *);
		p->nb_segs = m->nb_segs;
		p->port = m->port;
		p->bad = 0;
		if (unlikely(m->nb_segs > 1 || m->data_len != m->pkt_len)) {
			uint64_t sum = 0;
			uint16_t segs = 0;
			for (struct rte_mbuf *s = m; s != NULL; s = s->next) {
				sum += s->data_len;
				segs++;
			}
			p->bad = sum != m->pkt_len || segs != m->nb_segs;
		}
	}
	b->n = n;
	return n;
}

/* Copy packet i, all its segments, into dst. Returns its length or -1. */
int64_t
fc_pkt_copy(const struct fc_burst *b, uint32_t i, uint8_t *dst, uint64_t cap)
{
	const struct rte_mbuf *m = b->mbufs[i];
	uint64_t off = 0;

	if (i >= b->n || b->pkts[i].bad || m->pkt_len > cap)
		return -1;
	for (const struct rte_mbuf *s = m; s != NULL; s = s->next) {
		memcpy(dst + off, rte_pktmbuf_mtod(s, const void *), s->data_len);
		off += s->data_len;
	}
	return (int64_t)off;
}

/* ---- mempool audit ---- */

void
fc_mempool_audit(const struct rte_mempool *mp, struct fc_mempool_audit *a)
{
	a->size = mp->size;
	a->in_ring = rte_mempool_get_ops(mp->ops_index)->get_count(mp);
	a->in_caches = 0;
	if (mp->cache_size != 0)
		for (unsigned l = 0; l < RTE_MAX_LCORE; l++)
			a->in_caches += mp->local_cache[l].len;
	a->in_use = (int64_t)a->size - (int64_t)a->in_ring - (int64_t)a->in_caches;
}

/* ---- DPDK's log, redirected into Go's slog ---- */

static ssize_t
log_write(void *cookie, const char *buf, size_t size)
{
	(void)cookie;
	fcGoLog((char *)buf, (int)size, rte_log_cur_msg_loglevel());
	return (ssize_t)size;
}

int
fc_log_to_go(void)
{
	static cookie_io_functions_t io = { .write = log_write };
	FILE *f = fopencookie(NULL, "w", io);

	if (f == NULL)
		return -1;
	setvbuf(f, NULL, _IONBF, 0);
	return rte_openlog_stream(f);
}
