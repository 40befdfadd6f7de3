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
// columns, times as RFC 3339 with nanoseconds (UTC), and absent where
// the column is null. Logstash's kafka input with the json codec, Kafka
// Connect's JSON converter or an OpenSearch/Elasticsearch ingest
// pipeline read it as it is.
type FlowJSON struct {
	UID         string   `json:"uid"`
	CommunityID string   `json:"community_id"`
	First       string   `json:"first_ts"`
	Last        string   `json:"last_ts"`
	VLAN        *int32   `json:"vlan,omitempty"`
	InnerVLAN   *int32   `json:"inner_vlan,omitempty"`
	IPVersion   int32    `json:"ip_version"`
	Proto       int32    `json:"proto"`
	OrigAddr    string   `json:"orig_addr"`
	OrigPort    *int32   `json:"orig_port,omitempty"`
	RespAddr    string   `json:"resp_addr"`
	RespPort    *int32   `json:"resp_port,omitempty"`
	ICMPType    *int32   `json:"icmp_type,omitempty"`
	ICMPCode    *int32   `json:"icmp_code,omitempty"`
	Tunnel      *string  `json:"tunnel,omitempty"`
	OuterOrig   *string  `json:"outer_orig,omitempty"`
	OuterResp   *string  `json:"outer_resp,omitempty"`
	OrigPackets int64    `json:"orig_packets"`
	OrigBytes   int64    `json:"orig_bytes"`
	RespPackets int64    `json:"resp_packets"`
	RespBytes   int64    `json:"resp_bytes"`
	OrigFlags   *int32   `json:"orig_tcp_flags,omitempty"`
	RespFlags   *int32   `json:"resp_tcp_flags,omitempty"`
	State       *string  `json:"state,omitempty"`
	End         string   `json:"end"`
	Sources     []string `json:"sources"`
}

// JSON returns f as the flow topic carries it.
func (f *Flow) JSON() FlowJSON {
	ts := func(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
	return FlowJSON{UID: f.UID, CommunityID: f.CommunityID, First: ts(f.First), Last: ts(f.Last), VLAN: f.VLAN,
		InnerVLAN: f.InnerVLAN, IPVersion: f.IPVersion, Proto: f.Proto, OrigAddr: f.OrigAddr, OrigPort: f.OrigPort,
		RespAddr: f.RespAddr, RespPort: f.RespPort, ICMPType: f.ICMPType, ICMPCode: f.ICMPCode, Tunnel: f.Tunnel,
		OuterOrig: f.OuterOrig, OuterResp: f.OuterResp, OrigPackets: f.OrigPackets, OrigBytes: f.OrigBytes,
		RespPackets: f.RespPackets, RespBytes: f.RespBytes, OrigFlags: f.OrigFlags, RespFlags: f.RespFlags,
		State: f.State, End: f.End, Sources: f.Sources}
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
