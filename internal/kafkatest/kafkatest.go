// Package kafkatest holds the Kafka helpers of package tests: an
// in-process Kafka-protocol broker (kfake) and a reader of a topic through
// franz-go, an independent client. It is imported by tests only.
package kafkatest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Broker starts an in-process Kafka-protocol broker with one
// single-partition topic, closed when the test ends, and returns its
// address.
func Broker(tb testing.TB, topic string, opts ...kfake.Opt) string {
	tb.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.Ports(0), kfake.SeedTopics(1, topic)}, opts...)...)
	if err != nil {
		tb.Fatalf("kfake: %v", err)
	}
	tb.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// Consume reads topic from the start with franz-go until it holds want
// records, then checks briefly that no more follow (a duplicate would).
func Consume(tb testing.TB, addr, topic string, want int) []*kgo.Record {
	tb.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		tb.Fatalf("kgo: %v", err)
	}
	defer cl.Close()

	poll := func(ctx context.Context) []*kgo.Record {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				tb.Fatalf("fetch %s/%d: %v", t, p, err)
			}
		})
		return fs.Records()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < want {
		recs = append(recs, poll(ctx)...)
		if ctx.Err() != nil {
			tb.Fatalf("read %d of %d records before the timeout", len(recs), want)
		}
	}
	extra, cancelExtra := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancelExtra()
	if more := poll(extra); len(more) > 0 || len(recs) > want {
		tb.Fatalf("read %d records, want %d", len(recs)+len(more), want)
	}
	return recs
}
