package dpdk

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// packetSockets are the kernel packet sockets behind a net_af_packet
// port: one per queue, opened by the driver at probe and closed by its
// dev_stop. DPDK 22.11's driver does not report the kernel's drops on
// them in rte_eth_stats, so they are read here with PACKET_STATISTICS,
// which hands over the counts since its last call and resets them: they
// are accumulated.
type packetSockets struct {
	mu      sync.Mutex
	fds     []int
	closed  bool   // the driver closed them: the totals are final
	packets uint64 // frames that reached the sockets, dropped ones included
	drops   uint64 // frames the kernel dropped: the socket's ring was full
	err     error  // the first failed read
}

// claimed are the packet sockets some open port reads, so that two ports
// on one interface do not count the same socket twice.
var claimed = struct {
	sync.Mutex
	fds map[int]bool
}{fds: map[int]bool{}}

// findPacketSockets claims this process's AF_PACKET sockets bound to the
// interface ifindex that no other port has claimed.
func findPacketSockets(ifindex int) (*packetSockets, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, fmt.Errorf("list descriptors: %w", err)
	}
	claimed.Lock()
	defer claimed.Unlock()
	s := &packetSockets{}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || claimed.fds[fd] {
			continue
		}
		if link, err := os.Readlink("/proc/self/fd/" + e.Name()); err != nil || !strings.HasPrefix(link, "socket:") {
			continue
		}
		if d, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil || d != unix.AF_PACKET {
			continue
		}
		sa, err := unix.Getsockname(fd)
		if ll, ok := sa.(*unix.SockaddrLinklayer); err != nil || !ok || ll.Ifindex != ifindex {
			continue
		}
		s.fds = append(s.fds, fd)
	}
	if len(s.fds) == 0 {
		return nil, errors.New("no AF_PACKET socket of this process is bound to the interface")
	}
	for _, fd := range s.fds {
		claimed.fds[fd] = true
	}
	return s, nil
}

// read adds what the kernel counted since the last read and returns the
// totals. After close it returns the final totals without touching the
// descriptors, which the driver has closed (and may since be reused).
func (s *packetSockets) read() (packets, drops uint64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.readLocked()
	}
	return s.packets, s.drops, s.err
}

func (s *packetSockets) readLocked() {
	for _, fd := range s.fds {
		st, err := unix.GetsockoptTpacketStats(fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
		if err != nil {
			if s.err == nil {
				s.err = fmt.Errorf("kernel packet statistics of socket %d: %w", fd, err)
			}
			continue
		}
		// The kernel's tp_packets already includes tp_drops.
		s.packets += uint64(st.Packets)
		s.drops += uint64(st.Drops)
	}
}

// reset makes the counts start from now.
func (s *packetSockets) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.readLocked()
	}
	s.packets, s.drops = 0, 0
}

// close takes the last counts and releases the claim; call it before the
// driver closes the sockets.
func (s *packetSockets) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.readLocked()
	s.closed = true
	claimed.Lock()
	for _, fd := range s.fds {
		delete(claimed.fds, fd)
	}
	claimed.Unlock()
}
