package records_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/kafkatest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/records"
)

// TestFlowTopic: with a flow topic, every flow record of the shared
// captures is on the topic, read back by kcat, as one JSON object keyed
// by its uid, equal field for field to its Parquet row read back by
// DuckDB.
func TestFlowTopic(t *testing.T) {
	kcat := testenv.RequireTool(t, "kcat")
	addr := kafkatest.Broker(t, "flows")
	ft, err := records.NewFlowTopic("flows", map[string]string{"bootstrap.servers": addr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ft.Close()
	out := t.TempDir()
	res, err := records.RunFiles(context.Background(), records.FilesSpec{Paths: []string{testenv.Pcaps(t)}, FlowTopic: ft,
		Writer: records.WriterSpec{Dir: out, Flows: true, Stem: "t", Timeouts: records.Timeouts{Idle: time.Hour}}})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := exec.Command(kcat, "-C", "-b", addr, "-t", "flows", "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n").Output()
	if err != nil {
		t.Fatalf("kcat: %v", err)
	}
	var topic []string
	for _, line := range strings.Split(strings.TrimSpace(string(msgs)), "\n") {
		key, value, _ := strings.Cut(line, "\t")
		var f records.FlowJSON
		if err := json.Unmarshal([]byte(value), &f); err != nil {
			t.Fatalf("not JSON: %q: %v", value, err)
		}
		if f.UID != key {
			t.Fatalf("key %q, uid %q", key, f.UID)
		}
		topic = append(topic, fmt.Sprint(f.UID, f.CommunityID, ns(t, f.First), ns(t, f.Last), f.OrigAddr, f.RespAddr, deref(f.OrigPort), deref(f.RespPort),
			f.OrigPackets, f.OrigBytes, f.RespPackets, f.RespBytes, deref(f.State), f.End, f.Sources))
	}
	rows, err := duck(t).Query(`SELECT uid, community_id, first_ns, last_ns,
		orig_addr, resp_addr, orig_port, resp_port, orig_packets, orig_bytes, resp_packets, resp_bytes, state, "end", sources
		FROM read_parquet($1)`, out+"/flows/**/*.parquet")
	if err != nil {
		t.Fatal(err)
	}
	var parquet []string
	for rows.Next() {
		var uid, cid, orig, resp, end string
		var first, last int64
		var op, rp *int32
		var state *string
		var a, b, c, d int64
		var sources []any
		if err := rows.Scan(&uid, &cid, &first, &last, &orig, &resp, &op, &rp, &a, &b, &c, &d, &state, &end, &sources); err != nil {
			t.Fatal(err)
		}
		var src []string
		for _, s := range sources {
			src = append(src, s.(string))
		}
		parquet = append(parquet, fmt.Sprint(uid, cid, first, last, orig, resp, deref(op), deref(rp), a, b, c, d, deref(state), end, src))
	}
	slices.Sort(topic)
	slices.Sort(parquet)
	if int64(len(topic)) != res.Flows || !slices.Equal(topic, parquet) {
		for i := range min(len(topic), len(parquet), 3) {
			t.Logf("topic   %s\nparquet %s", topic[i], parquet[i])
		}
		t.Fatalf("%d flow messages, %d Parquet rows, %d flows written", len(topic), len(parquet), res.Flows)
	}
	t.Logf("%d flow records on the topic, each its Parquet row", len(topic))
}

// ns reads a flow message's time.
func ns(t *testing.T, s string) int64 {
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return ts.UnixNano()
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestFlowTopicBrokerGone: when the flow topic's broker cannot be
// reached, the checkpoint fails before its state is saved: the run
// stops with the error, nothing is published, and a later run with the
// broker back writes every record once.
func TestFlowTopicBrokerGone(t *testing.T) {
	out := t.TempDir()
	in := testenv.Pcaps(t) + "/metron-example.pcap"
	dead, err := records.NewFlowTopic("flows", map[string]string{"bootstrap.servers": testenv.DeadAddr(t), "message.timeout.ms": "1000"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	_, err = records.RunFiles(context.Background(), records.FilesSpec{Paths: []string{in}, FlowTopic: dead,
		Writer: records.WriterSpec{Dir: out, Packets: true, Flows: true, Stem: "a"}})
	if err == nil || !strings.Contains(err.Error(), "flow topic") {
		t.Fatalf("broker gone: %v", err)
	}
	var n int
	if err := duck(t).QueryRow(`SELECT count(*) FROM glob($1)`, out+"/**/*.parquet").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d files published (%v)", n, err)
	}
	addr := kafkatest.Broker(t, "flows")
	live, err := records.NewFlowTopic("flows", map[string]string{"bootstrap.servers": addr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	res, err := records.RunFiles(context.Background(), records.FilesSpec{Paths: []string{in}, FlowTopic: live,
		Writer: records.WriterSpec{Dir: out, Packets: true, Flows: true, Stem: "b"}})
	if err != nil || res.Packets != 761 {
		t.Fatalf("again: %d packets, %v", res.Packets, err)
	}
	var packets int64
	if err := duck(t).QueryRow(`SELECT count(*) FROM read_parquet($1)`, out+"/packets/**/*.parquet").Scan(&packets); err != nil || packets != 761 {
		t.Fatalf("%d packet records (%v), want 761", packets, err)
	}
	if got := kafkatest.Consume(t, addr, "flows", int(res.Flows)); int64(len(got)) != res.Flows {
		t.Fatalf("%d flow messages, want %d", len(got), res.Flows)
	}
}
