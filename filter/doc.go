// Package filter holds packet filters in tcpdump's syntax and with
// tcpdump's meaning, for both programs: pcapstore sink's per-target
// filters (run here, by Match) and fastcapa's capture.filter (compiled
// here; Program hands libpcap's classic BPF to package dpdk, which runs
// it in the RX loop). A Filter keeps exactly the packets
// `tcpdump -r FILE 'EXPR'` keeps.
//
// New compiles an expression with libpcap itself (pcap_open_dead for the
// link type, pcap_compile with the optimizer on and an unknown netmask;
// compiles are serialized) and copies the classic BPF program out. Match
// then runs that program in Go, with libpcap's interpreter semantics
// (bpf_filter.c): "len" is the wire length, a load past the captured
// bytes rejects the packet, division by zero rejects it, shifts by 32 or
// more give 0. It makes no cgo call, allocates nothing, and is safe on
// any bytes and from any number of goroutines. It takes 7-50 ns a
// packet, 1.7 to 7.5 times less than a cgo call to pcap_offline_filter
// per packet (BenchmarkMatch), and unlike
// golang.org/x/net/bpf's VM it reads "len" as the wire length and runs
// "protochain"'s backward jumps.
//
// Where it departs from libpcap 1.10: a run stops after 64 backward
// jumps and rejects the packet, as later libpcap does. 1.10's
// "protochain" loop never ends on some crafted IPv6 packets, and
// tcpdump with it spins forever on them. New refuses two kinds of
// expression libpcap compiles for pcap_open_dead but tcpdump -r
// refuses or cannot honour: "inbound", "outbound" and "ifindex" read
// metadata of a live Linux capture, which a record does not carry
// (ErrKernelOnly); "ip broadcast" needs a netmask (tcpdump -r assumes
// 0, New refuses it with libpcap's message).
//
// With Spec.MatchVLAN, an Ethernet frame with one or two VLAN tags
// (802.1Q, 802.1ad, 0x9100) is matched on its inner packet: the filter is
// compiled from VLANExpr(Expr), a plain tcpdump expression, so tcpdump
// keeps the same packets for it. Expressions that move libpcap's offsets
// themselves ("vlan", "mpls", "pppoes", "geneve") are refused there
// (ErrMatchVLAN).
//
// The C boundary is the internal package libpcap; nothing else here
// imports "C". A Filter holds no C memory.
//
// The package never reads files or sockets, never decodes packets
// itself, never logs, and never resolves names after New (host and port
// names are resolved when an expression is compiled, as tcpdump does).
package filter
