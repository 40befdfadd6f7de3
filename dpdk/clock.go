package dpdk

/*
#include <rte_cycles.h>
#include "fc.h"
*/
import "C"

// startClock anchors the TSC clock to CLOCK_REALTIME at the nominal TSC
// rate. AnchorClock refines it.
func startClock() {
	var tsc, ns C.uint64_t
	C.fc_tsc_sample(&tsc, &ns)
	C.fc_clock_init(&C.fc_tsc_clock, tsc, ns, C.rte_get_tsc_hz())
}

// AnchorClock re-anchors the TSC-to-wall-clock map at the current
// instant and refines its rate against the first anchor, so stamps follow
// CLOCK_REALTIME without drifting. Call it about once a second; RX lcores
// keep reading the map while it changes.
func AnchorClock() {
	var tsc, ns C.uint64_t
	C.fc_tsc_sample(&tsc, &ns)
	C.fc_clock_anchor(&C.fc_tsc_clock, tsc, ns)
}

// ClockNow is the current time in wall-clock nanoseconds as the RX
// lcores compute it from the TSC.
func ClockNow() uint64 { return uint64(C.fc_clock_ns(&C.fc_tsc_clock, C.rte_rdtsc())) }
