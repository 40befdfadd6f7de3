package kafka

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Reach says whether a client reaches a broker now, for readiness: up
// from a broker's first answer until librdkafka reports every broker
// down (its ErrAllBrokersDown event), then up again from the next
// answer. While down, Check asks a broker itself (a metadata request with
// a short timeout) at most once a second; while up it answers from
// memory. The zero value is down, with no broker heard from yet.
type Reach struct {
	up        atomic.Bool
	downSince atomic.Int64 // unix ns of "all brokers down"; 0 since one answered
	askMu     sync.Mutex   // guards lastAsk
	lastAsk   time.Time
}

// Up records that a broker answered (a delivery, an assignment, a
// metadata reply).
func (r *Reach) Up() {
	r.downSince.Store(0)
	r.up.Store(true)
}

// TopicAnswered says whether a metadata request about topic was answered
// by a broker naming the topic without error.
func TopicAnswered(md *ck.Metadata, err error, topic string) bool {
	if err != nil || len(md.Brokers) == 0 {
		return false
	}
	t, ok := md.Topics[topic]
	return ok && t.Error.Code() == ck.ErrNoError
}

// Event notes what an event of the client says of its brokers.
func (r *Reach) Event(e ck.Error) {
	if e.Code() == ck.ErrAllBrokersDown {
		r.downSince.CompareAndSwap(0, time.Now().UnixNano())
		r.up.Store(false)
	}
}

// Check returns nil while a broker is reached, else why not. While down,
// it calls answered (at most once a second, never two at once), which
// asks a broker about the client's topic and says whether it answered
// naming the topic without error (TopicAnswered): then it counts as Up.
func (r *Reach) Check(answered func() bool) error {
	if r.up.Load() {
		return nil
	}
	if r.askMu.TryLock() { // else someone is asking now
		if time.Since(r.lastAsk) >= time.Second {
			r.lastAsk = time.Now()
			if answered() {
				r.Up()
			}
		}
		r.askMu.Unlock()
	}
	if r.up.Load() {
		return nil
	}
	if since := r.downSince.Load(); since != 0 {
		return fmt.Errorf("all brokers down for %v", time.Since(time.Unix(0, since)).Round(100*time.Millisecond))
	}
	return errors.New("no broker has answered yet")
}
