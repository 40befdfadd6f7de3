package dpdk

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// grePeer runs testdata/gre_peer.py, scapy's GRE, with args.
func grePeer(t *testing.T, args ...string) {
	t.Helper()
	// Debian's python3, which has Debian's python3-scapy (make deps).
	py := "/usr/bin/python3"
	err := exec.Command(py, "-c", "import scapy.all").Run()
	testenv.Require(t, err == nil, "scapy not importable by "+py+" (make deps installs python3-scapy)")
	if out, err := exec.Command(py, append([]string{filepath.Join("testdata", "gre_peer.py")}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("gre_peer.py %v: %v: %s", args, err, out)
	}
}

// TestGREPeer: scapy, a GRE that is not fastcapa's, is the peer Linux
// cannot be here (this kernel has no GRE device). What fastcapa's GRETAP
// and GRE outputs send, scapy reads back as the frames that went in (GRE:
// after their Ethernet header), every outer IPv4 checksum, length and key
// checked; what scapy sends, fastcapa's receivers give back as those
// frames, in order, counting the 5 with another key wrong_key and the 3
// with a bad IPv4 checksum malformed.
func TestGREPeer(t *testing.T) {
	in, want := metronFrames(t)
	sent := outRun{Inputs: []string{in}, Outputs: []OutputSpec{
		{Name: "gretap", Tunnel: tunnelTo(TunnelGRETAP, 7, true), MTU: 9000},
		{Name: "gre", Tunnel: tunnelTo(TunnelGRE, 7, true), MTU: 9000},
	}}.run(t, len(want))
	dir := t.TempDir()
	scapySrc, scapyDst := []byte{2, 0, 0, 0, 0, 2}, []byte{2, 0, 0, 0, 0, 1} // gre_peer.py's outer MACs
	for i, kind := range []TunnelKind{TunnelGRETAP, TunnelGRE} {
		out, recv := want, want
		if kind == TunnelGRE {
			out, recv = make([][]byte, len(want)), make([][]byte, len(want))
			for j, f := range want {
				out[j], recv[j] = f[14:], cat(scapyDst, scapySrc, f[12:])
			}
		}
		back := filepath.Join(dir, kind.String()+"-back.pcap")
		grePeer(t, "decap", kind.String(), "7", sent.Files[i], back)
		if err := sameFrames(out, frames(pcaptest.ReadAll(t, back))); err != nil {
			t.Errorf("%s out, scapy's decapsulation: %v", kind, err)
		}

		file := filepath.Join(dir, kind.String()+".pcap")
		grePeer(t, "encap", kind.String(), "7", in, file)
		res := outRun{Inputs: []string{file}, Tunnel: &TunnelIn{Kind: kind, Key: 7, HasKey: true, Local: tunLocal}}.run(t, len(want)+8)
		if err := sameFrames(recv, res.Ring); err != nil {
			t.Errorf("%s in, from scapy: %v", kind, err)
		}
		if q := res.Queues[0]; q.Tunnel != (TunnelStats{Decapsulated: uint64(len(want)), WrongKey: 5, Malformed: 3}) {
			t.Errorf("%s in, from scapy: %+v", kind, q.Tunnel)
		}
	}
}
