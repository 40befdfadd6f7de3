package dpdk

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// inNetns runs fn on an OS thread that has entered the network namespace
// at path; sockets fn opens stay in that namespace.
func inNetns(t *testing.T, path string, fn func()) {
	t.Helper()
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread ends with the goroutine
		ns, err := os.Open(path)
		if err == nil {
			err = unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET)
			ns.Close()
		}
		if err == nil {
			fn()
		}
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatalf("enter %s: %v", path, err)
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// TestPacketSocketDrops: the kernel's counts on a packet socket, as the
// net_af_packet driver sets one up (TPACKET_V2 ring, bound to an
// interface), are found by interface and accumulated across reads
// (PACKET_STATISTICS resets them); a socket is claimed by one port only,
// and reset and close do what Port needs. The socket's ring of 2 frames
// is never read, in a network namespace of the test's own where nothing
// else sends: every datagram on its loopback is two frames (out and in).
func TestPacketSocketDrops(t *testing.T) {
	testenv.RequireRoot(t)
	ip := testenv.RequireTool(t, "ip")
	ns := fmt.Sprintf("fcafns%d", os.Getpid())
	for _, args := range [][]string{{"netns", "add", ns}, {"netns", "exec", ns, "ip", "link", "set", "lo", "up"}} {
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
		if args[0] == "netns" && args[1] == "add" {
			t.Cleanup(func() { exec.Command(ip, "netns", "del", ns).Run() })
		}
	}
	var pfd, rx, tx int
	var dst unix.Sockaddr
	inNetns(t, "/var/run/netns/"+ns, func() {
		var err error
		must := func(e error) {
			if e != nil && err == nil {
				err = e
			}
		}
		pfd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
		must(unix.SetsockoptInt(pfd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2))
		must(unix.SetsockoptTpacketReq(pfd, unix.SOL_PACKET, unix.PACKET_RX_RING,
			&unix.TpacketReq{Block_size: 4096, Block_nr: 1, Frame_size: 2048, Frame_nr: 2}))
		must(unix.Bind(pfd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: 1}))
		rx, _ = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		must(unix.Bind(rx, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
		dst, _ = unix.Getsockname(rx)
		tx, _ = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		if err != nil {
			t.Errorf("packet socket: %v", err)
		}
	})
	defer unix.Close(pfd)
	defer unix.Close(rx)
	defer unix.Close(tx)
	if t.Failed() {
		t.FailNow()
	}
	send := func(n int) {
		for i := 0; i < n; i++ {
			if err := unix.Sendto(tx, []byte("fastcapa"), 0, dst); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(s *packetSockets, packets, drops uint64) {
		t.Helper()
		p, d, err := s.read()
		if err != nil || p != packets || d != drops {
			t.Errorf("read = %d packets, %d drops, %v; want %d, %d", p, d, err, packets, drops)
		}
	}

	s, err := findPacketSockets(1)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.fds) != 1 || s.fds[0] != pfd {
		t.Fatalf("found sockets %v, want [%d]", s.fds, pfd)
	}
	if _, err := findPacketSockets(1); err == nil {
		t.Errorf("a second port found the socket the first one claimed")
	}
	send(10)
	check(s, 20, 18)
	send(5) // the kernel counts from zero again: the totals grow
	check(s, 30, 28)
	s.reset()
	check(s, 0, 0)
	send(3)
	s.close()
	send(4) // after close the totals are final
	check(s, 6, 6)
	again, err := findPacketSockets(1)
	if err != nil {
		t.Fatalf("close released no claim: %v", err)
	}
	again.close()
}
