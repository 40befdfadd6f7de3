// Package test holds the end-to-end tests: the real daemon binary on
// DPDK virtual devices (net_pcap, net_af_packet on veth pairs), a real
// Kafka-protocol broker in its own process, and independent clients (kcat,
// franz-go) and tools (tcpreplay) as oracles. The demo and benchmark
// scripts live here too.
package test
