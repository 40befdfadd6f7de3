package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// runConsume is the sink's ceiling: a bare confluent-kafka-go consumer
// reading -count records of a topic from the start, doing nothing with
// them. It prints one key=value line.
func runConsume(args []string) int {
	fs := flag.NewFlagSet("fcbench consume", flag.ContinueOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "bootstrap servers")
	topic := fs.String("topic", "pcap", "topic")
	count := fs.Int("count", 0, "records to read")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after")
	if err := fs.Parse(args); err != nil || *count <= 0 {
		fmt.Fprintln(os.Stderr, "fcbench consume: need -count > 0")
		return 2
	}
	c, err := ck.NewConsumer(&ck.ConfigMap{"bootstrap.servers": *brokers, "group.id": fmt.Sprintf("fcbench-%d", time.Now().UnixNano()),
		"auto.offset.reset": "earliest", "enable.auto.commit": false})
	if err != nil {
		fmt.Fprintf(os.Stderr, "fcbench consume: %v\n", err)
		return 1
	}
	defer c.Close()
	if err := c.Subscribe(*topic, nil); err != nil {
		fmt.Fprintf(os.Stderr, "fcbench consume: %v\n", err)
		return 1
	}
	var n, bytes int
	var start time.Time
	deadline := time.Now().Add(*timeout)
	for n < *count && time.Now().Before(deadline) {
		if m, ok := c.Poll(100).(*ck.Message); ok {
			if n == 0 {
				start = time.Now()
			}
			n++
			bytes += len(m.Value)
		}
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("mode=consume records=%d bytes=%d seconds=%.3f records_per_s=%.0f mb_per_s=%.2f\n",
		n, bytes, secs, float64(n)/secs, float64(bytes)/secs/1e6)
	if n < *count {
		return 1
	}
	return 0
}
