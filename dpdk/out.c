/*
 * out.c: outputs (transmit on the RX lcore) and tunnel receivers. See out.h.
 */
#include <string.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "fc.h"
#include "out.h"

#define BUMP(field, v) __atomic_store_n(&(field), (field) + (v), __ATOMIC_RELAXED)
#define FC_OUT_MAX_TAGS 4

static inline uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void
put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static inline int
is_tpid(uint16_t t)
{
	return t == 0x8100 || t == 0x88a8 || t == 0x9100;
}

/* The IPv4 header checksum of a 20-byte header whose checksum field is 0. */
static inline uint16_t
ip4_csum(const uint8_t *h, unsigned len)
{
	uint32_t s = 0;

	for (unsigned i = 0; i < len; i += 2)
		s += get16(h + i);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/*
 * Cut a chain to len bytes (len <= pkt_len): the segment where it ends is
 * shortened, the ones after it freed.
 */
static void
cut_chain(struct rte_mbuf *m, uint32_t len)
{
	uint32_t left = len;
	uint16_t segs = 0;
	struct rte_mbuf *s = m;

	if (len >= m->pkt_len)
		return;
	for (;;) {
		segs++;
		if (s->data_len >= left || s->next == NULL) {
			s->data_len = (uint16_t)RTE_MIN((uint32_t)s->data_len, left);
			break;
		}
		left -= s->data_len;
		s = s->next;
	}
	if (s->next != NULL) {
		rte_pktmbuf_free(s->next);
		s->next = NULL;
	}
	m->nb_segs = segs;
	m->pkt_len = len;
}

/* The VLAN tags of a frame: how many (at most FC_OUT_MAX_TAGS), the first one's VID, the ethertype after them. */
struct l2 {
	uint8_t ntags;
	int32_t vid0; /* -1: untagged */
	uint16_t etype;
	uint8_t macs[12];
};

/* Read m's Ethernet header and tags within its first len bytes. Returns -1 if they do not fit. */
static int
read_l2(const struct rte_mbuf *m, uint32_t len, struct l2 *l)
{
	uint8_t buf[14 + 4 * FC_OUT_MAX_TAGS];
	const uint8_t *b;
	uint32_t have = RTE_MIN(len, (uint32_t)sizeof(buf)), off = 12;

	if (len < 14)
		return -1;
	b = rte_pktmbuf_read(m, 0, have, buf);
	if (b == NULL)
		return -1;
	memcpy(l->macs, b, 12);
	l->ntags = 0;
	l->vid0 = -1;
	while (l->ntags < FC_OUT_MAX_TAGS && off + 4 + 2 <= have && is_tpid(get16(b + off))) {
		if (l->ntags == 0)
			l->vid0 = get16(b + off + 2) & 0x0fff;
		l->ntags++;
		off += 4;
	}
	if (off + 2 > have)
		return -1;
	l->etype = get16(b + off);
	return 0;
}

enum out_result { OUT_SENT, OUT_SKIPPED, OUT_TOO_BIG, OUT_NO_MBUF, OUT_MALFORMED };

/*
 * Build the frame output o sends for m: m itself (its segments' reference
 * counts raised) when nothing changes, else a header mbuf and a clone.
 * *out gets it, *len its length, *cut whether the limit cut it.
 */
static enum out_result
build(struct fc_out_lcore *ol, unsigned oi, const struct fc_output *o, struct rte_mbuf *m, struct rte_mbuf **out,
      uint32_t *outlen, int *cut)
{
	const struct fc_outputs *os = ol->outs;
	uint8_t hb[FC_OUT_HDR_MAX + 16];
	uint32_t hl = 0, skip = 0, len = m->pkt_len, body, payload, limit;
	int tagged;
	struct l2 l2;
	int need_l2 = o->strip_vlan || o->insert_vlan || o->only_vlan >= 0 || o->tunnel == FC_TUN_GRE ||
		      (o->tunnel == FC_TUN_NONE && len > o->mtu + 14);
	uint16_t tci = o->insert_vlan ? os->vlan_of_port[m->port] : 0;

	*cut = 0;
	if (o->trim != 0) {
		if (len <= o->trim)
			return OUT_MALFORMED;
		len -= o->trim;
	}
	if (need_l2 && read_l2(m, len, &l2) != 0)
		return OUT_MALFORMED;
	if (o->only_vlan >= 0 && l2.vid0 != o->only_vlan)
		return OUT_SKIPPED;
	if (o->tunnel != FC_TUN_NONE) {
		memcpy(hb, o->tmpl, o->tmpl_len);
		hl = o->tmpl_len;
	}
	if (o->tunnel == FC_TUN_GRE) {
		skip = 12 + 4u * l2.ntags + 2;
		put16(hb + o->l4_off + 2, l2.etype);
	} else if (o->strip_vlan || tci != 0) {
		memcpy(hb + hl, l2.macs, 12);
		hl += 12;
		if (tci != 0) {
			put16(hb + hl, 0x8100);
			put16(hb + hl + 2, tci);
			hl += 4;
		}
		skip = o->strip_vlan ? 12 + 4u * l2.ntags : 12;
	}
	if (len < skip)
		return OUT_MALFORMED;
	body = len - skip;
	/* payload: the frame after the outer headers (without a tunnel, the whole frame) */
	payload = hl - o->tmpl_len + body;
	if (o->snaplen != 0 && payload > o->snaplen) {
		uint32_t over = payload - o->snaplen;
		if (over > body)
			return OUT_MALFORMED;
		body -= over;
		payload -= over;
	}
	if (o->tunnel != FC_TUN_NONE) {
		limit = o->mtu - (o->tmpl_len - o->ip_off);
	} else {
		tagged = tci != 0 || (!o->strip_vlan && need_l2 && l2.ntags > 0);
		limit = o->mtu + 14 + (tagged ? 4 : 0);
	}
	if (payload > limit) {
		uint32_t over = payload - limit;
		if (o->oversize == FC_OVERSIZE_DROP || over > body)
			return OUT_TOO_BIG;
		body -= over;
		payload -= over;
		*cut = 1;
	}
	*outlen = o->tmpl_len + payload; /* outer headers (none without a tunnel) + payload */

	if (hl == 0 && skip == 0 && body == m->pkt_len) {
		for (struct rte_mbuf *s = m; s != NULL; s = s->next)
			rte_mbuf_refcnt_update(s, 1);
		*out = m;
		return OUT_SENT;
	}
	struct rte_mbuf *c = rte_pktmbuf_clone(m, os->pool);
	if (c == NULL)
		return OUT_NO_MBUF;
	if (skip != 0) {
		if (skip > c->data_len) {
			rte_pktmbuf_free(c);
			return OUT_MALFORMED;
		}
		rte_pktmbuf_adj(c, (uint16_t)skip);
	}
	cut_chain(c, body);
	if (hl == 0) {
		*out = c;
		return OUT_SENT;
	}
	struct rte_mbuf *h = rte_pktmbuf_alloc(os->pool);
	if (h == NULL) {
		rte_pktmbuf_free(c);
		return OUT_NO_MBUF;
	}
	uint8_t *d = (uint8_t *)rte_pktmbuf_append(h, (uint16_t)hl);
	memcpy(d, hb, hl);
	if (o->tunnel != FC_TUN_NONE) {
		uint8_t *ip = d + o->ip_off;
		uint16_t id = ol->ip_id[oi];

		ol->ip_id[oi] = (uint16_t)(id + os->nb_lcores);
		put16(ip + 2, (uint16_t)(o->tmpl_len - o->ip_off + payload));
		put16(ip + 4, id);
		put16(ip + 10, ip4_csum(ip, 20));
		if (o->tunnel == FC_TUN_VXLAN) {
			uint8_t *udp = d + o->l4_off;
			/* RFC 7348: a source port from the inner flow, in the dynamic range */
			uint32_t fh = RTE_MBUF_DYNFIELD(m, fc_meta_offset, struct fc_meta *)->flow_hash;

			put16(udp, (uint16_t)(49152 | (fh & 0x3fff)));
			put16(udp + 4, (uint16_t)(8 + 8 + payload));
		}
	}
	if (rte_pktmbuf_chain(h, c) != 0) { /* too many segments */
		rte_pktmbuf_free(h);
		rte_pktmbuf_free(c);
		return OUT_NO_MBUF;
	}
	*out = h;
	return OUT_SENT;
}

void
fc_out_burst(struct fc_out_lcore *ol, struct rte_mbuf **pkts, uint16_t n, int simple)
{
	const struct fc_outputs *os = ol->outs;
	struct rte_mbuf *tx[FC_MAX_BURST];
	uint32_t lens[FC_MAX_BURST];

	for (unsigned oi = 0; oi < os->n; oi++) {
		const struct fc_output *o = &os->o[oi];
		struct fc_out_stats *st = &ol->st[oi];
		uint64_t offered = 0, res[OUT_MALFORMED + 1] = { 0 }, truncated = 0, bytes = 0;
		uint16_t k = 0, sent;

		for (uint16_t i = 0; i < n; i++) {
			struct rte_mbuf *m = pkts[i];
			int cut;
			enum out_result r;

			if (!simple && (RTE_MBUF_DYNFIELD(m, fc_meta_offset, struct fc_meta *)->routes & o->routes) == 0)
				continue;
			if (simple && (o->routes & 1) == 0)
				continue;
			offered++;
			r = build(ol, oi, o, m, &tx[k], &lens[k], &cut);
			res[r]++;
			if (r == OUT_SENT) {
				truncated += cut;
				k++;
			}
		}
		if (offered == 0)
			continue;
		sent = k == 0 ? 0 : rte_eth_tx_burst(o->port, ol->txq, tx, k);
		for (uint16_t i = 0; i < sent; i++)
			bytes += lens[i];
		if (sent < k)
			rte_pktmbuf_free_bulk(&tx[sent], k - sent);
		BUMP(st->offered, offered);
		BUMP(st->sent, sent);
		BUMP(st->bytes, bytes);
		if (sent < k)
			BUMP(st->queue_full, k - sent);
		if (truncated != 0)
			BUMP(st->truncated, truncated);
		if (res[OUT_SKIPPED] != 0)
			BUMP(st->skipped, res[OUT_SKIPPED]);
		if (res[OUT_TOO_BIG] != 0)
			BUMP(st->too_big, res[OUT_TOO_BIG]);
		if (res[OUT_NO_MBUF] != 0)
			BUMP(st->no_mbuf, res[OUT_NO_MBUF]);
		if (res[OUT_MALFORMED] != 0)
			BUMP(st->malformed, res[OUT_MALFORMED]);
	}
}

void
fc_out_read(const struct fc_out_lcore *ol, unsigned i, struct fc_out_stats *out)
{
	const struct fc_out_stats *s = &ol->st[i];

	out->offered = __atomic_load_n(&s->offered, __ATOMIC_RELAXED);
	out->sent = __atomic_load_n(&s->sent, __ATOMIC_RELAXED);
	out->bytes = __atomic_load_n(&s->bytes, __ATOMIC_RELAXED);
	out->truncated = __atomic_load_n(&s->truncated, __ATOMIC_RELAXED);
	out->skipped = __atomic_load_n(&s->skipped, __ATOMIC_RELAXED);
	out->too_big = __atomic_load_n(&s->too_big, __ATOMIC_RELAXED);
	out->no_mbuf = __atomic_load_n(&s->no_mbuf, __ATOMIC_RELAXED);
	out->queue_full = __atomic_load_n(&s->queue_full, __ATOMIC_RELAXED);
	out->malformed = __atomic_load_n(&s->malformed, __ATOMIC_RELAXED);
}

/* ---- tunnel receivers ---- */

enum tin_result { TIN_OK, TIN_OTHER, TIN_WRONG_KEY, TIN_MALFORMED };

#define TIN_PEEK 160 /* Ethernet + 2 tags + IPv4 with options + GRE (16) or UDP + VXLAN (16) + inner Ethernet */

static enum tin_result
tunnel_one(const struct fc_tunnel_in *t, struct rte_mbuf *m)
{
	uint8_t buf[TIN_PEEK];
	const uint8_t *b;
	uint32_t have = RTE_MIN(m->pkt_len, (uint32_t)TIN_PEEK), off = 12, ip, ihl, tl, end, inner;
	uint16_t etype;
	uint32_t head; /* bytes before the new frame's start */
	uint16_t gre_proto = 0;
	int ntags = 0;

	if (m->pkt_len < 14)
		return TIN_MALFORMED;
	b = rte_pktmbuf_read(m, 0, have, buf);
	if (b == NULL)
		return TIN_MALFORMED;
	while (ntags < 2 && off + 4 + 2 <= have && is_tpid(get16(b + off))) {
		off += 4;
		ntags++;
	}
	if (off + 2 > have)
		return TIN_MALFORMED;
	etype = get16(b + off);
	if (etype != 0x0800)
		return TIN_OTHER;
	ip = off + 2;
	if (ip + 20 > have)
		return TIN_MALFORMED;
	ihl = (b[ip] & 0x0f) * 4u;
	if ((b[ip] >> 4) != 4 || ihl < 20 || ip + ihl > have)
		return TIN_MALFORMED;
	tl = get16(b + ip + 2);
	if (tl < ihl || ip + tl > m->pkt_len)
		return TIN_MALFORMED;
	if (t->local != 0 && memcmp(b + ip + 16, &t->local, 4) != 0)
		return TIN_OTHER;
	if (b[ip + 9] != (t->kind == FC_TUN_VXLAN ? 17 : 47))
		return TIN_OTHER;
	if (ip4_csum(b + ip, ihl) != 0)
		return TIN_MALFORMED;
	if ((get16(b + ip + 6) & 0x3fff) != 0)
		return TIN_MALFORMED; /* a fragment: never reassembled */
	end = ip + tl;
	if (t->kind == FC_TUN_VXLAN) {
		uint32_t u = ip + ihl, ulen, vni;

		if (u + 8 > end || u + 8 > have)
			return TIN_MALFORMED;
		if (get16(b + u + 2) != t->udp_port)
			return TIN_OTHER;
		ulen = get16(b + u + 4);
		if (ulen < 16 || u + ulen > end || u + 16 > have)
			return TIN_MALFORMED;
		if ((b[u + 8] & 0x08) == 0)
			return TIN_MALFORMED; /* the I flag: a VNI is present */
		vni = (uint32_t)b[u + 12] << 16 | (uint32_t)b[u + 13] << 8 | b[u + 14];
		if (vni != t->key)
			return TIN_WRONG_KEY;
		inner = u + 16;
		end = u + ulen;
	} else {
		uint32_t g = ip + ihl, flags, gl;

		if (g + 4 > end || g + 4 > have)
			return TIN_MALFORMED;
		flags = get16(b + g);
		if ((flags & 0x7) != 0 || (flags & 0x4000) != 0)
			return TIN_MALFORMED; /* version 0, no routing */
		gl = 4 + ((flags & 0x8000) ? 4 : 0) + ((flags & 0x2000) ? 4 : 0) + ((flags & 0x1000) ? 4 : 0);
		if (g + gl > end || g + gl > have)
			return TIN_MALFORMED;
		gre_proto = get16(b + g + 2);
		if (t->kind == FC_TUN_GRETAP ? gre_proto != 0x6558
					       : (gre_proto < 0x0600 || gre_proto == 0x6558 || gre_proto == 0x88be || gre_proto == 0x22eb))
			return TIN_OTHER;
		if ((flags & 0x2000) != 0) {
			uint32_t k;

			memcpy(&k, b + g + 4 + ((flags & 0x8000) ? 4 : 0), 4);
			if (!t->has_key || rte_be_to_cpu_32(k) != t->key)
				return TIN_WRONG_KEY;
		} else if (t->has_key) {
			return TIN_WRONG_KEY;
		}
		inner = g + gl;
	}
	if (t->kind == FC_TUN_GRE) {
		if (end <= inner)
			return TIN_MALFORMED;
		head = inner - 14;
	} else {
		if (end < inner + 14)
			return TIN_MALFORMED;
		head = inner;
	}
	if (inner > m->data_len)
		return TIN_MALFORMED; /* the headers span segments: not seen from real devices */
	if (t->kind == FC_TUN_GRE) {
		uint8_t *d = rte_pktmbuf_mtod_offset(m, uint8_t *, head);

		memmove(d, b, 12); /* the outer MACs; b may be the mbuf's own bytes */
		put16(d + 12, gre_proto);
	}
	rte_pktmbuf_adj(m, (uint16_t)head);
	cut_chain(m, end - head);
	return TIN_OK;
}

uint16_t
fc_tunnel_burst(const struct fc_tunnel_in *t, struct fc_tunnel_stats *st, struct rte_mbuf **pkts, uint16_t n)
{
	struct rte_mbuf *bad[FC_MAX_BURST];
	uint64_t count[TIN_MALFORMED + 1] = { 0 };
	uint16_t kept = 0, nbad = 0;

	for (uint16_t i = 0; i < n; i++) {
		enum tin_result r = tunnel_one(t, pkts[i]);

		count[r]++;
		if (r == TIN_OK)
			pkts[kept++] = pkts[i];
		else
			bad[nbad++] = pkts[i];
	}
	if (nbad != 0)
		rte_pktmbuf_free_bulk(bad, nbad);
	BUMP(st->decapsulated, count[TIN_OK]);
	if (nbad != 0) {
		BUMP(st->other, count[TIN_OTHER]);
		BUMP(st->wrong_key, count[TIN_WRONG_KEY]);
		BUMP(st->malformed, count[TIN_MALFORMED]);
	}
	return kept;
}
