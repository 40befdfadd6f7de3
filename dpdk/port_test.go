package dpdk

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestOpenPortPoolFailureLeavesDevice: when the port's mempool cannot be
// made, the device is left as it was (not configured: its MTU is not the
// one asked for), and opens once a pool is there.
func TestOpenPortPoolFailureLeavesDevice(t *testing.T) {
	requireEAL(t)
	const name = "net_null_nopool"
	noPool := errors.New("no memory for the pool")
	before, err := portMTU(name)
	if err != nil || before == 1000 {
		t.Fatalf("MTU before: %d, %v", before, err)
	}
	_, err = OpenPort(PortSpec{Name: name, RxQueues: 1, RxDescriptors: 512, MTU: 1000,
		PoolFor: func(int) (*Mempool, error) { return nil, noPool }})
	if !errors.Is(err, noPool) {
		t.Fatalf("OpenPort with a failing pool: %v, want %v", err, noPool)
	}
	if mtu, err := portMTU(name); err != nil || mtu != before {
		t.Fatalf("after the failure the device's MTU is %d (%v), want it untouched (%d)", mtu, err, before)
	}
	pool, err := NewMempool(MempoolSpec{Name: "p-nopool", Mbufs: 2047, Cache: 32, DataRoom: 2048 + 128, Socket: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	p, err := OpenPort(PortSpec{Name: name, RxQueues: 1, RxDescriptors: 512,
		PoolFor: func(int) (*Mempool, error) { return pool, nil }})
	if err != nil {
		t.Fatalf("OpenPort after the failure: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if a := pool.Audit(); a.InUse != 0 {
		t.Errorf("%d mbufs in use after Close", a.InUse)
	}
}

// TestOpenPortQueueFailureCloses: a queue that cannot be set up (mbufs
// without room for the headroom) fails OpenPort, and the device,
// configured by then, is closed: released, and every mbuf back.
func TestOpenPortQueueFailureCloses(t *testing.T) {
	requireEAL(t)
	const name = "net_null_tiny"
	pool, err := NewMempool(MempoolSpec{Name: "p-tiny", Mbufs: 2047, Cache: 32, DataRoom: 64, Socket: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if !slices.Contains(PortNames(), name) {
		t.Fatalf("%s not among the ports %v", name, PortNames())
	}
	_, err = OpenPort(PortSpec{Name: name, RxQueues: 1, RxDescriptors: 512,
		PoolFor: func(int) (*Mempool, error) { return pool, nil }})
	if err == nil || !strings.Contains(err.Error(), "set up rx queue 0") {
		t.Fatalf("OpenPort: %v, want a queue set-up failure", err)
	}
	if slices.Contains(PortNames(), name) {
		t.Errorf("after the failure %s is still a port (%v): configured and never closed", name, PortNames())
	}
	if a := pool.Audit(); a.InUse != 0 {
		t.Errorf("%d mbufs in use after the failure", a.InUse)
	}
}
