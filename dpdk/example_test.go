package dpdk_test

import (
	"fmt"
	"log"

	"github.com/fastcapa-go/fastcapa/dpdk"
)

// Receive from a pcap file through net_pcap: EAL, pool, port, ring, an RX
// lcore, and a worker-side burst. Needs root; no output is checked.
func Example() {
	eal, err := dpdk.Init([]string{"-l", "0,1", "--no-huge", "--no-pci", "-m", "256",
		"--file-prefix", "example", "--vdev", "net_pcap0,rx_pcap=capture.pcap"})
	if err != nil {
		log.Fatal(err)
	}
	defer dpdk.Cleanup()

	pool, _ := dpdk.NewMempool(dpdk.MempoolSpec{Name: "pool", Mbufs: 8192, Cache: 256, DataRoom: 2176, Socket: -1})
	defer pool.Close()
	port, err := dpdk.OpenPort(dpdk.PortSpec{Name: "net_pcap0", RxQueues: 1, RxDescriptors: 512,
		PoolFor: func(int) (*dpdk.Mempool, error) { return pool, nil }})
	if err != nil {
		log.Fatal(err)
	}
	defer port.Close()
	ring, _ := dpdk.NewRing(dpdk.RingSpec{Name: "ring", Size: 4096, Socket: -1})
	defer ring.Close()
	rx, _ := dpdk.NewRxLcore(dpdk.RxSpec{Lcore: eal.Workers[0], Queues: []dpdk.RxQueue{{Port: port}}, Ring: ring, Burst: 32})
	defer rx.Close()
	if err := rx.Launch(); err != nil {
		log.Fatal(err)
	}

	burst, _ := dpdk.NewBurst(32)
	defer burst.Close()
	for n := burst.Cycle(ring); n > 0; n = burst.Cycle(ring) { // frees the previous burst
		for i := 0; i < n; i++ {
			p := burst.Packet(i) // p.Data is valid until the next Cycle
			fmt.Println(p.Timestamp, p.Len)
		}
	}
}
