package pipeline

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/fastcapa-go/fastcapa/dpdk"
)

func TestChooseRxLcores(t *testing.T) {
	eal := dpdk.EALInfo{MainLcore: 0, Workers: []uint{1, 2, 3}}
	for _, tc := range []struct {
		name   string
		want   []uint
		eal    dpdk.EALInfo
		out    []uint
		errHas string
	}{
		{"every worker", nil, eal, []uint{1, 2, 3}, ""},
		{"chosen", []uint{3, 1}, eal, []uint{3, 1}, ""},
		{"main lcore", []uint{0}, eal, nil, "capture.rx_lcores: lcore 0 is not an EAL worker lcore (workers: [1 2 3])"},
		{"not in eal", []uint{1, 7}, eal, nil, "lcore 7 is not"},
		{"no worker", nil, dpdk.EALInfo{MainLcore: 4}, nil, `eal.lcores "4" has no worker lcore besides the main one 4`},
	} {
		got, err := chooseRxLcores(tc.want, tc.eal, fmt.Sprint(tc.eal.MainLcore))
		switch {
		case tc.errHas != "" && (err == nil || !strings.Contains(err.Error(), tc.errHas)):
			t.Errorf("%s: error %v, want one with %q", tc.name, err, tc.errHas)
		case tc.errHas == "" && (err != nil || !reflect.DeepEqual(got, tc.out)):
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.out)
		}
	}
}

// TestPlanLcores: queues go round robin over the lcores, port by port; an
// lcore without a queue gets no plan; each queue whose port is on
// another socket than its lcore gives a warning.
func TestPlanLcores(t *testing.T) {
	port := func(name string, queues uint16, socket int) *dpdk.Port {
		return &dpdk.Port{Info: dpdk.PortInfo{Name: name, RxQueues: queues, Socket: socket}}
	}
	a, b, c := port("a", 3, 0), port("b", 1, 1), port("c", 2, 0)
	onSocket := func(sockets map[uint]int) func(uint) int { return func(l uint) int { return sockets[l] } }
	q := func(p *dpdk.Port, n uint16) dpdk.RxQueue { return dpdk.RxQueue{Port: p, Queue: n} }
	for _, tc := range []struct {
		name    string
		ports   []*dpdk.Port
		lcores  []uint
		sockets map[uint]int
		plans   []lcorePlan
		warns   []numaWarning
	}{
		{"one lcore takes all", []*dpdk.Port{a, b}, []uint{1}, map[uint]int{1: 0},
			[]lcorePlan{{1, 0, []dpdk.RxQueue{q(a, 0), q(a, 1), q(a, 2), q(b, 0)}}},
			[]numaWarning{{1, 0, "b", 1}}},
		{"round robin across ports", []*dpdk.Port{a, b, c}, []uint{1, 2, 3}, map[uint]int{1: 0, 2: 0, 3: 0},
			[]lcorePlan{
				{1, 0, []dpdk.RxQueue{q(a, 0), q(b, 0)}},
				{2, 0, []dpdk.RxQueue{q(a, 1), q(c, 0)}},
				{3, 0, []dpdk.RxQueue{q(a, 2), q(c, 1)}},
			},
			[]numaWarning{{1, 0, "b", 1}}},
		{"more lcores than queues", []*dpdk.Port{b}, []uint{4, 5, 6}, map[uint]int{4: 1, 5: 1, 6: 0},
			[]lcorePlan{{4, 1, []dpdk.RxQueue{q(b, 0)}}}, nil},
		{"every queue of a port across sockets", []*dpdk.Port{c}, []uint{7}, map[uint]int{7: 1},
			[]lcorePlan{{7, 1, []dpdk.RxQueue{q(c, 0), q(c, 1)}}},
			[]numaWarning{{7, 1, "c", 0}, {7, 1, "c", 0}}},
		{"no port", nil, []uint{1}, map[uint]int{1: 0}, nil, nil},
		{"no lcore", []*dpdk.Port{a}, nil, nil, nil, nil},
	} {
		plans, warns := planLcores(tc.ports, tc.lcores, onSocket(tc.sockets))
		if !reflect.DeepEqual(plans, tc.plans) {
			t.Errorf("%s: plans %+v, want %+v", tc.name, plans, tc.plans)
		}
		if !reflect.DeepEqual(warns, tc.warns) {
			t.Errorf("%s: warnings %+v, want %+v", tc.name, warns, tc.warns)
		}
	}
}
