package test

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/fastcapa-go/fastcapa/filter"
	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// TestSinkTargets: one sink, four targets with their own filter, format,
// compression and timestamps, fed metron-example.pcap and a capture of
// VLAN-tagged GRE traffic. Each target's files, read back through
// pcap.OpenFile, hold exactly the packets tcpdump keeps from the same
// records for the target's expression (for a VLAN-matching target, the
// tcpdump expression filter.VLANExpr documents), in order, byte-exact;
// and the metrics count the packets each filter left out. pcapstore query
// with the same expression over the "all" target's files and over the
// target's own (pcapng, compressed, microsecond; all indexed by the sink)
// returns the same packets too.
func TestSinkTargets(t *testing.T) {
	testenv.RequireTool(t, "tcpdump")
	var recs []pcap.Record
	for _, f := range []string{"metron-example.pcap", "tcpdump-tests/various_gre.pcap"} {
		_, rs, err := pcap.ReadFile(filepath.Join(testenv.Pcaps(t), f))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rs...)
	}
	// The records as the sink gets them, in a nanosecond pcap for
	// tcpdump: the sink sees a frame's captured bytes as the whole frame.
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC).UnixNano()
	src := filepath.Join(t.TempDir(), "src.pcap")
	var krecs []*kgo.Record
	for i := range recs {
		recs[i].Timestamp = t0 + int64(i)*1000
		recs[i].OrigLen = uint32(len(recs[i].Data))
		krecs = append(krecs, &kgo.Record{Key: binary.BigEndian.AppendUint64(nil, uint64(recs[i].Timestamp)), Value: recs[i].Data})
	}
	pcaptest.WriteCapture(t, src, pcaptest.File{}, recs)

	b := startBroker(t, 0, "targets", "")
	produce(t, b.Addr, "targets", krecs)

	targets := []struct {
		name, filter string
		vlan         bool
		extra        string // more YAML
		suffix       string
	}{
		{"all", "", false, "", ".pcap"},
		{"tcp", "tcp", false, "file_format: pcapng\n    compression: zstd\n    template: \"{ts}.pcapng\"", ".pcapng.zst"},
		{"greHost", "host 10.172.64.7", true, "compression: gzip\n    max_packets: 7", ".pcap.gz"},
		{"udp53", "udp port 53 or icmp", false, "compression: lz4\n    timestamps: us", ".pcap.lz4"},
	}
	dirs := map[string]string{}
	yml := "brokers: " + b.Addr + "\ntopic: targets\ngroup: g\nmetrics_listen: 127.0.0.1:0\ntargets:\n"
	for _, tg := range targets {
		dirs[tg.name] = t.TempDir()
		yml += "  - name: " + tg.name + "\n    dir: " + dirs[tg.name] + "\n    filter: \"" + tg.filter + "\"\n"
		yml += "    filter_vlan: " + map[bool]string{true: "true", false: "false"}[tg.vlan] + "\n"
		yml += "    decap: false\n" // the frames as tcpdump reads them (TestSinkDecapMatchesTcpdump: decap)
		if tg.extra != "" {
			yml += "    " + tg.extra + "\n"
		}
	}
	cfg := filepath.Join(t.TempDir(), "sink.yaml")
	os.WriteFile(cfg, []byte(yml), 0o644)

	s := exec.Command(filepath.Join(bin, "pcapstore"), "sink", "-config", cfg, "-log-json")
	logs := &syncBuffer{}
	s.Stderr = logs
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Process.Kill()
	var m map[string]float64
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if addr := jsonLogField(logs.String(), "metrics", "listen"); addr != "" {
			_, text := get(t, "http://"+addr+"/metrics")
			if m = parseMetrics(t, text); m["pcapstore_records_consumed_total"] >= float64(len(recs)) {
				break
			}
		}
	}
	s.Process.Signal(syscall.SIGTERM)
	if err := s.Wait(); err != nil {
		t.Fatalf("pcapstore sink: %v\n%s", err, logs.String())
	}

	var kept float64
	for _, tg := range targets {
		expr := tg.filter
		if tg.vlan {
			expr = filter.VLANExpr(expr)
		}
		var want, wantNS []pcap.Record
		for _, rec := range pcaptest.TcpdumpKeeps(t, src, expr) {
			wantNS = append(wantNS, rec)
			if tg.name == "udp53" {
				rec.Timestamp -= rec.Timestamp % 1000
			}
			want = append(want, rec)
		}
		// pcapstore query over the files the sink wrote, with their
		// sidecar indexes, keeps what tcpdump keeps from the records.
		for _, from := range []string{"all", tg.name} {
			args := []string{"query", "expr", tg.filter, "-o", filepath.Join(t.TempDir(), "q.pcap"), dirs[from]}
			if tg.vlan {
				args = append(args[:2], append([]string{"-vlan"}, args[2:]...)...)
			}
			out, err := exec.Command(filepath.Join(bin, "pcapstore"), args...).CombinedOutput()
			if err != nil {
				t.Fatalf("pcapstore %v: %v\n%s", args, err, out)
			}
			_, q, err := pcap.ReadFile(args[len(args)-2])
			if err != nil {
				t.Fatal(err)
			}
			ref := wantNS
			if from == "udp53" {
				ref = want // a microsecond target
			}
			if len(q) != len(ref) {
				t.Errorf("query %q over target %s: %d packets, tcpdump keeps %d", tg.filter, from, len(q), len(ref))
				continue
			}
			for i := range ref {
				if q[i].Timestamp != ref[i].Timestamp || !bytes.Equal(q[i].Data, ref[i].Data) {
					t.Errorf("query %q over target %s: packet %d differs from tcpdump's", tg.filter, from, i)
					break
				}
			}
		}
		got := readTarget(t, dirs[tg.name], tg.suffix)
		t.Logf("%s: %q keeps %d of %d; files hold %d", tg.name, expr, len(want), len(recs), len(got))
		if len(want) == 0 || (tg.filter != "" && len(want) == len(recs)) {
			t.Errorf("%s: tcpdump keeps %d of %d: the filter tells nothing apart", tg.name, len(want), len(recs))
		}
		if len(got) != len(want) {
			t.Errorf("%s: files hold %d packets, tcpdump keeps %d", tg.name, len(got), len(want))
			continue
		}
		for i := range want {
			if got[i].Timestamp != want[i].Timestamp || !bytes.Equal(got[i].Data, want[i].Data) {
				t.Errorf("%s: packet %d differs from tcpdump's (ts %d, want %d)", tg.name, i, got[i].Timestamp, want[i].Timestamp)
				break
			}
		}
		kept += float64(len(want))
	}
	if filtered := m["pcapstore_packets_filtered_total"]; filtered != float64(len(targets)*len(recs))-kept {
		t.Errorf("pcapstore_packets_filtered_total %v, want %v", filtered, float64(len(targets)*len(recs))-kept)
	}
}

// readTarget reads every finalized file under dir whose name ends in
// suffix, in name order (the templates start with the first packet's
// time), and fails on any other file.
func readTarget(t *testing.T, dir, suffix string) []pcap.Record {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") || d.Name() == "deadletter.jsonl" {
			return nil
		}
		if !strings.HasSuffix(p, suffix) {
			t.Errorf("%s: not a %s file", p, suffix)
		}
		files = append(files, p)
		return nil
	})
	var recs []pcap.Record
	for _, f := range files {
		recs = append(recs, pcaptest.ReadAll(t, f)...)
	}
	return recs
}
