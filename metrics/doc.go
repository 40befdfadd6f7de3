// Package metrics exports the capture daemon's counters to Prometheus and
// serves /metrics, /healthz and /readyz. Counters are read from the
// pipeline's Report when scraped, as const metrics: nothing here runs on
// the packet path, and the RX loop never touches Prometheus.
//
// /healthz is 200 while the process serves. /readyz (and the gauge
// fastcapa_ready) says whether packets can be delivered now: 200 when
// every port's link is up and every producer reaches a broker, else 503
// with the reason. A producer reaches a broker from the first answer to
// a metadata request for the topic until librdkafka reports all its
// broker connections down (ErrAllBrokersDown, within a second of the last
// broker going away), and again from the next successful delivery or
// metadata answer; while it does not, each check asks a broker, at most
// once a second and for at most 500 ms (pipeline.Capture.Ready,
// kafka.Producer.Ready, both through kafka.Reach). pcapstore sink's
// /readyz is 503 while it is stopped for a full disk and while its
// consumer reaches no broker, by the same rule (sink.Sink.Ready).
package metrics
