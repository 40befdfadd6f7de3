// Package rdk is the only C over librdkafka in fastcapa: our own
// declarations (rdk.h) of the librdkafka 2.x functions it calls, and the
// C that calls them. The librdkafka is the one confluent-kafka-go bundles
// (a static archive in its librdkafka_vendor package), already linked into
// every program that imports confluent-kafka-go; this package links
// nothing of its own and never includes an rdkafka.h, neither Debian's
// (too old for the bundled 2.x) nor the vendored one (its path carries the
// module version). It checks its constants against the library in its
// tests.
//
// It holds the producer of the packets (Producer, producer.c): a burst
// of packets, described by dpdk's struct fc_pkt (dpdk/pkt.h, the one
// header of dpdk's it includes, plain C), is produced by fc_rdk_sink in
// the same cgo call that dequeued it, and delivery reports are counted
// by fc_rdk_poll in C; only logs, errors and statistics reach Go, one
// event per Poll. And Ceiling, the C ceiling of make bench: librdkafka
// alone producing synthetic messages from one C loop. It never hands a
// Go pointer to librdkafka, and never calls back into Go.
package rdk
