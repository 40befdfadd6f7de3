/*
 * out.h: what an RX lcore does besides feeding its ring. Outputs send the
 * packets of some routes to DPDK TX ports (a tap's replication and
 * aggregation, fluxcap's job), as they are or re-framed (a VLAN tag
 * inserted or stripped, cut, tail trimmed, carried in GRETAP, GRE or
 * VXLAN); tunnel receivers take a remote tap out of its GRE, GRETAP or
 * VXLAN packets before anything else sees it. Both run on the RX lcore,
 * per burst, in C; no Go on the packet path.
 *
 * Ownership. An output never copies a packet's bytes and never writes
 * them: the frame it sends is the received mbuf itself, its reference
 * count raised on every segment, or, when the frame changes, a clone
 * (indirect mbufs over the same data, rte_pktmbuf_clone) cut to the bytes
 * kept, behind a header mbuf holding the new bytes (outer headers, the
 * MACs and a tag). Header and clone mbufs come from the outputs' own pool.
 * The driver frees what it sent; what rte_eth_tx_burst refused is freed
 * here and counted queue_full. The received mbuf then goes on to the ring
 * as before, unchanged.
 *
 * A tunnel receiver owns the mbuf it was just given: it may write the 14
 * bytes before a plain GRE packet's payload (an Ethernet header of the
 * outer MACs) and move the data start. Each packet is decapsulated or
 * counted and freed: tunnel_other (not a packet of this tunnel: another
 * protocol, port or destination), tunnel_wrong_key, or tunnel_malformed;
 * a bad packet never costs the rest of its burst.
 */
#ifndef FASTCAPA_OUT_H
#define FASTCAPA_OUT_H

#include <stdint.h>
#include <rte_config.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#define FC_MAX_OUTPUTS 16
#define FC_OUT_HDR_MAX 80 /* outer Ethernet + IPv4 (no options) + UDP + VXLAN (50), with room; the MACs and a tag go after */

enum fc_tunnel_kind { FC_TUN_NONE = 0, FC_TUN_GRETAP = 1, FC_TUN_GRE = 2, FC_TUN_VXLAN = 3 };

/* What to do with a frame longer than an output allows. */
enum fc_oversize { FC_OVERSIZE_TRUNCATE = 0, FC_OVERSIZE_DROP = 1 };

/*
 * One output: a TX port, the routes whose packets it sends, and how each
 * frame is re-framed. Read-only while the RX lcores run.
 *
 * The frame sent, in order: keep only vlan (if set); the original's last
 * trim bytes removed; its VLAN tags removed (strip_vlan); the input's tag
 * inserted after the MACs (vlan_of_port); cut to snaplen. With a tunnel,
 * that frame (GRETAP, VXLAN) or what follows its Ethernet header and tags
 * (GRE, protocol the frame's ethertype) is the payload of the outer
 * headers built from tmpl. A result longer than the output's limit (an
 * outer IPv4 total length over mtu; without a tunnel, a frame over mtu +
 * 14, + 4 if tagged) is cut to fit (truncate, counted truncated) or
 * dropped (too_big).
 */
struct fc_output {
	uint16_t port;
	uint8_t tunnel;    /* enum fc_tunnel_kind */
	uint8_t oversize;  /* enum fc_oversize */
	uint8_t strip_vlan;
	uint8_t insert_vlan; /* insert the input port's tag (vlan_of_port) */
	int32_t only_vlan;   /* >= 0: send only frames whose outer tag's VID is this (others: skipped) */
	uint32_t routes;     /* route mask of the packets it sends */
	uint32_t snaplen;    /* 0: whole */
	uint32_t trim;       /* bytes removed from the end */
	uint32_t mtu;
	/* outer headers (tunnel): Ethernet, IPv4 (checksum 0, ids 0), GRE or UDP + VXLAN */
	uint8_t tmpl[FC_OUT_HDR_MAX];
	uint8_t tmpl_len;
	uint8_t ip_off;  /* of the outer IPv4 header in tmpl */
	uint8_t l4_off;  /* of GRE or UDP in tmpl */
};

struct fc_outputs {
	uint16_t n;
	uint16_t nb_lcores; /* RX lcores sending: IPv4 ids step by it */
	struct rte_mempool *pool; /* header and clone mbufs */
	uint16_t vlan_of_port[RTE_MAX_ETHPORTS]; /* TCI to insert, 0: none */
	struct fc_output o[FC_MAX_OUTPUTS];
};

/*
 * One output's counts on one RX lcore. Every packet of a route the
 * output takes (offered) is exactly one of: sent, skipped (only_vlan),
 * too_big, no_mbuf, queue_full, malformed (shorter than the headers it
 * must strip or trim). truncated counts the sent ones that were cut.
 */
struct fc_out_stats {
	uint64_t offered;
	uint64_t sent;
	uint64_t bytes; /* of the frames sent, outer headers included */
	uint64_t truncated;
	uint64_t skipped;
	uint64_t too_big;
	uint64_t no_mbuf;
	uint64_t queue_full;
	uint64_t malformed;
};

/* An RX lcore's state for its outputs. */
struct fc_out_lcore {
	const struct fc_outputs *outs; /* NULL: none */
	uint16_t txq;                  /* its TX queue on every output port */
	uint16_t ip_id[FC_MAX_OUTPUTS];
	struct fc_out_stats st[FC_MAX_OUTPUTS];
};

/*
 * A tunnel receiver on an RX queue: the kind, the key or VNI that must
 * match (has_key: a keyed GRE packet; for VXLAN the VNI always counts),
 * the local address the outer IPv4 destination must be (0: any) and the
 * VXLAN UDP port.
 */
struct fc_tunnel_in {
	uint8_t kind;
	uint8_t has_key;
	uint32_t key;
	uint32_t local; /* network order */
	uint16_t udp_port;
};

struct fc_tunnel_stats {
	uint64_t decapsulated;
	uint64_t other;
	uint64_t wrong_key;
	uint64_t malformed;
};

/* Send what each output takes of pkts[0..n) (each mbuf's route mask in fc_meta, or all when simple). */
void fc_out_burst(struct fc_out_lcore *ol, struct rte_mbuf **pkts, uint16_t n, int simple);

/* Decapsulate a burst in place: the good packets move to the front, in order; returns how many. */
uint16_t fc_tunnel_burst(const struct fc_tunnel_in *t, struct fc_tunnel_stats *st, struct rte_mbuf **pkts, uint16_t n);

/* Copy an output lcore's counts with atomic loads. */
void fc_out_read(const struct fc_out_lcore *ol, unsigned i, struct fc_out_stats *out);

#endif
