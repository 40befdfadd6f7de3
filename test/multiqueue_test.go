package test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// TestSeveralPortsQueuesLcores: two ports, three RX queues (net_pcap makes
// one queue per rx_pcap file), two RX lcores mapped onto one CPU (this
// machine has two), so two rings, two workers, two producers into one
// partition. Each queue's frames arrive whole and in order. The asked-for
// 4 queues are clamped to what each device has, and the log says so.
func TestSeveralPortsQueuesLcores(t *testing.T) {
	testenv.RequireRoot(t)
	dir := testenv.Pcaps(t)
	files := [][]string{
		{"metron-example.pcap", filepath.Join("tcpdump-tests", "afs.pcap")}, // net_pcap0: queues 0, 1
		{filepath.Join("tcpdump-tests", "dns_fwdptr.pcap")},                 // net_pcap1: queue 0, a 63 kB frame
	}
	var batch []capture
	want := 0
	args := ealArgs(t)
	for p, fs := range files {
		vdev := "net_pcap" + string(rune('0'+p))
		spec := vdev
		for _, f := range fs {
			recs, err := libpcapRecords(t, filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			batch = append(batch, capture{f, recs})
			want += len(recs)
			spec += ",rx_pcap=" + filepath.Join(dir, f)
		}
		args = append(args, "-vdev", spec, "-port", vdev)
	}
	b := startBroker(t, 0, "pcap", "")
	args = append(args, "-lcores", "0@0,1@1,2@1", "-rx-queues", "4", "-ring-size", "16384", "-brokers", b.Addr, "-topic", "multi")
	d := startDaemon(t, nil, args...)
	if got := waitRecords(t, b.Addr, "multi", want, 60*time.Second); got < want {
		t.Errorf("topic has %d records, want %d", got, want)
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	f := d.final(t)
	f.check(t)
	if f.Delivered != uint64(want) {
		t.Errorf("delivered %d, want %d", f.Delivered, want)
	}
	log := d.stderr.String()
	for _, s := range []string{
		`"port":"net_pcap0","note":"rx_queues clamped from 4 to the device maximum 2"`,
		`"port":"net_pcap1","note":"rx_queues clamped from 4 to the device maximum 1"`,
		`"msg":"rx lcore polling","lcore":1`,
		`"msg":"rx lcore polling","lcore":2`,
	} {
		if !strings.Contains(log, s) {
			t.Errorf("log lacks %s", s)
		}
	}
	matchInOrder(t, kcatRead(t, b.Addr, "multi"), batch, want, 1)
}
