// Package metrics is the HTTP endpoint both programs serve: /metrics (a
// program's collector, with Go's and the process's metrics), /healthz
// (200 while the process serves) and /readyz (200, or 503 with the
// reason, as the program's readiness func says). It also holds Metric,
// the description a collector sends const metrics from at scrape time.
// It knows no program: each collector lives with what it reads
// (pipeline.Collector over a capture's Report, fastcapa_*;
// sink.Collector over a sink's Counters, pcapstore_*), and nothing here
// runs on the packet path.
//
// fastcapa's /readyz (and the gauge fastcapa_ready) says whether packets
// can be delivered now: 200 when every port's link is up and every
// producer reaches a broker, else 503 with the reason. A producer reaches
// a broker from the first answer to a metadata request for the topic
// until librdkafka reports all its broker connections down
// (ErrAllBrokersDown, within a second of the last broker going away), and
// again from the next successful delivery or metadata answer; while it
// does not, each check asks a broker, at most once a second and for at
// most 500 ms (pipeline.Capture.Ready, kafka.Producer.Ready, both through
// kafka.Reach). pcapstore sink's /readyz is 503 while it is stopped for a
// full disk and while its consumer reaches no broker, by the same rule
// (sink.Sink.Ready).
package metrics
