package dpdk

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// Linux's own VXLAN device is the independent peer: it decapsulates what
// a VXLAN output sends, and encapsulates what a VXLAN receiver takes.
// (This kernel has no GRE or GRETAP: CONFIG_NET_IPGRE_DEMUX is not set,
// and no module can be loaded; those are judged by tshark instead, in
// TestOutputsTunnels, and round-tripped in TestTunnelRoundTrip.)
//
// The wiring: a veth pair, its first end in this namespace under a
// net_af_packet port, its second in a namespace of the test's own with
// 192.0.2.2/24 and the VXLAN devices vx42 (VNI 42) and vx43 (VNI 43),
// both to 192.0.2.1, whose MAC a permanent neighbour entry gives (fastcapa
// answers no ARP). IPv6 is off in the namespace, so nothing else is sent.

type vxlanPeer struct {
	ns, a, b   string
	macA, macB net.HardwareAddr
	ip         string
}

var (
	peerLocal  = netip.MustParseAddr("192.0.2.1") // fastcapa's end
	peerRemote = netip.MustParseAddr("192.0.2.2") // Linux's end
)

func newVXLANPeer(t *testing.T) *vxlanPeer {
	t.Helper()
	testenv.RequireRoot(t)
	p := &vxlanPeer{ip: testenv.RequireTool(t, "ip")}
	id := os.Getpid() % 100000
	p.ns, p.a, p.b = fmt.Sprintf("fcvx%d", id), fmt.Sprintf("fcva%d", id), fmt.Sprintf("fcvb%d", id)
	p.run(t, "netns", "add", p.ns)
	t.Cleanup(func() {
		exec.Command(p.ip, "link", "del", p.a).Run()
		exec.Command(p.ip, "netns", "del", p.ns).Run()
	})
	p.inNS(t, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	p.run(t, "link", "add", p.a, "type", "veth", "peer", "name", p.b, "netns", p.ns)
	if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+p.a+"/disable_ipv6", []byte("1"), 0); err != nil {
		t.Logf("ipv6 stays on %s: %v", p.a, err)
	}
	p.run(t, "link", "set", p.a, "up")
	p.inNS(t, p.ip, "link", "set", "lo", "up")
	p.inNS(t, p.ip, "addr", "add", peerRemote.String()+"/24", "dev", p.b)
	p.inNS(t, p.ip, "link", "set", p.b, "up")
	p.inNS(t, testenv.RequireTool(t, "ethtool"), "-K", p.b, "gro", "off")
	for _, vni := range []string{"42", "43"} {
		p.inNS(t, p.ip, "link", "add", "vx"+vni, "type", "vxlan", "id", vni, "local", peerRemote.String(),
			"remote", peerLocal.String(), "dstport", "4789", "dev", p.b, "nolearning")
		p.inNS(t, p.ip, "link", "set", "vx"+vni, "up")
		// GRO would merge consecutive TCP segments before tcpdump sees them.
		p.inNS(t, testenv.RequireTool(t, "ethtool"), "-K", "vx"+vni, "gro", "off")
	}
	p.macA = p.mac(t, "", p.a)
	p.macB = p.mac(t, p.ns, p.b)
	p.inNS(t, p.ip, "neigh", "add", peerLocal.String(), "lladdr", p.macA.String(), "dev", p.b, "nud", "permanent")
	return p
}

func (p *vxlanPeer) run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(p.ip, args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v: %s", args, err, out)
	}
}

func (p *vxlanPeer) inNS(t *testing.T, args ...string) {
	t.Helper()
	cmd := append([]string{"netns", "exec", p.ns}, args...)
	if out, err := exec.Command(p.ip, cmd...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v: %s", cmd, err, out)
	}
}

func (p *vxlanPeer) mac(t *testing.T, ns, dev string) net.HardwareAddr {
	t.Helper()
	args := []string{"-br", "link", "show", dev}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	out, err := exec.Command(p.ip, args...).Output()
	if err != nil {
		t.Fatalf("ip %v: %v", args, err)
	}
	f := strings.Fields(string(out))
	if len(f) < 3 {
		t.Fatalf("ip %v: %q", args, out)
	}
	m, err := net.ParseMAC(f[2])
	if err != nil {
		t.Fatalf("mac of %s: %v", dev, err)
	}
	return m
}

// port opens a net_af_packet port on the veth end in this namespace.
func (p *vxlanPeer) port(t *testing.T, spec PortSpec) (*Port, *Mempool) {
	t.Helper()
	pool, err := NewMempool(MempoolSpec{Name: fmt.Sprintf("pv%d", vdevSeq.Add(1)), Mbufs: 4095, Cache: 32, DataRoom: 2048 + 128, Socket: -1})
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("net_af_packet_fc%d", vdevSeq.Add(1))
	// framecnt: every frame a test sends at once (tcpreplay -t) fits in
	// the socket's ring, so that on a loaded machine, whose RX lcore may
	// be slow to drain it, the kernel drops none before DPDK sees them
	// (af_packet's default ring holds 512): these tests are about what
	// the receiver does with each frame, not about keeping up.
	if err := addVdevForTest(name, "iface="+p.a+",qpairs=1,framecnt=4096"); err != nil {
		t.Fatal(err)
	}
	spec.Name = name
	spec.PoolFor = func(int) (*Mempool, error) { return pool, nil }
	port, err := OpenPort(spec)
	if err != nil {
		removeVdevForTest(name)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		port.Close()
		removeVdevForTest(name)
		if a := pool.Audit(); a.InUse != 0 {
			t.Errorf("af_packet pool: %d mbufs in use", a.InUse)
		}
		pool.Close()
	})
	return port, pool
}

// tcpdump captures on dev in the namespace until stop.
func (p *vxlanPeer) tcpdump(t *testing.T, dev string) (stop func() []pcap.Record) {
	t.Helper()
	listen := pcaptest.Listen(t, p.ns, dev, "-B", "131072")
	return func() []pcap.Record {
		recs, summary := listen()
		t.Logf("tcpdump on %s: %s", dev, summary)
		return recs
	}
}

// TestVXLANToLinux: Linux's vx42 decapsulates what a VXLAN output sends,
// and tcpdump on it sees every frame of the capture, byte for byte, those
// longer than the 1464 bytes a 1500-byte MTU leaves cut to them (and
// counted truncated); what the output counts sent, the port transmitted.
func TestVXLANToLinux(t *testing.T) {
	requireEAL(t)
	in, want := metronFrames(t)
	p := newVXLANPeer(t)
	out, _ := p.port(t, PortSpec{TxQueues: 1})
	stop := p.tcpdump(t, "vx42")
	tun := &Tunnel{Kind: TunnelVXLAN, Local: peerLocal, Remote: peerRemote, SrcMAC: p.macA, DstMAC: p.macB, Key: 42}
	res := outRun{Inputs: []string{in}, Outputs: []OutputSpec{{Name: "vx42", Port: out, Tunnel: tun}}}.run(t, len(want))
	got := stop()
	const fit = 1500 - 20 - 8 - 8
	exp := make([][]byte, len(want))
	over := 0
	for i, f := range want {
		exp[i] = f[:min(len(f), fit)]
		if len(f) > fit {
			over++
		}
	}
	if err := sameFrames(exp, frames(got)); err != nil {
		t.Errorf("tcpdump on vx42: %v", err)
		out, _ := exec.Command(p.ip, "-n", p.ns, "-s", "-s", "link").CombinedOutput()
		t.Logf("%s", out)
		out, _ = exec.Command("sh", "-c", "cat /proc/net/softnet_stat; ip netns exec "+p.ns+" netstat -su").CombinedOutput()
		t.Logf("%s", out)
	}
	s := res.Stats[0]
	if s.Sent != uint64(len(want)) || s.Truncated != uint64(over) {
		t.Errorf("output: %+v, want %d sent, %d truncated", s, len(want), over)
	}
	if ps, err := out.Stats(); err != nil || ps.OPackets != s.Sent || ps.OErrors != 0 {
		t.Errorf("port: %+v (%v), want %d transmitted", ps, err, s.Sent)
	}
}

// TestVXLANFromLinux: what tcpreplay sends into vx42 reaches the ring as
// the frames sent, in order; what it sends into vx43 (another VNI) is
// counted wrong_key, and VXLAN packets sent raw on the veth with a bad
// IPv4 checksum or a VXLAN header without its I flag are counted
// malformed; none of those pass.
func TestVXLANFromLinux(t *testing.T) {
	requireEAL(t)
	replay := testenv.RequireTool(t, "tcpreplay")
	_, all := metronFrames(t)
	p := newVXLANPeer(t)
	const fit = 1450 + 14 // vx42's MTU and its Ethernet header
	var frames42, frames43 []pcap.Record
	for i, f := range all {
		if len(f) > fit {
			continue
		}
		r := pcap.Record{Timestamp: int64(i) * 1e6, OrigLen: uint32(len(f)), Data: f}
		if len(frames43) < 5 {
			frames43 = append(frames43, r)
		}
		frames42 = append(frames42, r)
	}
	inner := frames42[0].Data
	vx := func(flags byte) []byte {
		v := []byte{flags, 0, 0, 0, 0, 0, 42, 0}
		return cat(p.macA, p.macB, be(0x0800), ip4H(17, peerRemote.AsSlice(), peerLocal.AsSlice(), udpH(50000, 4789, cat(v, inner)), 0))
	}
	badSum := vx(0x08)
	badSum[14+10] ^= 0x55
	noI := vx(0x00)
	bad := []pcap.Record{{OrigLen: uint32(len(badSum)), Data: badSum}, {Timestamp: 1e6, OrigLen: uint32(len(noI)), Data: noI}}
	dir := t.TempDir()
	files := map[string][]pcap.Record{"vx42": frames42, "vx43": frames43, p.b: bad}
	for dev, recs := range files {
		pcaptest.WriteCapture(t, filepath.Join(dir, dev+".pcap"), pcaptest.File{}, recs)
	}
	port, _ := p.port(t, PortSpec{RxQueues: 1, RxDescriptors: 512,
		Tunnel: &TunnelIn{Kind: TunnelVXLAN, Key: 42, Local: peerLocal}})
	port.DiscardQueued()
	res := outRun{InPorts: []*Port{port},
		During: func() {
			for _, dev := range []string{"vx42", "vx43", p.b} {
				p.inNS(t, replay, "-q", "-t", "-i", dev, filepath.Join(dir, dev+".pcap"))
			}
		},
		Until: func(qs []RxQueueStats) bool {
			tn := qs[0].Tunnel
			return tn.Decapsulated >= uint64(len(frames42)) && tn.WrongKey >= uint64(len(frames43)) && tn.Malformed >= 2
		},
	}.run(t, 0)
	if err := sameFrames(frames(frames42), res.Ring); err != nil {
		t.Errorf("ring: %v", err)
	}
	tn := res.Queues[0].Tunnel
	if tn.Decapsulated != uint64(len(frames42)) || tn.WrongKey != uint64(len(frames43)) || tn.Malformed != 2 {
		t.Errorf("tunnel counts %+v: want %d decapsulated, %d wrong key, 2 malformed", tn, len(frames42), len(frames43))
	}
	if q := res.Queues[0]; q.Packets != tn.Decapsulated+tn.Dropped() {
		t.Errorf("received %d = decapsulated %d + dropped %d does not hold", q.Packets, tn.Decapsulated, tn.Dropped())
	}
}
