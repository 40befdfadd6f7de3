// Package kafka produces captured packets to Kafka through
// confluent-kafka-go (librdkafka): one message per packet, the key an
// 8-byte big-endian timestamp, the value the frame — its first bytes and
// an orig_len header with its wire length if it was cut at capture
// (origlen.go owns the header's format, for the sink's decoder too). It
// counts every message's fate (handed over, queue-dropped, delivered,
// failed) and never copies a payload back out of librdkafka. It also owns
// how librdkafka's log reaches slog (RouteLogs, ForwardLogs), for every
// client we make, the sink's consumer too; and the key's time unit as
// both programs' configurations name it (ParseKeyUnit). Its C over
// librdkafka is in kafka/internal/rdk: the C path (ProducerSpec.FromC,
// Sink: a whole burst produced in one call, delivery reports counted in
// C), and make bench's C ceiling (CCeiling). The Go path (Send, one
// confluent-kafka-go Produce a packet) stays until the C path replaces
// it everywhere.
package kafka
