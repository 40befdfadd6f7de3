package test

import (
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/config"
	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// TestTunnelReceiverToKafka: a remote tap carried by Linux's own VXLAN
// device (vx42, VNI 42, in the pair's namespace, to fastcapa's
// 192.0.2.1) lands in Kafka as the frames tcpreplay put into vx42, byte
// for byte and in order; frames put into vx43 (VNI 43) and two broken
// VXLAN packets sent raw are freed before the routes and counted
// (tunnel_dropped), and the route's accounting holds on the rest.
func TestTunnelReceiverToKafka(t *testing.T) {
	v := newVethPair(t)
	ns := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", append([]string{"netns", "exec", v.netns}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	// Nothing but what the test sends: no IPv6 on the VXLAN devices either.
	ns("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	ns("ip", "addr", "add", "192.0.2.2/24", "dev", v.inject)
	for _, vni := range []string{"42", "43"} {
		ns("ip", "link", "add", "vx"+vni, "type", "vxlan", "id", vni, "local", "192.0.2.2", "remote", "192.0.2.1",
			"dstport", "4789", "dev", v.inject, "nolearning")
		ns("ip", "link", "set", "vx"+vni, "up")
	}
	out, err := exec.Command("ip", "-br", "link", "show", v.capture).Output()
	if err != nil || len(strings.Fields(string(out))) < 3 {
		t.Fatalf("mac of %s: %v %q", v.capture, err, out)
	}
	capMAC := strings.Fields(string(out))[2]
	ns("ip", "neigh", "add", "192.0.2.1", "lladdr", capMAC, "dev", v.inject, "nud", "permanent")
	out, _ = exec.Command("ip", "-n", v.netns, "-br", "link", "show", v.inject).Output()
	injMAC, err := net.ParseMAC(strings.Fields(string(out))[2])
	if err != nil {
		t.Fatal(err)
	}
	cm, _ := net.ParseMAC(capMAC)

	_, all := sample(t)
	var frames42, frames43 []pcap.Record
	for _, r := range all {
		if len(r.Data) <= 1450+14 { // what vx42's MTU lets tcpreplay send
			frames42 = append(frames42, r)
			if len(frames43) < 7 {
				frames43 = append(frames43, r)
			}
		}
	}
	// Two VXLAN packets to fastcapa that no receiver may take: a bad IPv4
	// checksum, and a VXLAN header without its I flag.
	vx := func(flags byte) []byte {
		inner := frames42[0].Data
		udp := append([]byte{0xc3, 0x50, 0x12, 0xb5, 0, 0, 0, 0, flags, 0, 0, 0, 0, 0, 42, 0}, inner...)
		udp[4], udp[5] = byte(len(udp)>>8), byte(len(udp))
		ip := pcaptest.IPv4(17, []byte{192, 0, 2, 2}, []byte{192, 0, 2, 1}, udp, 0)
		return append(append(append([]byte{}, cm...), injMAC...), append([]byte{0x08, 0}, ip...)...)
	}
	badSum := vx(0x08)
	badSum[14+10] ^= 0x55
	bad := []pcap.Record{{OrigLen: uint32(len(badSum)), Data: badSum}, {Timestamp: 1e6, OrigLen: uint32(len(badSum)), Data: vx(0)}}
	dir := t.TempDir()
	files := map[string][]pcap.Record{"vx42": frames42, "vx43": frames43, v.inject: bad}
	for dev, recs := range files {
		pcaptest.WriteCapture(t, filepath.Join(dir, dev+".pcap"), pcaptest.File{}, recs)
	}

	b := startBroker(t, 0, "pcap", "")
	cfg := writeConfig(t, map[string]any{
		"ports": []config.Port{{Name: "net_af_packet0", Tunnel: &config.TunnelIn{Type: "vxlan", Key: "42", Local: "192.0.2.1"}}},
	})
	d := startDaemon(t, nil, append(ealArgs(t), "-config", cfg, "-vdev", v.vdev(), "-brokers", b.Addr, "-topic", "remote")...)
	waitLog(t, d, "capturing", 30*time.Second)
	for _, dev := range []string{"vx42", "vx43", v.inject} {
		ns("tcpreplay", "-q", "-t", "-i", dev, filepath.Join(dir, dev+".pcap"))
	}
	if got := waitRecords(t, b.Addr, "remote", len(frames42), 30*time.Second); got < len(frames42) {
		t.Errorf("topic has %d records, want %d", got, len(frames42))
	}
	time.Sleep(500 * time.Millisecond)
	if code := d.stop(t); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	f := d.final(t)
	f.check(t)
	msgs := kcatRead(t, b.Addr, "remote")
	if len(msgs) != len(frames42) {
		t.Fatalf("kcat read %d messages, want %d", len(msgs), len(frames42))
	}
	for i, m := range msgs {
		if string(m.Value) != string(frames42[i].Data) {
			t.Fatalf("message %d differs from frame %d sent into vx42", i, i)
		}
	}
	if want := uint64(len(frames43) + len(bad)); f.TunnelDropped != want || f.Received != uint64(len(frames42))+want {
		t.Errorf("received %d, tunnel dropped %d: want %d and %d", f.Received, f.TunnelDropped, uint64(len(frames42))+want, want)
	}
	if !strings.Contains(d.stdout.String()+d.stderr.String(), "wrong key") {
		t.Errorf("the final table lacks the tunnel receiver's counts:\n%s", d.stdout.String())
	}
}
