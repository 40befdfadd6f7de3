/*
 * decap.h: where the innermost packet of a frame starts, and a symmetric
 * hash of its flow, for the RX lcore (decapsulation before the capture
 * filter, flow-affine partitioning). Pure functions of the mbuf's bytes:
 * no state, no allocation, safe on any lcore.
 *
 * What fc_parse decodes, walking inward from the Ethernet header at 0:
 *   Ethernet    ethertype 0x8100, 0x88a8, 0x9100: VLAN tag (4 B), removed;
 *               0x8847, 0x8848: MPLS; 0x0800: IPv4; 0x86DD: IPv6; any
 *               other: stop.
 *   MPLS        label entries (4 B) to the bottom of stack (S bit, at most
 *               8 entries); the stack is removed; then the first nibble:
 *               4 IPv4, 6 IPv6, anything else (pseudowire control word,
 *               Ethernet pseudowire): stop.
 *   IPv4        version 4, IHL >= 5, IHL*4 bytes present (total length is
 *               not checked: GSO/BIG TCP frames carry 0 or less). A
 *               fragment (MF set or offset != 0) is not decoded further;
 *               a first fragment (offset 0) still gives its ports.
 *   IPv6        version 6; extension headers 0 (hop-by-hop), 43 (routing),
 *               60 (destination), 44 (fragment: a non-first one has no
 *               L4; any fragment is not decoded further), at most 8.
 *   IP payload  4: IPv4 in IP, 41: IPv6 in IP, each a tunnel, removed;
 *               47: GRE; 17: UDP; 6 TCP, 132 SCTP: ports, stop; other:
 *               stop.
 *   GRE         version 0, R (routing) clear; C, K, S add 4 B each;
 *               protocol 0x0800 IPv4, 0x86DD IPv6, 0x6558 Ethernet,
 *               0x8847/0x8848 MPLS (GRE and the MPLS stack count 2
 *               layers), 0x88BE ERSPAN: S clear, type I (Ethernet right
 *               after GRE), S set, type II (8 B header, version 1, then
 *               Ethernet); 0x22EB ERSPAN III (12 B header, version 2,
 *               + 8 B when O is set; frame type 0, Ethernet, only; other
 *               frame types stop); other protocols stop. GRE and its
 *               ERSPAN header are one tunnel.
 *   UDP         by destination port only: 4789 and 8472 VXLAN (8 B, then
 *               Ethernet); 6081 Geneve (version 0, 8 B + options, then
 *               protocol 0x6558 Ethernet, 0x0800 IPv4, 0x86DD IPv6, other
 *               stop); 2152 GTP-U (version 1, PT 1, message type 255
 *               G-PDU only; E, S, PN: 4 more bytes; E: the extension
 *               header chain (length in 4 B units, never 0, at most 8);
 *               then first nibble 4 IPv4, 6 IPv6, else stop). Any other
 *               port: ports, stop.
 * A header that is truncated, malformed, or would put an offset past
 * 65535 stops the walk at the last good layer; nothing past pkt_len is
 * ever read. At most FC_DECAP_MAX_LAYERS layers are removed.
 *
 * The innermost packet (inner_off, inner_kind): the walk meets a header
 * "after a removal" each time it reaches an Ethernet or IP header right
 * after something it removed (a VLAN tag, an MPLS stack, a tunnel); the
 * last such header is the innermost packet, layers the number of removals
 * before it. So: Ethernet/IP: NONE (nothing removed); Ethernet/VLAN/IP:
 * IP4 at 18, 1 layer; Ethernet/VLAN/VLAN/IPv6: IP6 at 22, 2 layers;
 * Ethernet/VLAN/ARP: NONE (a removal that does not reach Ethernet or IP is
 * not counted); VXLAN/Ethernet/IP: ETH at the inner Ethernet, 1 layer;
 * VXLAN/Ethernet/VLAN/IP: IP4 after the inner VLAN, 2 layers;
 * IP/GRE/MPLS/IP: IP4, 2 layers; IP/IP: IP4 (the inner), 1 layer.
 *
 * flow_hash: CRC32C (rte_hash_crc, seed FC_FLOW_SEED) of the innermost
 * IP header's addresses, sorted with their ports (endpoints compared as
 * (address, port)), then the protocol: {lo addr, hi addr, lo port, hi
 * port, proto}. Ports only for TCP, UDP and SCTP with their first 4 bytes
 * present, in an unfragmented packet or a first fragment; otherwise 0.
 * The innermost IP header is the last one met after the innermost
 * Ethernet header (a tunnel's outer IP does not count once an inner
 * Ethernet is reached). With no IP after the innermost Ethernet: CRC32C of
 * its two MAC addresses, sorted. Shorter than an Ethernet header: the seed hashed
 * over nothing (FC_FLOW_SEED's CRC of zero bytes, a constant).
 */
#ifndef FASTCAPA_DECAP_H
#define FASTCAPA_DECAP_H

#include <stdint.h>
#include <rte_config.h>
#include <rte_mbuf.h>

#define FC_DECAP_MAX_LAYERS 8
#define FC_FLOW_SEED 0x9e3779b9u

enum fc_inner_kind { FC_INNER_NONE = 0, FC_INNER_ETH = 1, FC_INNER_IP4 = 2, FC_INNER_IP6 = 3 };

struct fc_parsed {
	uint16_t inner_off; /* where the innermost packet starts: an Ethernet header (ETH) or an IP header (IP4/IP6) */
	uint8_t inner_kind; /* FC_INNER_NONE: nothing was removed (plain Ethernet, or unparsable): the frame as is */
	uint8_t layers;     /* encapsulations removed (each VLAN tag, MPLS stack, tunnel counts 1) */
	uint32_t flow_hash; /* symmetric hash of the innermost 5-tuple */
};

/* Parse m (read through rte_pktmbuf_read; never past pkt_len; never write). */
void fc_parse(const struct rte_mbuf *m, struct fc_parsed *out);

/*
 * Present the inner packet as an Ethernet frame at the mbuf's start, for
 * the filter: ETH: advance the data (rte_pktmbuf_adj) to inner_off; IP4,
 * IP6: advance to inner_off - 14 after saving those 14 bytes into saved
 * and writing there an Ethernet header (the outer frame's destination and
 * source MACs, ethertype 0x0800/0x86DD). The 14 bytes of the Ethernet
 * header presented must lie in the first segment. Returns 0 (also for
 * NONE: nothing to do), or -1 when it cannot: then nothing was changed.
 */
int fc_inner_enter(struct rte_mbuf *m, const struct fc_parsed *p, uint8_t saved[14]);

/* Undo a successful fc_inner_enter exactly: the frame's bytes and the mbuf's fields as before. */
void fc_inner_leave(struct rte_mbuf *m, const struct fc_parsed *p, const uint8_t saved[14]);

#endif
