/*
 * decap.c: fc_parse, the walk through encapsulations to the innermost
 * packet, its symmetric flow hash, and fc_inner_enter/leave, which present
 * that packet to the capture filter as an Ethernet frame. What each header
 * decodes and where the walk stops is in decap.h.
 */
#include <string.h>
#include <rte_byteorder.h>
#include <rte_hash_crc.h>
#include <rte_mbuf.h>

#include "decap.h"

#define ETH_VLAN 0x8100
#define ETH_QINQ 0x88a8
#define ETH_QINQ_OLD 0x9100
#define ETH_MPLS 0x8847
#define ETH_MPLS_MC 0x8848
#define ETH_IP4 0x0800
#define ETH_IP6 0x86DD
#define ETH_TEB 0x6558   /* transparent Ethernet bridging */
#define ETH_ERSPAN 0x88BE /* ERSPAN I and II */
#define ETH_ERSPAN3 0x22EB

#define MAX_MPLS 8
#define MAX_EXT 8	/* IPv6 extension headers, GTP-U extension headers */
#define MAX_STEPS 64

enum step { S_ETH, S_ETYPE, S_MPLS, S_NIBBLE, S_IP4, S_IP6, S_PROTO, S_PORTS, S_UDP, S_GRE, S_STOP };

struct walk {
	const struct rte_mbuf *m;
	struct fc_parsed *out;
	uint32_t off;
	uint8_t layers;  /* removed so far */
	uint8_t removed; /* the last thing walked was a removal */
	uint8_t mac[12];
	uint8_t has_mac;
	uint8_t ip_ver; /* 4, 6, or 0: no IP after the innermost Ethernet */
	uint8_t proto;
	uint8_t has_ports;
	uint8_t addr[2][16];
	uint16_t port[2];
};

static inline uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* n bytes at off, or NULL if they pass pkt_len. n <= sizeof(*buf). */
static inline const uint8_t *
get(const struct walk *w, uint32_t off, uint32_t n, uint8_t *buf)
{
	return rte_pktmbuf_read(w->m, off, n, buf);
}

/* Something was removed: another encapsulation, if the bound allows. */
static inline int
remove_layer(struct walk *w)
{
	if (w->layers >= FC_DECAP_MAX_LAYERS)
		return 0;
	w->layers++;
	w->removed = 1;
	return 1;
}

/* A valid Ethernet or IP header at w->off: the innermost packet if it follows a removal. */
static inline int
reach(struct walk *w, uint8_t kind)
{
	if (w->off > UINT16_MAX)
		return 0;
	if (w->removed) {
		w->out->inner_off = (uint16_t)w->off;
		w->out->inner_kind = kind;
		w->out->layers = w->layers;
	}
	w->removed = 0;
	return 1;
}

static enum step
eth(struct walk *w, uint16_t *etype)
{
	uint8_t buf[14];
	const uint8_t *h = get(w, w->off, 14, buf);

	if (h == NULL || !reach(w, FC_INNER_ETH))
		return S_STOP;
	memcpy(w->mac, h, 12);
	w->has_mac = 1;
	w->ip_ver = 0;
	w->has_ports = 0;
	*etype = be16(h + 12);
	w->off += 14;
	return S_ETYPE;
}

static enum step
ethertype(struct walk *w, uint16_t *etype)
{
	uint8_t buf[4];
	const uint8_t *h;

	switch (*etype) {
	case ETH_VLAN:
	case ETH_QINQ:
	case ETH_QINQ_OLD:
		if ((h = get(w, w->off, 4, buf)) == NULL || !remove_layer(w))
			return S_STOP;
		*etype = be16(h + 2);
		w->off += 4;
		return S_ETYPE;
	case ETH_MPLS:
	case ETH_MPLS_MC:
		return S_MPLS;
	case ETH_IP4:
		return S_IP4;
	case ETH_IP6:
		return S_IP6;
	}
	return S_STOP;
}

static enum step
mpls(struct walk *w)
{
	uint8_t buf[4];
	const uint8_t *h;

	for (int i = 0; i < MAX_MPLS; i++) {
		if ((h = get(w, w->off, 4, buf)) == NULL)
			return S_STOP;
		w->off += 4;
		if (h[2] & 1)
			return remove_layer(w) ? S_NIBBLE : S_STOP;
	}
	return S_STOP;
}

/* After MPLS or GTP-U: the IP version in the first nibble. */
static enum step
nibble(struct walk *w)
{
	uint8_t buf[1];
	const uint8_t *h = get(w, w->off, 1, buf);

	if (h == NULL)
		return S_STOP;
	switch (h[0] >> 4) {
	case 4:
		return S_IP4;
	case 6:
		return S_IP6;
	}
	return S_STOP;
}

static enum step
ip4(struct walk *w)
{
	uint8_t buf[20];
	const uint8_t *h = get(w, w->off, 20, buf);
	uint32_t ihl;
	uint16_t frag;

	if (h == NULL || h[0] >> 4 != 4)
		return S_STOP;
	ihl = (h[0] & 15) * 4u;
	if (ihl < 20 || w->off + ihl > rte_pktmbuf_pkt_len(w->m) || !reach(w, FC_INNER_IP4))
		return S_STOP;
	w->ip_ver = 4;
	w->has_ports = 0;
	w->proto = h[9];
	memcpy(w->addr[0], h + 12, 4);
	memcpy(w->addr[1], h + 16, 4);
	frag = be16(h + 6);
	w->off += ihl;
	if (frag & 0x1fff)
		return S_STOP; /* not the first fragment: no L4 */
	return frag & 0x2000 ? S_PORTS : S_PROTO;
}

static enum step
ip6(struct walk *w)
{
	uint8_t buf[40];
	const uint8_t *h = get(w, w->off, 40, buf);
	uint8_t nh;

	if (h == NULL || h[0] >> 4 != 6 || !reach(w, FC_INNER_IP6))
		return S_STOP;
	w->ip_ver = 6;
	w->has_ports = 0;
	memcpy(w->addr[0], h + 8, 16);
	memcpy(w->addr[1], h + 24, 16);
	nh = w->proto = h[6];
	w->off += 40;
	for (int i = 0; i < MAX_EXT; i++) {
		switch (nh) {
		case 0:
		case 43:
		case 60:
			if ((h = get(w, w->off, 2, buf)) == NULL)
				return S_STOP;
			nh = w->proto = h[0];
			w->off += (h[1] + 1u) * 8;
			continue;
		case 44:
			if ((h = get(w, w->off, 8, buf)) == NULL)
				return S_STOP;
			nh = w->proto = h[0];
			w->off += 8;
			if (be16(h + 2) & 0xfff8)
				return S_STOP; /* not the first fragment */
			return be16(h + 2) & 1 ? S_PORTS : S_PROTO;
		}
		return S_PROTO;
	}
	return S_STOP;
}

/* TCP, UDP, SCTP: the ports, the first 4 bytes. */
static int
ports(struct walk *w)
{
	uint8_t buf[4];
	const uint8_t *h;

	if (w->proto != 6 && w->proto != 17 && w->proto != 132)
		return 0;
	if ((h = get(w, w->off, 4, buf)) == NULL)
		return 0;
	w->port[0] = be16(h);
	w->port[1] = be16(h + 2);
	w->has_ports = 1;
	return 1;
}

static enum step
ip_proto(struct walk *w)
{
	switch (w->proto) {
	case 4:
		return remove_layer(w) ? S_IP4 : S_STOP;
	case 41:
		return remove_layer(w) ? S_IP6 : S_STOP;
	case 47:
		return S_GRE;
	case 17:
		return S_UDP;
	}
	ports(w);
	return S_STOP;
}

static enum step
gtpu(struct walk *w)
{
	uint8_t buf[8];
	const uint8_t *h = get(w, w->off, 8, buf);
	uint8_t next;

	/* version 1, protocol type GTP, G-PDU */
	if (h == NULL || h[0] >> 5 != 1 || !(h[0] & 0x10) || h[1] != 255)
		return S_STOP;
	w->off += 8;
	if (h[0] & 7) {
		int e = h[0] & 4;

		if ((h = get(w, w->off, 4, buf)) == NULL)
			return S_STOP;
		w->off += 4;
		next = e ? h[3] : 0;
		for (int i = 0; next != 0; i++) {
			uint32_t n;

			if (i == MAX_EXT || (h = get(w, w->off, 1, buf)) == NULL || h[0] == 0)
				return S_STOP;
			n = h[0] * 4u;
			if ((h = get(w, w->off + n - 1, 1, buf)) == NULL)
				return S_STOP;
			next = h[0];
			w->off += n;
		}
	}
	return remove_layer(w) ? S_NIBBLE : S_STOP;
}

static enum step
udp(struct walk *w)
{
	uint8_t buf[8];
	const uint8_t *h;
	uint16_t pt;

	if (!ports(w) || w->off + 8 > rte_pktmbuf_pkt_len(w->m))
		return S_STOP;
	w->off += 8;
	switch (w->port[1]) {
	case 4789:
	case 8472: /* VXLAN */
		if (w->off + 8 > rte_pktmbuf_pkt_len(w->m) || !remove_layer(w))
			return S_STOP;
		w->off += 8;
		return S_ETH;
	case 6081: /* Geneve */
		if ((h = get(w, w->off, 8, buf)) == NULL || h[0] >> 6 != 0)
			return S_STOP;
		pt = be16(h + 2);
		if (pt != ETH_TEB && pt != ETH_IP4 && pt != ETH_IP6)
			return S_STOP;
		w->off += 8 + (h[0] & 0x3f) * 4u;
		if (!remove_layer(w))
			return S_STOP;
		return pt == ETH_TEB ? S_ETH : pt == ETH_IP4 ? S_IP4 : S_IP6;
	case 2152:
		return gtpu(w);
	}
	return S_STOP;
}

static enum step
gre(struct walk *w)
{
	uint8_t buf[12];
	const uint8_t *h = get(w, w->off, 4, buf);
	uint16_t flags, pt;

	if (h == NULL)
		return S_STOP;
	flags = be16(h);
	pt = be16(h + 2);
	if ((flags & 7) != 0 || (flags & 0x4000))
		return S_STOP; /* version 0 only, no routing */
	w->off += 4 + ((flags & 0x8000) ? 4 : 0) + ((flags & 0x2000) ? 4 : 0) + ((flags & 0x1000) ? 4 : 0);
	switch (pt) {
	case ETH_IP4:
		return remove_layer(w) ? S_IP4 : S_STOP;
	case ETH_IP6:
		return remove_layer(w) ? S_IP6 : S_STOP;
	case ETH_TEB:
		return remove_layer(w) ? S_ETH : S_STOP;
	case ETH_MPLS:
	case ETH_MPLS_MC:
		return remove_layer(w) ? S_MPLS : S_STOP;
	case ETH_ERSPAN:
		if (flags & 0x1000) { /* type II */
			if ((h = get(w, w->off, 8, buf)) == NULL || h[0] >> 4 != 1)
				return S_STOP;
			w->off += 8;
		}
		return remove_layer(w) ? S_ETH : S_STOP;
	case ETH_ERSPAN3:
		if ((h = get(w, w->off, 12, buf)) == NULL || h[0] >> 4 != 2 || ((h[10] >> 2) & 0x1f) != 0)
			return S_STOP;
		w->off += 12 + ((h[11] & 1) ? 8 : 0);
		return remove_layer(w) ? S_ETH : S_STOP;
	}
	return S_STOP;
}

static uint32_t
flow_hash(const struct walk *w)
{
	uint8_t key[2 * 16 + 4 + 1];
	uint32_t n = 0;

	if (w->ip_ver != 0) {
		uint32_t alen = w->ip_ver == 4 ? 4 : 16;
		int c = memcmp(w->addr[0], w->addr[1], alen);
		uint16_t p0 = w->has_ports ? w->port[0] : 0, p1 = w->has_ports ? w->port[1] : 0;
		int lo = c < 0 || (c == 0 && p0 <= p1) ? 0 : 1;
		uint16_t plo = lo == 0 ? p0 : p1, phi = lo == 0 ? p1 : p0;

		memcpy(key, w->addr[lo], alen);
		memcpy(key + alen, w->addr[1 - lo], alen);
		n = 2 * alen;
		key[n++] = plo >> 8;
		key[n++] = plo & 0xff;
		key[n++] = phi >> 8;
		key[n++] = phi & 0xff;
		key[n++] = w->proto;
	} else if (w->has_mac) {
		int lo = memcmp(w->mac, w->mac + 6, 6) <= 0 ? 0 : 6;

		memcpy(key, w->mac + lo, 6);
		memcpy(key + 6, w->mac + 6 - lo, 6);
		n = 12;
	}
	return rte_hash_crc(key, n, FC_FLOW_SEED);
}

void
fc_parse(const struct rte_mbuf *m, struct fc_parsed *out)
{
	struct walk w = { .m = m, .out = out };
	enum step s = S_ETH;
	uint16_t etype = 0;

	out->inner_off = 0;
	out->inner_kind = FC_INNER_NONE;
	out->layers = 0;
	for (int i = 0; i < MAX_STEPS && s != S_STOP; i++) {
		switch (s) {
		case S_ETH:
			s = eth(&w, &etype);
			break;
		case S_ETYPE:
			s = ethertype(&w, &etype);
			break;
		case S_MPLS:
			s = mpls(&w);
			break;
		case S_NIBBLE:
			s = nibble(&w);
			break;
		case S_IP4:
			s = ip4(&w);
			break;
		case S_IP6:
			s = ip6(&w);
			break;
		case S_PROTO:
			s = ip_proto(&w);
			break;
		case S_PORTS:
			ports(&w);
			s = S_STOP;
			break;
		case S_UDP:
			s = udp(&w);
			break;
		case S_GRE:
			s = gre(&w);
			break;
		case S_STOP:
			break;
		}
	}
	out->flow_hash = flow_hash(&w);
}

/* fc_inner_enter writes into the frame only when no other mbuf shares its data. */
static inline int
writable(const struct rte_mbuf *m)
{
	return rte_mbuf_refcnt_read(m) == 1 && !RTE_MBUF_CLONED(m);
}

int
fc_inner_enter(struct rte_mbuf *m, const struct fc_parsed *p, uint8_t saved[14])
{
	uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
	uint32_t off = p->inner_off;
	uint8_t macs[12];

	switch (p->inner_kind) {
	case FC_INNER_NONE:
		return 0;
	case FC_INNER_ETH:
		if (off + 14 > m->data_len)
			return -1;
		rte_pktmbuf_adj(m, off);
		return 0;
	case FC_INNER_IP4:
	case FC_INNER_IP6:
		if (off < 14 || off > m->data_len || !writable(m))
			return -1;
		memcpy(macs, d, 12); /* may overlap the header written */
		d += off - 14;
		memcpy(saved, d, 14);
		memcpy(d, macs, 12);
		d[12] = p->inner_kind == FC_INNER_IP4 ? 0x08 : 0x86;
		d[13] = p->inner_kind == FC_INNER_IP4 ? 0x00 : 0xDD;
		rte_pktmbuf_adj(m, off - 14);
		return 0;
	}
	return -1;
}

void
fc_inner_leave(struct rte_mbuf *m, const struct fc_parsed *p, const uint8_t saved[14])
{
	switch (p->inner_kind) {
	case FC_INNER_ETH:
		rte_pktmbuf_prepend(m, p->inner_off);
		break;
	case FC_INNER_IP4:
	case FC_INNER_IP6:
		memcpy(rte_pktmbuf_mtod(m, uint8_t *), saved, 14);
		rte_pktmbuf_prepend(m, p->inner_off - 14);
		break;
	}
}
