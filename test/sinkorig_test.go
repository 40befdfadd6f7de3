package test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// origRec is a record of TestSinkOrigLen: a frame's first bytes, the
// orig_len headers it is sent with, and what the sink makes of it.
type origRec struct {
	kcat    bool     // sent by kcat, else by franz-go
	headers []string // orig_len header values
	key     []byte
	value   []byte
	ts      int64
	orig    uint32 // the wire length stored
	dead    string // the dead-letter reason's text; "" when stored
}

// TestSinkOrigLen: frames of the sample capture, cut to 64 bytes, sent
// with an orig_len header holding their wire length — by kcat (-H
// orig_len=N), and by franz-go, both independent of our producer —
// between whole frames without the header, and records whose header is
// not valid. The sink stores the cut frames with their wire lengths, in
// a pcap and a pcapng target, as tshark (frame.len, frame.cap_len) and
// tcpdump read the files; a target filtering "greater 1000" keeps what
// tcpdump's "greater 1000" keeps of the stored file (the wire length,
// not the 64 bytes); the bad records are dead-lettered with their
// reasons and headers.
func TestSinkOrigLen(t *testing.T) {
	kcat := testenv.RequireTool(t, "kcat")
	tshark := testenv.RequireTool(t, "tshark")
	const topic, snap = "origlen", 64
	b := startBroker(t, 0, topic, "")
	_, frames := sample(t)
	frames = frames[:48]

	// Keys kcat can take on its command line: no NUL byte.
	ts := time.Now().UnixNano()
	nextKey := func() ([]byte, int64) {
		for {
			ts += 1000
			k := binary.BigEndian.AppendUint64(nil, uint64(ts))
			if !bytes.Contains(k, []byte{0}) {
				return k, ts
			}
		}
	}
	var recs []origRec
	for i, f := range frames {
		r := origRec{kcat: i%2 == 1, value: f.Data, orig: uint32(len(f.Data))}
		switch i % 4 {
		case 0, 1: // cut
			r.value = f.Data[:min(snap, len(f.Data))]
			r.headers = []string{strconv.Itoa(len(f.Data))}
		case 3: // whole, and says so
			if i%8 == 3 {
				r.headers = []string{strconv.Itoa(len(f.Data))}
			}
		}
		recs = append(recs, r)
	}
	cut := bytes.Repeat([]byte{0xab}, snap)
	for _, bad := range []struct {
		kcat    bool
		headers []string
		dead    string
	}{
		{true, []string{"abc"}, `orig_len header: "abc" is not a decimal number`},
		{true, []string{"63"}, "orig_len header: 63 is under the 64 bytes of the frame"},
		{true, []string{""}, "orig_len header: empty"},
		{true, []string{"1514", "1514"}, "orig_len header: more than one"},
		{false, []string{"4294967296"}, `orig_len header: "4294967296" is over 4294967295`},
		{false, []string{"-1514"}, "is not a decimal number"},
	} {
		recs = append(recs, origRec{kcat: bad.kcat, headers: bad.headers, value: cut, dead: bad.dead})
	}
	recs = append(recs, origRec{value: cut, headers: []string{"4294967295"}, orig: 4294967295})

	// In order, one at a time: offset i is recs[i].
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	dir := t.TempDir()
	for i := range recs {
		r := &recs[i]
		r.key, r.ts = nextKey()
		if !r.kcat {
			kr := &kgo.Record{Key: r.key, Value: r.value}
			for _, h := range r.headers {
				kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: "orig_len", Value: []byte(h)})
			}
			if err := cl.ProduceSync(context.Background(), kr).FirstErr(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		// kcat sends a file as one message, its bytes as they are.
		file := filepath.Join(dir, fmt.Sprintf("frame%d", i))
		if err := os.WriteFile(file, r.value, 0o644); err != nil {
			t.Fatal(err)
		}
		args := []string{"-P", "-b", b.Addr, "-t", topic, "-k", string(r.key)}
		for _, h := range r.headers {
			args = append(args, "-H", "orig_len="+h)
		}
		if out, err := exec.Command(kcat, append(args, file)...).CombinedOutput(); err != nil {
			t.Fatalf("kcat -P: %v: %s", err, out)
		}
	}

	// kcat shows the headers as sent, whichever client sent them.
	out, err := exec.Command(kcat, "-C", "-b", b.Addr, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%o %h\n").Output()
	if err != nil {
		t.Fatalf("kcat -C: %v", err)
	}
	var wantOut strings.Builder
	for i, r := range recs {
		hs := ""
		if len(r.headers) > 0 {
			hs = "orig_len=" + strings.Join(r.headers, ",orig_len=")
		}
		fmt.Fprintf(&wantOut, "%d %s\n", i, hs)
	}
	if string(out) != wantOut.String() {
		t.Errorf("kcat -f '%%o %%h':\n%s\nwant:\n%s", out, wantOut.String())
	}

	// One sink, a pcap, a pcapng and a filtering target.
	root := t.TempDir()
	cfg := "brokers: " + b.Addr + "\ntopic: " + topic + "\ngroup: g\nmetrics_listen: 127.0.0.1:0\n" +
		"dead_letter: " + filepath.Join(root, "deadletter.jsonl") + "\ntargets:\n" +
		"  - {name: pcap, dir: " + filepath.Join(root, "pcap") + ", template: \"{ts}_{seq}.pcap\", file_format: pcap}\n" +
		"  - {name: ng, dir: " + filepath.Join(root, "ng") + ", template: \"{ts}_{seq}.pcapng\", file_format: pcapng}\n" +
		"  - {name: big, dir: " + filepath.Join(root, "big") + ", template: \"{ts}_{seq}.pcap\", file_format: pcap, filter: \"greater 1000\"}\n"
	cfgPath := filepath.Join(root, "sink.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := sinkUntil(t, len(recs), "sink", "-config", cfgPath, "-log-json")

	var want []pcap.Record
	dead := 0
	for _, r := range recs {
		if r.dead != "" {
			dead++
			continue
		}
		want = append(want, pcap.Record{Timestamp: r.ts, OrigLen: r.orig, Data: r.value})
	}
	if !strings.Contains(logs, fmt.Sprintf(`"consumed":%d,"written":%d,"dead_lettered":%d`, len(recs), 2*len(want)+countBig(want), dead)) {
		t.Errorf("final counters do not say %d consumed, %d written, %d dead-lettered:\n%s", len(recs), 2*len(want)+countBig(want), dead, logs)
	}
	for _, tg := range []struct{ name, suffix string }{{"pcap", ".pcap"}, {"ng", ".pcapng"}} {
		files, _ := filepath.Glob(filepath.Join(root, tg.name, "*"+tg.suffix))
		if len(files) != 1 || !strings.HasSuffix(files[0], tg.suffix) {
			t.Fatalf("target %s: files %v, want one %s", tg.name, files, tg.suffix)
		}
		file := files[0]
		if d := pcaptest.Diff(want, pcaptest.ReadAll(t, file)); d != "" {
			t.Errorf("%s: %s", file, d)
		}
		// tcpdump copies the file's records, wire lengths with them.
		if d := pcaptest.Diff(want, pcaptest.TcpdumpKeeps(t, file, "")); d != "" {
			t.Errorf("tcpdump -r %s: %s", file, d)
		}
		var stderr bytes.Buffer
		ts := exec.Command(tshark, "-r", file, "-T", "fields", "-e", "frame.len", "-e", "frame.cap_len")
		ts.Stderr = &stderr
		out, err := ts.Output()
		if err != nil {
			t.Fatalf("tshark -r %s: %v: %s", file, err, stderr.String())
		}
		var wantLines strings.Builder
		for _, w := range want {
			// tshark 4.0 shows at most 2^31-1 (the file holds
			// 2^32-1: our reader and tcpdump's copy say so above).
			fmt.Fprintf(&wantLines, "%d\t%d\n", min(w.OrigLen, math.MaxInt32), len(w.Data))
		}
		if string(out) != wantLines.String() {
			t.Errorf("tshark -r %s: frame.len, frame.cap_len:\n%s\nwant:\n%s", file, out, wantLines.String())
		}
		// The filter saw the wire length, as tcpdump does on the file.
		if tg.name == "pcap" {
			big := readTarget(t, filepath.Join(root, "big"), ".pcap")
			keeps := pcaptest.TcpdumpKeeps(t, file, "greater 1000")
			if d := pcaptest.Diff(keeps, big); d != "" || len(big) != countBig(want) || len(big) == 0 {
				t.Errorf("target big (greater 1000): %d records, tcpdump keeps %d of the stored file, %d by wire length: %s",
					len(big), len(keeps), countBig(want), d)
			}
		}
	}

	// The bad records: dead-lettered with their reasons and headers.
	data, err := os.ReadFile(filepath.Join(root, "deadletter.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]string{}
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		var d struct {
			deadLine
			Headers []struct {
				Key   string `json:"key"`
				Value []byte `json:"value"`
			} `json:"headers"`
		}
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("dead letter %q: %v", line, err)
		}
		var hs []string
		for _, h := range d.Headers {
			hs = append(hs, h.Key+"="+string(h.Value))
		}
		got[d.Offset] = d.Reason + " " + strings.Join(hs, ",")
	}
	for off, r := range recs {
		g, ok := got[int64(off)]
		if r.dead == "" {
			if ok {
				t.Errorf("offset %d dead-lettered: %s", off, g)
			}
			continue
		}
		wantH := "orig_len=" + strings.Join(r.headers, ",orig_len=")
		if !ok || !strings.Contains(g, r.dead) || !strings.HasSuffix(g, " "+wantH) {
			t.Errorf("offset %d: dead letter %q, want reason %q and headers %s", off, g, r.dead, wantH)
		}
	}
}

// countBig counts the records tcpdump's "greater 1000" keeps: 1000 bytes
// or more on the wire.
func countBig(recs []pcap.Record) int {
	n := 0
	for _, r := range recs {
		if r.OrigLen >= 1000 {
			n++
		}
	}
	return n
}
