package test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// netPcapMaxFrame is the largest frame DPDK 22.11's net_pcap chains
// correctly: eth_pcap_rx_jumbo takes the length as uint16_t.
const netPcapMaxFrame = 65535

type capture struct {
	name string
	recs []pcap.Record
}

// TestReplayEveryCapture replays every shared capture through net_pcap
// into the broker and reads the topic back with kcat: the same frames,
// byte for byte, in each file's order, keys equal to the file's
// timestamps in the configured unit. Frames net_pcap cannot carry (over
// 65535 B) must be counted as malformed, nothing else lost. Mbuf data is
// poisoned on free, so a payload read after its mbuf was freed would not
// match.
func TestReplayEveryCapture(t *testing.T) {
	testenv.RequireRoot(t)
	files := testenv.AllPcaps(t)
	var caps []capture
	for _, f := range files {
		recs, err := libpcapRecords(t, f)
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		if len(recs) > 0 {
			caps = append(caps, capture{filepath.Base(f), recs})
		}
	}
	b := startBroker(t, 0, "pcap", "")
	const perRun = 30 // RTE_MAX_ETHPORTS is 32 in Debian's build
	units := []struct {
		name string
		div  int64
	}{{"ns", 1}, {"us", 1000}, {"ms", 1000000}}
	for i := 0; i*perRun < len(caps); i++ {
		batch := caps[i*perRun : min(len(caps), (i+1)*perRun)]
		unit := units[i%len(units)]
		t.Run(fmt.Sprintf("batch%d-%s", i, unit.name), func(t *testing.T) {
			replayBatch(t, b, fmt.Sprintf("replay%d", i), batch, unit.name, unit.div)
		})
	}
}

// libpcapRecords is what libpcap (through tcpdump, an independent
// reader) makes of a capture: net_pcap reads files with libpcap too, so
// truncation to the snapshot length and microsecond timestamps agree.
// Where tcpdump stops with an error, libpcap stops too: the records
// before it are the capture's.
func libpcapRecords(t *testing.T, path string) ([]pcap.Record, error) {
	recs, err := pcaptest.Tcpdump(context.Background(), testenv.RequireTool(t, "tcpdump"), []string{path}, "")
	var te *pcaptest.TcpdumpError
	if err != nil && (!errors.As(err, &te) || len(recs) == 0) {
		return nil, err
	}
	for i := range recs {
		recs[i].Timestamp -= recs[i].Timestamp % 1000 // libpcap's microseconds, as net_pcap opens files
	}
	return recs, nil
}

func replayBatch(t *testing.T, b *broker, topic string, batch []capture, unit string, div int64) {
	pcaps := testenv.Pcaps(t)
	args := append(ealArgs(t), "-brokers", b.Addr, "-topic", topic, "-key-unit", unit)
	want, wantMalformed := 0, 0
	for j, c := range batch {
		path := filepath.Join(pcaps, c.name)
		if _, err := filepath.Glob(path); err != nil || !exists(path) {
			path = filepath.Join(pcaps, "tcpdump-tests", c.name)
		}
		name := fmt.Sprintf("net_pcap%d", j)
		args = append(args, "-vdev", name+",rx_pcap="+path, "-port", name)
		for _, r := range c.recs {
			if len(r.Data) > netPcapMaxFrame {
				wantMalformed++
			} else {
				want++
			}
		}
	}
	d := startDaemon(t, []string{"FASTCAPA_DEBUG_POISON=1"}, args...)
	if got := waitRecords(t, b.Addr, topic, want, 60*time.Second); got < want {
		t.Errorf("topic has %d records after 60 s, want %d", got, want)
	}
	code := d.stop(t)
	f := d.final(t)
	f.check(t)
	if f.Malformed != uint64(wantMalformed) || f.Delivered != uint64(want) {
		t.Errorf("delivered %d, malformed %d; want %d and %d (frames over %d B)", f.Delivered, f.Malformed,
			want, wantMalformed, netPcapMaxFrame)
	}
	if f.RingDropped+f.QueueDropped+f.Failed+f.NICDropped != 0 {
		t.Errorf("loss: %+v", f)
	}
	if wantCode := map[bool]int{true: 0, false: 1}[wantMalformed == 0]; code != wantCode {
		t.Errorf("exit status %d, want %d", code, wantCode)
	}

	matchInOrder(t, kcatRead(t, b.Addr, topic), batch, want, div)
}

// matchInOrder checks msgs hold every frame of every capture in batch,
// byte-exact, each capture's frames in its own order (interleaving with
// the others' is free), keys equal to the frame's microsecond timestamp
// divided by div. Frames net_pcap cannot carry are skipped.
func matchInOrder(t *testing.T, msgs []message, batch []capture, want int, div int64) {
	t.Helper()
	if len(msgs) != want {
		t.Fatalf("kcat read %d messages, want %d", len(msgs), want)
	}
	// One queue per file, all polled into one ring, one producer, one
	// partition: each file's frames appear in its order, interleaved with
	// the others'. Match every message to the file whose next frame it is.
	next := make([]int, len(batch))
	skipOversize := func(j int) {
		for next[j] < len(batch[j].recs) && len(batch[j].recs[next[j]].Data) > netPcapMaxFrame {
			next[j]++
		}
	}
	for j := range batch {
		skipOversize(j)
	}
	for i, m := range msgs {
		if len(m.Key) != 8 {
			t.Fatalf("message %d: key of %d bytes", i, len(m.Key))
		}
		key := int64(binary.BigEndian.Uint64(m.Key))
		matched := false
		for j := range batch {
			if next[j] >= len(batch[j].recs) {
				continue
			}
			r := batch[j].recs[next[j]]
			// net_pcap carries microseconds; the key is that in the unit.
			if bytes.Equal(m.Value, r.Data) && key == (r.Timestamp/1000*1000)/div {
				next[j]++
				skipOversize(j)
				matched = true
				break
			}
		}
		if !matched {
			t.Fatalf("message %d (%d B, key %d) is not the next frame of any file in the batch", i, len(m.Value), key)
		}
	}
	for j, c := range batch {
		if next[j] != len(c.recs) {
			t.Errorf("%s: %d of %d frames arrived", c.name, next[j], len(c.recs))
		}
	}
}
