// Package kafka produces captured packets to Kafka through librdkafka
// (the one confluent-kafka-go bundles): one message per packet, the key
// an 8-byte big-endian timestamp, the value the frame — its first bytes
// and an orig_len header with its wire length if it was cut at capture
// (origlen.go owns the header's format, for the sink's decoder too).
// Packets are produced from C, a burst per call (Producer.Sink; the C is
// in kafka/internal/rdk), and every message's fate is counted there
// (handed over, queue-dropped, delivered, failed); no payload is copied
// back out of librdkafka. It also owns how librdkafka's log reaches slog
// (RouteLogs, ForwardLogs for Go clients such as the sink's consumer),
// whether a client reaches a broker (Reach), the key's time unit as both
// programs' configurations name it (ParseKeyUnit), and make bench's C
// ceiling (CCeiling). It never touches an mbuf: the dpdk package hands
// the sink plain descriptors (dpdk/pkt.h).
package kafka
