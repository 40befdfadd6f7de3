package pipeline

import (
	"fmt"

	"github.com/fastcapa-go/fastcapa/dpdk"
)

// chooseRxLcores returns the lcores that poll: want (capture.rx_lcores),
// each of which must be an EAL worker lcore, or, when want is empty,
// every EAL worker lcore. lcores is eal.lcores as given, for the message.
func chooseRxLcores(want []uint, eal dpdk.EALInfo, lcores string) ([]uint, error) {
	if len(want) == 0 {
		if len(eal.Workers) == 0 {
			return nil, fmt.Errorf("eal.lcores %q has no worker lcore besides the main one %d: give at least two, e.g. \"0,1\"",
				lcores, eal.MainLcore)
		}
		return eal.Workers, nil
	}
	ok := map[uint]bool{}
	for _, w := range eal.Workers {
		ok[w] = true
	}
	for _, l := range want {
		if !ok[l] {
			return nil, fmt.Errorf("capture.rx_lcores: lcore %d is not an EAL worker lcore (workers: %v)", l, eal.Workers)
		}
	}
	return want, nil
}

// lcorePlan is one RX lcore's share of the queues; its ring goes on its
// NUMA socket.
type lcorePlan struct {
	Lcore  uint
	Socket int
	Queues []dpdk.RxQueue
}

// numaWarning is a queue polled from an lcore on another NUMA socket than
// its port's: every packet then crosses the interconnect.
type numaWarning struct {
	Lcore       uint
	LcoreSocket int
	Port        string
	PortSocket  int
}

// planLcores spreads every (port, queue), port by port, round robin over
// the RX lcores; an lcore left without a queue gets no plan (no ring, no
// RX loop). socket gives an lcore's NUMA socket. It returns a warning for
// each queue whose port is on another socket than its lcore.
func planLcores(ports []*dpdk.Port, lcores []uint, socket func(lcore uint) int) ([]lcorePlan, []numaWarning) {
	if len(lcores) == 0 {
		return nil, nil
	}
	queues := make([][]dpdk.RxQueue, len(lcores))
	k := 0
	for _, p := range ports {
		for q := uint16(0); q < p.Info.RxQueues; q++ {
			queues[k%len(lcores)] = append(queues[k%len(lcores)], dpdk.RxQueue{Port: p, Queue: q})
			k++
		}
	}
	var plans []lcorePlan
	var warns []numaWarning
	for i, l := range lcores {
		if len(queues[i]) == 0 {
			continue
		}
		pl := lcorePlan{Lcore: l, Socket: socket(l), Queues: queues[i]}
		for _, q := range pl.Queues {
			if q.Port.Info.Socket != pl.Socket {
				warns = append(warns, numaWarning{Lcore: l, LcoreSocket: pl.Socket, Port: q.Port.Info.Name,
					PortSocket: q.Port.Info.Socket})
			}
		}
		plans = append(plans, pl)
	}
	return plans, warns
}
