package test

import (
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSinkLogJSON: with -log-json every line the sink writes to stderr
// is a JSON object, librdkafka's own among them: they go through slog
// (source "librdkafka"), not raw to stderr.
func TestSinkLogJSON(t *testing.T) {
	b := startBroker(t, 0, "logjson", "")
	var recs []*kgo.Record
	for i := range 3 {
		recs = append(recs, &kgo.Record{Key: binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()+int64(i))), Value: make([]byte, 60)})
	}
	produce(t, b.Addr, "logjson", recs)
	// librdkafka's consumer-group debug lines make sure it has
	// something to say.
	logs := sinkUntil(t, len(recs), "sink", "-brokers", b.Addr, "-topic", "logjson", "-group", "g", "-dir", t.TempDir(),
		"-log-json", "-log-level", "debug", "-X", "debug=cgrp", "-metrics-listen", "127.0.0.1:0")
	fromKafka := 0
	for i, line := range strings.Split(strings.TrimSuffix(logs, "\n"), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("stderr line %d is not JSON: %q", i+1, line)
			continue
		}
		if v["source"] == "librdkafka" {
			fromKafka++
		}
	}
	if fromKafka == 0 {
		t.Errorf("no librdkafka line in the sink's JSON log:\n%s", logs)
	}
	t.Logf("%d of the sink's log lines came from librdkafka", fromKafka)
}
