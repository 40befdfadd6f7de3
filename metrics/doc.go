// Package metrics exports the capture daemon's counters to Prometheus and
// serves /metrics, /healthz and /readyz. Counters are read from the
// pipeline's Report when scraped, as const metrics: nothing here runs on
// the packet path, and the RX loop never touches Prometheus.
package metrics
