/*
 * fc.c: RX polling loop, worker burst helper, clocks, mempool audit and
 * log redirection. See fc.h.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <rte_bpf.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_mbuf_dyn.h>
#include <rte_random.h>

#include "fc.h"
#include "decap.h"
#include "_cgo_export.h"

int fc_ts_offset = -1;
int fc_meta_offset = -1;
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
	static const struct rte_mbuf_dynfield meta = {
		.name = "fastcapa_dynfield_meta",
		.size = sizeof(struct fc_meta),
		.align = __alignof__(struct fc_meta),
	};
	fc_ts_offset = rte_mbuf_dynfield_register(&desc);
	if (fc_ts_offset < 0)
		return -rte_errno;
	fc_meta_offset = rte_mbuf_dynfield_register(&meta);
	return fc_meta_offset < 0 ? -rte_errno : 0;
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

/* ---- capture filter: classic BPF from libpcap, run by librte_bpf ---- */

/*
 * DPDK 22.11's x86-64 JIT (emit_tst_imm) encodes an eBPF JSET with an
 * immediate that fits in a signed byte as "test $imm8, %reg", but that
 * opcode (F7 /0) only takes a 4-byte immediate: the next instructions are
 * decoded from the wrong bytes and the code faults ("tcp[tcpflags] &
 * tcp-syn != 0" crashed). Rewrite each such JSET into
 *   mov32 r8, imm; jset r0, r8
 * r8 is rte_bpf_convert's scratch register, live only within the
 * expansion of one classic instruction, and the comparison is the same
 * (the converted A has its upper 32 bits clear). Jump offsets are moved
 * to the new positions. Returns a malloc'd program, or NULL if there is
 * nothing to rewrite (or no memory: *err is then set).
 */
#define FC_REG_TMP EBPF_REG_8
#define FC_REG_X EBPF_REG_7

/*
 * rte_bpf_convert in DPDK 22.11 copies a classic "ld [x + k]" (BPF_LD |
 * BPF_IND) with src_reg 0, so eBPF indexes by R0 (the converted A) instead
 * of R7 (the converted X): "tcp[13] & 2 != 0" read the wrong byte, in the
 * interpreter and the JIT alike. Classic BPF indexes only by X: set it.
 */
static void
fix_ld_ind(struct ebpf_insn *ins, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (BPF_CLASS(ins[i].code) == BPF_LD && BPF_MODE(ins[i].code) == BPF_IND)
			ins[i].src_reg = FC_REG_X;
}

static int
jset_imm8(const struct ebpf_insn *i)
{
	return i->code == (BPF_JMP | BPF_JSET | BPF_K) && i->imm >= INT8_MIN && i->imm <= INT8_MAX;
}

static int
is_jump(const struct ebpf_insn *i)
{
	return BPF_CLASS(i->code) == BPF_JMP && BPF_OP(i->code) != EBPF_CALL && BPF_OP(i->code) != EBPF_EXIT;
}

static struct ebpf_insn *
fix_jset_imm8(const struct ebpf_insn *in, uint32_t n, uint32_t *nout, int *err)
{
	uint32_t extra = 0, j = 0;
	uint32_t *pos;
	struct ebpf_insn *out;

	*err = 0;
	for (uint32_t i = 0; i < n; i++)
		extra += jset_imm8(&in[i]);
	if (extra == 0)
		return NULL;
	pos = malloc((n + 1) * sizeof(*pos));
	out = malloc((n + extra) * sizeof(*out));
	if (pos == NULL || out == NULL) {
		free(pos);
		free(out);
		*err = ENOMEM;
		return NULL;
	}
	for (uint32_t i = 0; i < n; i++) {
		pos[i] = j;
		j += jset_imm8(&in[i]) ? 2 : 1;
	}
	pos[n] = j;
	for (uint32_t i = 0; i < n; i++) {
		struct ebpf_insn *o = &out[pos[i]];

		*o = in[i];
		if (jset_imm8(&in[i])) {
			*o = (struct ebpf_insn){ .code = BPF_ALU | EBPF_MOV | BPF_K, .dst_reg = FC_REG_TMP,
						 .imm = in[i].imm };
			o++;
			*o = (struct ebpf_insn){ .code = BPF_JMP | BPF_JSET | BPF_X, .dst_reg = in[i].dst_reg,
						 .src_reg = FC_REG_TMP, .off = in[i].off };
		}
		if (is_jump(&in[i])) {
			int64_t target = (int64_t)i + 1 + in[i].off;

			if (target < 0 || target > n) {
				free(pos);
				free(out);
				*err = EINVAL;
				return NULL;
			}
			o->off = (int16_t)((int64_t)pos[target] - (int64_t)(o - out) - 1);
		}
	}
	free(pos);
	*nout = n + extra;
	return out;
}

/*
 * Convert libpcap's program to eBPF (rte_bpf_convert: loads of packet
 * bytes become eBPF's LD_ABS/LD_IND, which read through the mbuf with
 * rte_pktmbuf_read, so every segment is seen; "len" reads the mbuf's
 * pkt_len), load it, and take its JIT code unless interpret is set or
 * there is none. Returns 0 or -rte_errno.
 */
int
fc_filter_load(const struct bpf_insn *ins, uint32_t n, int interpret, struct fc_filter *f)
{
	struct bpf_program prog = { .bf_len = n, .bf_insns = (struct bpf_insn *)ins };
	struct rte_bpf_prm *prm;
	struct rte_bpf_jit jit;

	struct rte_bpf_prm fixed;
	struct ebpf_insn *ins2;
	uint32_t n2 = 0;
	int err;

	memset(f, 0, sizeof(*f));
	prm = rte_bpf_convert(&prog);
	if (prm == NULL)
		return -rte_errno;
	fix_ld_ind((struct ebpf_insn *)(uintptr_t)prm->ins, prm->nb_ins);
	ins2 = fix_jset_imm8(prm->ins, prm->nb_ins, &n2, &err);
	if (err != 0) {
		rte_free(prm);
		return -err;
	}
	fixed = *prm;
	if (ins2 != NULL) {
		fixed.ins = ins2;
		fixed.nb_ins = n2;
	}
	f->bpf = rte_bpf_load(&fixed); /* copies the instructions */
	free(ins2);
	rte_free(prm);
	if (f->bpf == NULL)
		return -rte_errno;
	if (!interpret && rte_bpf_get_jit(f->bpf, &jit) == 0 && jit.func != NULL)
		f->jit = jit.func;
	return 0;
}

void
fc_filter_free(struct fc_filter *f)
{
	if (f->bpf != NULL)
		rte_bpf_destroy(f->bpf);
	memset(f, 0, sizeof(*f));
}

/*
 * Run the filter over a burst: keep the accepted mbufs at the front of
 * pkts, in their order, free the rejected ones, and return how many are
 * kept. A classic BPF program accepts with a non-zero return.
 */
uint16_t
fc_filter_burst(const struct fc_filter *f, struct rte_mbuf **pkts, uint16_t n)
{
	struct rte_mbuf *rejected[FC_MAX_BURST];
	uint16_t kept = 0, nrej = 0;

	if (f->jit != NULL) {
		for (uint16_t i = 0; i < n; i++) {
			if (f->jit(pkts[i]) != 0)
				pkts[kept++] = pkts[i];
			else
				rejected[nrej++] = pkts[i];
		}
	} else {
		uint64_t rc[FC_MAX_BURST];

		rte_bpf_exec_burst(f->bpf, (void **)pkts, rc, n);
		for (uint16_t i = 0; i < n; i++) {
			if (rc[i] != 0)
				pkts[kept++] = pkts[i];
			else
				rejected[nrej++] = pkts[i];
		}
	}
	if (nrej != 0)
		rte_pktmbuf_free_bulk(rejected, nrej);
	return kept;
}

/*
 * Counters are stored with relaxed atomics: a plain store on x86, so a
 * reader on another thread sees a whole value and the loop pays nothing.
 */
#define BUMP(field, v) __atomic_store_n(&(field), (field) + (v), __ATOMIC_RELAXED)

/* ---- routes: which destinations keep each packet ---- */

static inline int
filter_match(const struct fc_filter *f, struct rte_mbuf *m)
{
	if (f == NULL)
		return 1;
	if (f->jit != NULL)
		return f->jit(m) != 0;
	return rte_bpf_exec(f->bpf, m) != 0;
}

/*
 * A route's sampling: 1 in every packets its filter matched on this queue
 * (the first, then every every-th), or each with probability below/2^64.
 */
static inline int
sample_keep(struct fc_rx_lcore *lc, unsigned qi, unsigned r, const struct fc_route *rt)
{
	if (rt->every > 1) {
		uint32_t *c = &lc->sample_count[qi][r];
		int keep = *c == 0;

		if (++*c == rt->every)
			*c = 0;
		return keep;
	}
	if (rt->below != 0)
		return rte_rand() < rt->below;
	return 1;
}

/* A route whose filter matched: its sampling keeps the packet (its bit in mask) or counts it. */
static inline void
offer(struct fc_rx_lcore *lc, unsigned qi, unsigned r, const struct fc_route *rt, uint32_t *mask, uint32_t *sampled)
{
	if (sample_keep(lc, qi, r, rt))
		*mask |= 1u << r;
	else
		sampled[r]++;
}

static inline struct fc_meta *
meta(struct rte_mbuf *m)
{
	return RTE_MBUF_DYNFIELD(m, fc_meta_offset, struct fc_meta *);
}

/*
 * Offer each packet of a burst to every route: a route keeps it when its
 * filter matches (an unmatched route: when no other route's filter did;
 * a route without a filter, which takes every packet, does not count)
 * and its sampling keeps it. The routes that keep a packet are its mask
 * (fc_meta); packets with a mask move to the front of pkts, in order, the
 * others are freed, counted filtered (no filter matched) or sampled.
 * Returns how many are kept.
 */
uint16_t
fc_route_burst(struct fc_rx_lcore *lc, unsigned qi, struct rte_mbuf **pkts, uint16_t n)
{
	const struct fc_routes *rs = lc->routes;
	struct fc_rxq *q = &lc->queues[qi];
	struct rte_mbuf *freed[FC_MAX_BURST];
	uint32_t filtered[FC_MAX_ROUTES] = { 0 }, sampled[FC_MAX_ROUTES] = { 0 };
	uint16_t kept = 0, nfree = 0;
	uint32_t qfiltered = 0, qsampled = 0, decapsulated = 0;

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		uint32_t mask = 0;
		int matched = 0, any = 0, inner = 0;
		struct fc_parsed parsed;
		uint8_t saved[14];

		if (rs->hash || rs->decap) {
			fc_parse(m, &parsed);
			meta(m)->flow_hash = parsed.flow_hash;
			if (rs->decap && parsed.inner_kind != FC_INNER_NONE && fc_inner_enter(m, &parsed, saved) == 0) {
				inner = 1;
				decapsulated++;
			}
		}

		for (unsigned r = 0; r < rs->n; r++) {
			const struct fc_route *rt = &rs->r[r];

			if (rt->unmatched)
				continue;
			if (!filter_match(rt->filter, m)) {
				filtered[r]++;
				continue;
			}
			any = 1;
			matched |= rt->filter != NULL;
			offer(lc, qi, r, rt, &mask, sampled);
		}
		for (unsigned r = 0; r < rs->n; r++) {
			const struct fc_route *rt = &rs->r[r];

			if (!rt->unmatched)
				continue;
			if (matched || !filter_match(rt->filter, m)) {
				filtered[r]++;
				continue;
			}
			any = 1;
			offer(lc, qi, r, rt, &mask, sampled);
		}
		if (inner && !rs->send_inner)
			fc_inner_leave(m, &parsed, saved);
		meta(m)->routes = mask;
		if (mask != 0) {
			pkts[kept++] = m;
		} else {
			freed[nfree++] = m;
			if (any)
				qsampled++;
			else
				qfiltered++;
		}
	}
	if (nfree != 0)
		rte_pktmbuf_free_bulk(freed, nfree);
	BUMP(q->st.filtered, qfiltered);
	BUMP(q->st.sampled, qsampled);
	if (decapsulated != 0)
		BUMP(q->st.decapsulated, decapsulated);
	for (unsigned r = 0; r < rs->n; r++) {
		if (filtered[r] != 0)
			BUMP(q->st.routes[r].filtered, filtered[r]);
		if (sampled[r] != 0)
			BUMP(q->st.routes[r].sampled, sampled[r]);
	}
	return kept;
}

/*
 * Count kept packets that go no further against each route that kept
 * them, in the route counter at off: ring_dropped (the ring refused them)
 * or released (no ring).
 */
static void
routes_bump(struct fc_rx_lcore *lc, struct fc_rxq *q, struct rte_mbuf **pkts, uint16_t n, size_t off)
{
#define ROUTE_COUNTER(r) (*(uint64_t *)((char *)&q->st.routes[(r)] + off))
	if (lc->routes->n == 1) { /* every kept packet is route 0's */
		BUMP(ROUTE_COUNTER(0), n);
		return;
	}
	for (uint16_t i = 0; i < n; i++)
		for (uint32_t mask = meta(pkts[i])->routes; mask != 0; mask &= mask - 1)
			BUMP(ROUTE_COUNTER(__builtin_ctz(mask)), 1);
#undef ROUTE_COUNTER
}

static inline uint64_t
copies(const struct fc_routes *rs, struct rte_mbuf **pkts, uint16_t n)
{
	uint64_t c = 0;

	if (rs->n == 1) /* every kept packet is route 0's */
		return n;
	for (uint16_t i = 0; i < n; i++)
		c += __builtin_popcount(meta(pkts[i])->routes);
	return c;
}

int
fc_rx_loop(void *arg)
{
	struct fc_rx_lcore *lc = arg;
	struct rte_mbuf *pkts[FC_MAX_BURST];
	const uint16_t burst = lc->burst;
	const struct fc_routes *routes = lc->routes;
	uint32_t empty = 0, sleep_ns = 1000;

	/* Sleeps of a few µs need the timer slack (50 µs by default) down. */
	if (lc->idle_after != 0)
		prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	while (!__atomic_load_n(&lc->stop, __ATOMIC_RELAXED)) {
		uint64_t busy = 0;

		for (uint16_t qi = 0; qi < lc->nb_queues; qi++) {
			struct fc_rxq *q = &lc->queues[qi];
			const uint16_t n = rte_eth_rx_burst(q->port, q->queue, pkts, burst);
			uint16_t keep = n;
			uint64_t bytes = 0;
			unsigned sent;

			if (n == 0)
				continue;
			busy++;
			for (uint16_t i = 0; i < n; i++)
				bytes += pkts[i]->pkt_len;
			if (q->tin != NULL)
				keep = fc_tunnel_burst(q->tin, &q->st.tunnel, pkts, n);
			stamp(lc, q, pkts, keep);
			if (routes->filter_only) {
				uint16_t offered = keep;

				keep = fc_filter_burst(routes->r[0].filter, pkts, offered);
				BUMP(q->st.filtered, offered - keep);
				BUMP(q->st.routes[0].filtered, offered - keep);
			} else if (!routes->simple) {
				keep = fc_route_burst(lc, qi, pkts, keep);
			}
			if (lc->out.outs != NULL)
				fc_out_burst(&lc->out, pkts, keep, routes->simple || routes->filter_only);
			if (lc->ring == NULL) { /* outputs only: they hold their own references */
				routes_bump(lc, q, pkts, keep, offsetof(struct fc_route_stats, released));
				rte_pktmbuf_free_bulk(pkts, keep);
				BUMP(q->st.released, keep);
				sent = 0;
			} else {
				sent = rte_ring_enqueue_burst(lc->ring, (void **)pkts, keep, NULL);
				BUMP(q->st.copies, copies(routes, pkts, sent));
				if (unlikely(sent < keep)) {
					routes_bump(lc, q, &pkts[sent], keep - sent, offsetof(struct fc_route_stats, ring_dropped));
					rte_pktmbuf_free_bulk(&pkts[sent], keep - sent);
					BUMP(q->st.ring_dropped, keep - sent);
				}
			}
			BUMP(q->st.packets, n);
			BUMP(q->st.bytes, bytes);
			BUMP(q->st.enqueued, sent);
		}
		BUMP(lc->polls, 1);
		if (busy) {
			BUMP(lc->busy_polls, 1);
			empty = 0;
			sleep_ns = 1000;
			continue;
		}
		if (lc->idle_after == 0)
			continue; /* busy polling */
		if (++empty < lc->idle_after) {
			rte_pause();
			continue;
		}
		struct timespec ts = { .tv_sec = 0, .tv_nsec = sleep_ns };
		nanosleep(&ts, NULL);
		BUMP(lc->sleeps, 1);
		BUMP(lc->slept_ns, sleep_ns);
		if (sleep_ns < lc->idle_sleep_ns)
			sleep_ns = RTE_MIN(sleep_ns * 2, lc->idle_sleep_ns);
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
	out->released = __atomic_load_n(&s->released, __ATOMIC_RELAXED);
	out->dev_ts = __atomic_load_n(&s->dev_ts, __ATOMIC_RELAXED);
	out->filtered = __atomic_load_n(&s->filtered, __ATOMIC_RELAXED);
	out->sampled = __atomic_load_n(&s->sampled, __ATOMIC_RELAXED);
	out->copies = __atomic_load_n(&s->copies, __ATOMIC_RELAXED);
	out->decapsulated = __atomic_load_n(&s->decapsulated, __ATOMIC_RELAXED);
	out->tunnel.decapsulated = __atomic_load_n(&s->tunnel.decapsulated, __ATOMIC_RELAXED);
	out->tunnel.other = __atomic_load_n(&s->tunnel.other, __ATOMIC_RELAXED);
	out->tunnel.wrong_key = __atomic_load_n(&s->tunnel.wrong_key, __ATOMIC_RELAXED);
	out->tunnel.malformed = __atomic_load_n(&s->tunnel.malformed, __ATOMIC_RELAXED);
	for (unsigned r = 0; r < FC_MAX_ROUTES; r++) {
		out->routes[r].filtered = __atomic_load_n(&s->routes[r].filtered, __ATOMIC_RELAXED);
		out->routes[r].sampled = __atomic_load_n(&s->routes[r].sampled, __ATOMIC_RELAXED);
		out->routes[r].ring_dropped = __atomic_load_n(&s->routes[r].ring_dropped, __ATOMIC_RELAXED);
		out->routes[r].released = __atomic_load_n(&s->routes[r].released, __ATOMIC_RELAXED);
	}
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
		p->routes = meta(m)->routes;
		p->flow_hash = meta(m)->flow_hash;
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

/*
 * Linearize the good multi-segment frames of the burst into b->lin, so
 * that every packet a sink sees is contiguous. Returns -1, with those
 * frames marked bad, if memory for them cannot be had.
 */
static int
linearize(struct fc_burst *b)
{
	uint64_t need = 0, off = 0;

	for (uint32_t i = 0; i < b->n; i++)
		if (unlikely(b->pkts[i].nb_segs > 1) && !b->pkts[i].bad)
			need += b->pkts[i].len;
	if (likely(need == 0))
		return 0;
	if (need > b->lin_cap) {
		uint8_t *lin = realloc(b->lin, need);

		if (lin == NULL) {
			for (uint32_t i = 0; i < b->n; i++)
				if (b->pkts[i].nb_segs > 1)
					b->pkts[i].bad = 1;
			return -1;
		}
		b->lin = lin;
		b->lin_cap = need;
	}
	for (uint32_t i = 0; i < b->n; i++) {
		struct fc_pkt *p = &b->pkts[i];

		if (likely(p->nb_segs == 1) || p->bad)
			continue;
		fc_pkt_copy(b, i, b->lin + off, p->len);
		p->data = b->lin + off;
		p->seg_len = p->len;
		off += p->len;
	}
	return 0;
}

/*
 * Free the burst the worker held, dequeue the next one, hand it to sink
 * in one call and free it: the sink must have copied what it keeps. One
 * cgo call per burst, no Go on the packet path.
 */
unsigned
fc_burst_drain(struct rte_ring *r, struct fc_burst *b, fc_sink_fn *sink, void *ctx)
{
	unsigned n = fc_burst_cycle(r, b);

	if (n == 0)
		return 0;
	linearize(b);
	sink(ctx, b->pkts, n);
	fc_burst_release(b);
	return n;
}

/* Free what the burst holds, and its own memory. */
void
fc_burst_destroy(struct fc_burst *b)
{
	fc_burst_release(b);
	free(b->lin);
	rte_free(b);
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
