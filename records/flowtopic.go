package records

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/fastcapa-go/fastcapa/kafka"
)

// FlowJSON is a flow record as the flow topic carries it: one JSON
// object a message, keyed by its UID, the fields named as the Parquet
// columns (Flow's json tags), the first and last packet's times as RFC
// 3339 with nanoseconds (UTC), and absent where the column is null.
// Logstash's kafka input with the json codec, Kafka Connect's JSON
// converter or an OpenSearch/Elasticsearch ingest pipeline read it as
// it is.
type FlowJSON struct {
	*Flow
	First string `json:"first_ts"`
	Last  string `json:"last_ts"`
}

// JSON returns f as the flow topic carries it.
func (f *Flow) JSON() FlowJSON {
	ts := func(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
	return FlowJSON{Flow: f, First: ts(f.First), Last: ts(f.Last)}
}

// FlowTopic sends flow records to a Kafka topic as JSON. Add keeps them
// until Deliver, which a checkpoint calls before it saves the state: so
// a flow record is on the topic before the state says it was written —
// none is lost, and after a crash those since the last checkpoint are
// sent again (at least once: a consumer drops a repeat by uid and
// first_ts).
type FlowTopic struct {
	topic string
	p     *ck.Producer
	log   *slog.Logger
	buf   []flowMsg
	logs  chan struct{}
}

type flowMsg struct{ key, value []byte }

// NewFlowTopic makes the producer: props are librdkafka's producer
// properties, bootstrap.servers among them.
func NewFlowTopic(topic string, props map[string]string, log *slog.Logger) (*FlowTopic, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cm := kafka.ConfigMap(props)
	p, err := ck.NewProducer(&cm)
	if err != nil {
		return nil, fmt.Errorf("flow topic producer: %w", err)
	}
	t := &FlowTopic{topic: topic, p: p, log: log, logs: make(chan struct{})}
	go func() {
		defer close(t.logs)
		kafka.ForwardLogs(p.Logs(), log)
	}()
	return t, nil
}

// Add keeps f's record for the next Deliver.
func (t *FlowTopic) Add(f *Flow) error {
	b, err := json.Marshal(f.JSON())
	if err != nil {
		return err
	}
	t.buf = append(t.buf, flowMsg{key: []byte(f.UID), value: b})
	return nil
}

// Discard drops the records kept: they are made again from the packets
// read again.
func (t *FlowTopic) Discard() { t.buf = t.buf[:0] }

// Deliver sends the records kept and returns once the broker has every
// one, or the first error (a record librdkafka gave up on: after its
// message.timeout.ms, 5 minutes by default).
func (t *FlowTopic) Deliver() error {
	if len(t.buf) == 0 {
		return nil
	}
	done := make(chan ck.Event, len(t.buf))
	for _, m := range t.buf {
		for {
			err := t.p.Produce(&ck.Message{TopicPartition: ck.TopicPartition{Topic: &t.topic, Partition: ck.PartitionAny},
				Key: m.key, Value: m.value}, done)
			var kerr ck.Error
			if errors.As(err, &kerr) && kerr.Code() == ck.ErrQueueFull {
				t.p.Flush(100)
				continue
			}
			if err != nil {
				return fmt.Errorf("flow topic %s: %w", t.topic, err)
			}
			break
		}
	}
	var first error
	for range t.buf {
		if m, ok := (<-done).(*ck.Message); ok && m.TopicPartition.Error != nil && first == nil {
			first = fmt.Errorf("flow topic %s: %w", t.topic, m.TopicPartition.Error)
		}
	}
	if first == nil {
		t.buf = t.buf[:0]
	}
	return first
}

// Close closes the producer (after a Deliver, nothing is left in it).
func (t *FlowTopic) Close() {
	t.p.Close()
	<-t.logs
}
