package test

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// TestCaptureSnaplen: fastcapa -snaplen 128 over the sample capture (761
// frames of 54 to 1514 bytes) sends each frame's first 128 bytes at most,
// and the wire length of a cut one in its orig_len header, as kcat (an
// independent client) reads them; pcapstore sink stores them, and tshark
// reading the stored file shows the cut bytes (frame.cap_len) and the
// input's lengths (frame.len), frame for frame. The accounting is the
// same as without a snaplen: every frame delivered.
func TestCaptureSnaplen(t *testing.T) {
	kcat := testenv.RequireTool(t, "kcat")
	tshark := testenv.RequireTool(t, "tshark")
	const snaplen = 128
	file, recs := sample(t)
	b := startBroker(t, 0, "pcap", "")
	d := startDaemon(t, nil, append(ealArgs(t), "-vdev", "net_pcap0,rx_pcap="+file, "-port", "net_pcap0",
		"-brokers", b.Addr, "-topic", "pcap", "-snaplen", fmt.Sprint(snaplen))...)
	if got := waitRecords(t, b.Addr, "pcap", len(recs), 60*time.Second); got != len(recs) {
		t.Fatalf("topic holds %d records, want %d", got, len(recs))
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("fastcapa exit status %d, want 0", code)
	}
	f := d.final(t)
	f.check(t)
	if f.Delivered != uint64(len(recs)) {
		t.Errorf("delivered %d of %d", f.Delivered, len(recs))
	}

	// What kcat reads: the value's size and the headers.
	out, err := exec.Command(kcat, "-C", "-b", b.Addr, "-t", "pcap", "-o", "beginning", "-e", "-q", "-f", "%S %h\n").Output()
	if err != nil {
		t.Fatalf("kcat -C: %v", err)
	}
	var want strings.Builder
	cut := 0
	var stored []pcap.Record
	for _, r := range recs {
		n, h := len(r.Data), ""
		if n > snaplen {
			n, h = snaplen, fmt.Sprintf("orig_len=%d", len(r.Data))
			cut++
		}
		fmt.Fprintf(&want, "%d %s\n", n, h)
		stored = append(stored, pcap.Record{OrigLen: uint32(len(r.Data)), Data: r.Data[:n]})
	}
	if string(out) != want.String() {
		t.Errorf("kcat -f '%%S %%h' (value size, headers) differs from the sample cut at %d", snaplen)
	}
	if cut == 0 || cut == len(recs) {
		t.Fatalf("%d of %d frames longer than %d: the sample tests nothing", cut, len(recs), snaplen)
	}

	// The sink's file, read by tshark.
	dir := t.TempDir()
	sinkUntil(t, len(recs), "sink", "-brokers", b.Addr, "-topic", "pcap", "-group", "snaplen", "-dir", dir,
		"-metrics-listen", "127.0.0.1:0", "-log-json")
	files, _ := filepath.Glob(filepath.Join(dir, "*.pcap"))
	if len(files) != 1 {
		t.Fatalf("the sink wrote %v, want one file", files)
	}
	got := pcaptest.ReadAll(t, files[0])
	for i := range got {
		got[i].Timestamp = 0 // fastcapa's receive times, not the file's
	}
	if d := pcaptest.Diff(stored, got); d != "" {
		t.Errorf("%s: %s", files[0], d)
	}
	ts, err := exec.Command(tshark, "-r", files[0], "-T", "fields", "-e", "frame.len", "-e", "frame.cap_len").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var wantTS bytes.Buffer
	for _, r := range stored {
		fmt.Fprintf(&wantTS, "%d\t%d\n", r.OrigLen, len(r.Data))
	}
	if string(ts) != wantTS.String() {
		t.Errorf("tshark frame.len, frame.cap_len of %s differ from the sample's lengths cut at %d", files[0], snaplen)
	}
	if !t.Failed() {
		t.Logf("%d of %d frames cut to %d bytes; kcat, our reader and tshark agree on the stored file", cut, len(recs), snaplen)
	}
}
