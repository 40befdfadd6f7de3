package records

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/fastcapa-go/fastcapa/kafka"
	"github.com/fastcapa-go/fastcapa/pcap"
	"github.com/fastcapa-go/fastcapa/sink"
)

// KafkaSpec is a run over the packet topic: the records fastcapa
// produces, read as `pcapstore sink` reads them (sink.Decoder: Metron's
// FROM_KEY or FROM_VALUE, the key's unit, the orig_len header).
type KafkaSpec struct {
	Topic string
	Group string
	// Properties are librdkafka consumer properties, bootstrap.servers
	// among them.
	Properties map[string]string
	Decoder    sink.Decoder
	// DeadLetter is the file records the Decoder refuses are appended
	// to, as the sink's (sink.AppendDeadLetter). Default
	// Writer.Dir/deadletter.jsonl.
	DeadLetter string
	Writer     WriterSpec
	// Checkpoint is how often, at most, the records written are
	// published with the state, and the group's offsets committed.
	// Default 1 min.
	Checkpoint time.Duration
	Log        *slog.Logger
	// FlowTopic and Upload: as FilesSpec's.
	FlowTopic *FlowTopic
	Upload    func(ctx context.Context, localPath, key string) error
	// Progress, if set, is called after each checkpoint.
	Progress func(KafkaResult)
}

// KafkaResult is what a run over the topic read and wrote.
type KafkaResult struct {
	Counts
	Consumed     int64 // records read from the topic
	DeadLettered int64 // of them, refused by the Decoder
	Written      int   // Parquet files published
	Checkpoints  int
	// Uploaded and Unuploaded: as FilesResult's.
	Uploaded, Unuploaded int
	// First and Last are when the first and the last record were
	// consumed: with Consumed, the rate once the group is joined.
	First, Last time.Time
}

// RunKafka consumes the topic in the group and writes the records of
// its packets (source "kafka:TOPIC/PARTITION", position the offset)
// until ctx ends; then it writes each open flow's part (End "open") and
// saves the flows to go on at the next run.
//
// Where each partition stands is the output's state, written with each
// checkpoint (see RunFiles): the next offset of each partition beside
// the files that hold the records before it. An assigned partition the
// state knows starts there, not at the group's committed offset, which
// is committed after each checkpoint, for the group's lag and for a
// partition the state does not know. So a crash at any moment loses no
// record and writes none twice, and a record is committed only once its
// rows are published (or it is in the synced dead-letter file).
//
// One flow table serves every assigned partition: a flow is whole when
// all its packets reach this process — one process reads the topic, or
// fastcapa partitions it by flow (partitioner: flow). Run one per
// output directory; with several in a group, give each its own.
func RunKafka(ctx context.Context, spec KafkaSpec) (KafkaResult, error) {
	var res KafkaResult
	r, err := newRun(FilesSpec{Writer: spec.Writer, Log: spec.Log, Checkpoint: spec.Checkpoint, FlowTopic: spec.FlowTopic, Upload: spec.Upload})
	if err != nil {
		return res, err
	}
	if r.st.Topic != "" && r.st.Topic != spec.Topic {
		return res, fmt.Errorf("%s holds the records of topic %s, not %s: give each topic its own output", spec.Writer.Dir, r.st.Topic, spec.Topic)
	}
	r.st.Topic = spec.Topic
	r.offsets = map[int32]int64{}
	for p, o := range r.st.Offsets {
		r.offsets[p] = o
	}
	if spec.DeadLetter == "" {
		spec.DeadLetter = filepath.Join(spec.Writer.Dir, "deadletter.jsonl")
	}
	if r.dead, err = os.OpenFile(spec.DeadLetter, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err != nil {
		return res, fmt.Errorf("dead-letter file: %w", err)
	}
	defer r.dead.Close()
	// Lines after the checkpoint's are of records consumed again.
	if fi, err := r.dead.Stat(); err == nil && fi.Size() > r.st.DeadSize {
		if err := r.dead.Truncate(r.st.DeadSize); err != nil {
			return res, fmt.Errorf("dead-letter file: %w", err)
		}
	}

	c, logsDone, err := kafka.NewConsumer(spec.Group, spec.Properties, r.log)
	if err != nil {
		return res, err
	}
	k := &kafkaRun{run: r, spec: spec, c: c, res: &res, sources: map[int32]string{}}
	r.afterCheckpoint = k.commit
	if err := c.SubscribeTopics([]string{spec.Topic}, k.rebalance); err != nil {
		c.Close()
		<-logsDone
		return res, fmt.Errorf("subscribe %s: %w", spec.Topic, err)
	}
	runErr := k.consume(ctx)
	if runErr == nil {
		r.w.table.Cut()
		runErr = r.checkpoint()
	} else {
		r.w.Abort()
	}
	if err := c.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("close consumer: %w", err)
	}
	<-logsDone
	k.result()
	return res, runErr
}

// result brings the counts the run keeps into the result.
func (k *kafkaRun) result() {
	r := k.run
	k.res.Counts, k.res.Written, k.res.Checkpoints = r.w.Counts, r.res.Written, r.res.Checkpoints
	k.res.Uploaded, k.res.Unuploaded = r.res.Uploaded, r.res.Unuploaded
}

// kafkaRun is RunKafka's consumer side.
type kafkaRun struct {
	*run
	spec    KafkaSpec
	c       *ck.Consumer
	res     *KafkaResult
	pending bool             // records handled since the last checkpoint
	sources map[int32]string // each partition's packet source, "kafka:TOPIC/PARTITION"
}

// rebalance starts an assigned partition where the state says its
// records end, and checkpoints before a partition is taken away.
func (k *kafkaRun) rebalance(c *ck.Consumer, ev ck.Event) error {
	switch e := ev.(type) {
	case ck.AssignedPartitions:
		parts := make([]ck.TopicPartition, len(e.Partitions))
		for i, tp := range e.Partitions {
			parts[i] = tp
			if off, ok := k.offsets[tp.Partition]; ok {
				parts[i].Offset = ck.Offset(off)
			}
			k.log.Info("partition assigned", "topic", *tp.Topic, "partition", tp.Partition, "offset", parts[i].Offset.String())
		}
		return c.Assign(parts)
	case ck.RevokedPartitions:
		if k.pending {
			if err := k.checkpoint(); err != nil {
				k.log.Error("checkpoint before giving partitions up", "error", err)
			}
			k.pending = false
		}
		return c.Unassign()
	}
	return nil
}

// consume reads records until ctx ends or a fatal error.
func (k *kafkaRun) consume(ctx context.Context) error {
	for ctx.Err() == nil {
		switch e := k.c.Poll(100).(type) {
		case *ck.Message:
			if err := k.handle(e); err != nil {
				return err
			}
		case ck.Error:
			if e.IsFatal() {
				return fmt.Errorf("kafka: %w", e)
			}
			k.log.Warn("kafka", "error", e)
		}
		if k.pending && time.Since(k.last) >= k.run.spec.Checkpoint {
			if err := k.checkpoint(); err != nil {
				return err
			}
			k.pending = false
			if k.spec.Progress != nil {
				k.result()
				k.spec.Progress(*k.res)
			}
		}
	}
	return nil
}

// handle writes one record's rows, or dead-letters it.
func (k *kafkaRun) handle(m *ck.Message) error {
	p, off := m.TopicPartition.Partition, int64(m.TopicPartition.Offset)
	if next, ok := k.offsets[p]; ok && off < next {
		return nil // before where the state says the records end
	}
	k.res.Consumed++
	k.pending = true
	k.res.Last = time.Now()
	if k.res.Consumed == 1 {
		k.res.First = k.res.Last
	}
	pk, err := k.spec.Decoder.Decode(m.Key, m.Value, m.Headers)
	if err != nil {
		if err := sink.AppendDeadLetter(k.dead, k.spec.Topic, m, err); err != nil {
			return err
		}
		k.res.DeadLettered++
	} else {
		source, ok := k.sources[p]
		if !ok {
			source = "kafka:" + k.spec.Topic + "/" + strconv.Itoa(int(p))
			k.sources[p] = source
		}
		if err := k.w.Add(pk.Timestamp, pk.OrigLen, pcap.LinkTypeEthernet, pk.Data, source, off); err != nil {
			return err
		}
	}
	k.offsets[p] = off + 1
	return nil
}

// commit commits the offsets of the last checkpoint to the group: what
// its lag shows, and where a partition the state does not know starts.
// A refusal is logged; the state stays what counts.
func (k *kafkaRun) commit() {
	var tps []ck.TopicPartition
	for p, off := range k.st.Offsets {
		tps = append(tps, ck.TopicPartition{Topic: &k.spec.Topic, Partition: p, Offset: ck.Offset(off)})
	}
	if len(tps) == 0 {
		return
	}
	if _, err := k.c.CommitOffsets(tps); err != nil && !errors.Is(err, context.Canceled) {
		k.log.Warn("offset commit refused; the output's state holds the offsets", "error", err)
	}
}
