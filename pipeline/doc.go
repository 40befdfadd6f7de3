// Package pipeline assembles the capture daemon: ports and RX lcores from
// package dpdk, rings, worker goroutines that move each packet from a ring
// into a Kafka producer, and the accounting that says where every packet
// went. It starts from a typed Spec (package config builds it) and never
// reads configuration text. It owns start-up order, the queue → lcore
// assignment and the drain on shutdown; it never exits the process.
package pipeline
