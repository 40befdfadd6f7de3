package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// fixedProperties are settings of confluent-kafka-go, not librdkafka's,
// for every Go client made from ConfigMap (make bench's raw ceiling,
// CheckProperties' probe).
var fixedProperties = map[string]any{
	// Delivery reports carry only the partition and error: no payload is
	// copied back into Go.
	"go.delivery.report.fields": "none",
	RouteLogs:                   true,
}

// RouteLogs is the client property that sends librdkafka's log lines to
// the client's Logs channel, not to stderr; ForwardLogs passes them on to
// slog. Every Go client we make sets it (the C producer reads its log
// queue itself: Producer.pollC).
const RouteLogs = "go.logs.channel.enable"

// ForwardLogs logs each of librdkafka's log lines from a client's Logs
// channel through log until the channel is closed (by the client's
// Close). Errors also arrive as error events, which the client's owner
// logs, so lines go out at debug unless critical.
func ForwardLogs(logs <-chan ck.LogEvent, log *slog.Logger) {
	for l := range logs {
		logLine(log, l.Level, l.Message, l.Tag)
	}
}

// logLine logs one of librdkafka's lines (level: syslog's).
func logLine(log *slog.Logger, level int, msg, facility string) {
	lv := slog.LevelDebug
	if level <= 2 {
		lv = slog.LevelError
	}
	log.Log(context.Background(), lv, msg, "source", "librdkafka", "facility", facility)
}

// NewConsumer makes a consumer in group that commits only when its
// owner does (enable.auto.commit and enable.auto.offset.store off) and
// starts where the group has no offset at the earliest one; props
// (bootstrap.servers among them) may set any of these. Its librdkafka
// log lines go to log (ForwardLogs); logsDone is closed once the last
// one is logged, after the consumer's Close. The consumer of `pcapstore
// sink` and of `pcapstore records`.
func NewConsumer(group string, props map[string]string, log *slog.Logger) (c *ck.Consumer, logsDone <-chan struct{}, err error) {
	cm := ck.ConfigMap{
		"group.id":                 group,
		"enable.auto.commit":       false,
		"enable.auto.offset.store": false,
		"auto.offset.reset":        "earliest",
	}
	for k, v := range props {
		cm[k] = v
	}
	cm[RouteLogs] = true
	if c, err = ck.NewConsumer(&cm); err != nil {
		return nil, nil, fmt.Errorf("kafka consumer: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ForwardLogs(c.Logs(), log)
	}()
	return c, done, nil
}

// ConfigMap builds the client configuration from librdkafka properties.
func ConfigMap(props map[string]string) ck.ConfigMap {
	cm := ck.ConfigMap{}
	for k, v := range props {
		cm[k] = v
	}
	for k, v := range fixedProperties {
		cm[k] = v
	}
	return cm
}

// CheckProperties reports whether librdkafka accepts the properties, by
// making a client and closing it at once, so a bad property fails before
// any device is touched.
func CheckProperties(props map[string]string) error {
	cm := ConfigMap(props)
	p, err := ck.NewProducer(&cm)
	if err != nil {
		return fmt.Errorf("kafka properties: %w", err)
	}
	p.Close()
	return nil
}

// StatsFile is a statistics file producers share: each Write (one JSON
// line) goes out whole, and Reopen moves writing to a new file at the same
// path, so one that logrotate moved away is created again.
type StatsFile struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

// OpenStatsFile opens path for appending, creating it if need be.
func OpenStatsFile(path string) (*StatsFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return &StatsFile{path: path, f: f}, nil
}

func (s *StatsFile) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return 0, os.ErrClosed
	}
	return s.f.Write(p)
}

// Reopen opens the path again and writes there from now on. If it
// cannot, writing goes on to the file it had.
func (s *StatsFile) Reopen() error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("reopen %s: %w", s.path, err)
	}
	s.mu.Lock()
	old := s.f
	s.f = f
	s.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Close closes the file; later writes fail.
func (s *StatsFile) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
