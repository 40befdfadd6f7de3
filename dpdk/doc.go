// Package dpdk is fastcapa's thin layer over DPDK 22.11: EAL start-up,
// mempools, ports, rings, the RX polling loop, the capture filter it runs
// (libpcap's classic BPF, converted and JIT-compiled by librte_bpf), the
// decapsulation it will run before the filter and the symmetric flow hash
// (decap.c: what each tunnel decodes is in decap.h), and the worker-side
// burst helper. It is the only package in the module
// that imports "C" for DPDK.
//
// The packet path crosses the cgo boundary once per burst, never once per
// packet: the RX loop runs in C on EAL worker lcores (see fc.c), and a Go
// worker dequeues a burst, hands it to its consumer's C (a Sink: struct
// fc_pkt descriptors, pkt.h) and frees it, in one call (Burst.Drain).
// Burst.Cycle and Packet read a burst from Go instead, through slices over
// mbuf memory valid only until the next Cycle or Release; the tests read
// what the RX loop delivered that way.
//
// The package never exits the process, never logs per packet and never
// keeps Go pointers in C memory.
package dpdk
