package packet

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// TestAgainstTshark: where Decode finds addresses and ports, they are
// tshark's outermost ones, frame by frame, over every shared capture
// (joined into one file so tshark runs once; reassembly off, so a
// fragment shows only its own headers); on the Metron sample, plain
// Ethernet/IPv4, it decodes every frame.
func TestAgainstTshark(t *testing.T) {
	tshark := testenv.RequireTool(t, "tshark")
	all := filepath.Join(t.TempDir(), "all.pcap")
	var recs []pcap.Record
	var origin []string
	metron := 0
	for _, f := range testenv.AllPcaps(t) {
		_, rs, _ := pcap.ReadFile(f)
		for i, r := range rs {
			recs = append(recs, r)
			origin = append(origin, filepath.Base(f)+" frame "+strconv.Itoa(i+1))
		}
		if filepath.Base(f) == "metron-example.pcap" {
			metron = len(rs)
		}
	}
	pcaptest.WriteCapture(t, all, pcaptest.File{}, recs)

	res, err := exec.Command(tshark, "-r", all, "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
		"-T", "fields", "-E", "separator=|", "-E", "occurrence=f",
		"-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst",
		"-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "udp.srcport", "-e", "udp.dstport").Output()
	if err != nil && len(res) == 0 {
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Split(strings.TrimRight(string(res), "\n"), "\n")
	if len(lines) != len(recs) {
		t.Fatalf("tshark read %d frames, we wrote %d", len(lines), len(recs))
	}
	decoded := map[string]int{}
	for i, line := range lines {
		fl := strings.Split(line, "|")
		s := Decode(recs[i].Data)
		if !s.Src.IsValid() {
			continue
		}
		decoded[strings.Fields(origin[i])[0]]++
		src, dst := fl[0], fl[1]
		if s.Src.Is6() {
			src, dst = fl[2], fl[3]
		}
		if src == "" {
			continue // tshark found no outer IP here (e.g. it decodes MPLS first)
		}
		if src != s.Src.String() || dst != s.Dst.String() {
			t.Errorf("%s: %s, tshark %s > %s", origin[i], s, src, dst)
			continue
		}
		sp, dp := fl[4], fl[5]
		if s.Proto == ProtoUDP {
			sp, dp = fl[6], fl[7]
		}
		if (s.Proto == ProtoTCP || s.Proto == ProtoUDP) && !s.Truncated && sp != "" &&
			(sp != strconv.Itoa(int(s.SrcPort)) || dp != strconv.Itoa(int(s.DstPort))) {
			t.Errorf("%s: ports %d > %d, tshark %s > %s", origin[i], s.SrcPort, s.DstPort, sp, dp)
		}
	}
	total := 0
	for _, n := range decoded {
		total += n
	}
	t.Logf("compared %d of %d frames with tshark", total, len(recs))
	if decoded["metron-example.pcap"] != metron {
		t.Errorf("metron-example.pcap: decoded %d of %d frames", decoded["metron-example.pcap"], metron)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x81, 0, 0, 5, 0x86, 0xdd})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := Decode(b)
		_ = s.String()
	})
}

func TestUDPFrameDecodes(t *testing.T) {
	s := Decode(UDPFrame(64, 1234, 53))
	if s.String() != "udp 10.0.0.1:1234 > 10.0.0.2:53" {
		t.Errorf("UDPFrame decodes as %q", s)
	}
}
