package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/fastcapa-go/fastcapa/pcap"
)

// runFill fills a topic for the sink's benchmark: -count records as
// fastcapa writes them (key = 8-byte big-endian ns timestamp, value = the
// frame), the frames of -from in turn, 1 µs apart. It waits for every
// delivery report and exits 1 unless all were delivered: the benchmark
// needs a topic of a known size, which fastcapa's replay of a file
// cannot promise on a loaded machine (it counts its drops instead).
func runFill(args []string) int {
	fs := flag.NewFlagSet("fcbench fill", flag.ContinueOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "bootstrap servers")
	topic := fs.String("topic", "pcap", "topic")
	from := fs.String("from", "", "capture whose frames to send, repeated")
	count := fs.Int("count", 0, "records to send")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "fcbench fill: "+format+"\n", a...)
		return 2
	}
	if *from == "" || *count < 1 {
		return fail("need -from FILE and -count > 0")
	}
	_, recs, err := pcap.ReadFile(*from)
	if err == nil && len(recs) == 0 {
		err = fmt.Errorf("%s: no packet", *from)
	}
	if err != nil {
		return fail("%v", err)
	}
	p, err := ck.NewProducer(&ck.ConfigMap{"bootstrap.servers": *brokers, "linger.ms": 5,
		"go.delivery.report.fields": "none"})
	if err != nil {
		return fail("%v", err)
	}
	defer p.Close()
	failed := make(chan int, 1)
	go func() {
		n := 0
		for e := range p.Events() {
			if m, ok := e.(*ck.Message); ok && m.TopicPartition.Error != nil {
				n++
			}
		}
		failed <- n
	}()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	tp := ck.TopicPartition{Topic: topic, Partition: ck.PartitionAny}
	for i := 0; i < *count; i++ {
		key := binary.BigEndian.AppendUint64(nil, uint64(base+int64(i)*1000))
		m := &ck.Message{TopicPartition: tp, Key: key, Value: recs[i%len(recs)].Data}
		for {
			err := p.Produce(m, nil)
			if err == nil {
				break
			}
			if ke, ok := err.(ck.Error); !ok || ke.Code() != ck.ErrQueueFull {
				return fail("produce: %v", err)
			}
			p.Flush(10)
		}
	}
	left := p.Flush(60_000)
	p.Close()
	if n := <-failed; n > 0 || left > 0 {
		fmt.Fprintf(os.Stderr, "fcbench fill: %d failed, %d undelivered of %d\n", n, left, *count)
		return 1
	}
	return 0
}
