package dpdk

import (
	"reflect"
	"testing"
)

func TestParseTimestampMode(t *testing.T) {
	for _, m := range []TimestampMode{TimestampAuto, TimestampTSC, TimestampDevice} {
		if got, err := ParseTimestampMode(m.String()); err != nil || got != m {
			t.Errorf("ParseTimestampMode(%q) = %v, %v; want %v", m.String(), got, err, m)
		}
	}
	for _, s := range []string{"", "TSC", "ptp", "auto "} {
		if _, err := ParseTimestampMode(s); err == nil {
			t.Errorf("ParseTimestampMode(%q): want an error", s)
		}
	}
}

// TestPlanPort: what OpenPort will apply, decided from the spec and what
// the device offers, before the device is touched.
func TestPlanPort(t *testing.T) {
	nic := portDevice{ID: 3, Name: "0000:01:00.0", Driver: "net_ice", Socket: 1, MaxRxQueues: 64, MaxMTU: 9702,
		RxOffloadCapa: rxOffloadScatter | rxOffloadTimestamp, FlowTypeRSS: ^uint64(0), IfIndex: 7}
	pcapDev := portDevice{ID: 0, Name: "net_pcap0", Driver: "net_pcap", Socket: -1, MaxRxQueues: 1}
	afp := portDevice{ID: 1, Name: "net_af_packet0", Driver: "net_af_packet", Socket: 0, MaxRxQueues: 4, MaxMTU: 1500, IfIndex: 9}
	spec := func(queues, mtu uint16, rss bool, ts TimestampMode) PortSpec {
		return PortSpec{RxQueues: queues, RxDescriptors: 1024, MTU: mtu, RSS: rss, Timestamp: ts}
	}
	for _, tc := range []struct {
		name string
		spec PortSpec
		dev  portDevice
		want portPlan
		err  string
	}{
		{"nic, rss over 4 queues, jumbo, device clock", spec(4, 9000, true, TimestampDevice), nic, portPlan{
			Info: PortInfo{ID: 3, Name: "0000:01:00.0", Driver: "net_ice", Socket: 1, MaxRxQueues: 64, RxQueues: 4, MTU: 9000,
				RSSHashes: rssHashWanted, Scatter: true, Timestamps: "device-clock"},
			Offloads: rxOffloadScatter | rxOffloadTimestamp, RSSHash: rssHashWanted, TSMode: tsDevClock}, ""},
		{"nic, one queue: no rss", spec(1, 0, true, TimestampAuto), nic, portPlan{
			Info: PortInfo{ID: 3, Name: "0000:01:00.0", Driver: "net_ice", Socket: 1, MaxRxQueues: 64, RxQueues: 1,
				Timestamps: "tsc"},
			TSMode: tsTSC}, ""},
		{"nic, rss off", spec(2, 0, false, TimestampTSC), nic, portPlan{
			Info: PortInfo{ID: 3, Name: "0000:01:00.0", Driver: "net_ice", Socket: 1, MaxRxQueues: 64, RxQueues: 2,
				Timestamps: "tsc"},
			TSMode: tsTSC}, ""},
		{"nic, mtu clamped", spec(1, 16000, false, TimestampTSC), nic, portPlan{
			Info: PortInfo{ID: 3, Name: "0000:01:00.0", Driver: "net_ice", Socket: 1, MaxRxQueues: 64, RxQueues: 1, MTU: 9702,
				Scatter: true, Timestamps: "tsc", Notes: []string{"mtu clamped from 16000 to the device maximum 9702"}},
			Offloads: rxOffloadScatter, TSMode: tsTSC}, ""},
		{"pcap: queues clamped, socket unknown, file's timestamps", spec(4, 0, true, TimestampAuto), pcapDev, portPlan{
			Info: PortInfo{Name: "net_pcap0", Driver: "net_pcap", MaxRxQueues: 1, RxQueues: 1, Timestamps: "device-us",
				Notes: []string{"rx_queues clamped from 4 to the device maximum 1"}},
			TSMode: tsDevUS}, ""},
		{"pcap, tsc asked", spec(1, 0, true, TimestampTSC), pcapDev, portPlan{
			Info:   PortInfo{Name: "net_pcap0", Driver: "net_pcap", MaxRxQueues: 1, RxQueues: 1, Timestamps: "tsc"},
			TSMode: tsTSC}, ""},
		{"af_packet: no rss hash offered, sockets", spec(4, 0, true, TimestampAuto), afp, portPlan{
			Info: PortInfo{ID: 1, Name: "net_af_packet0", Driver: "net_af_packet", MaxRxQueues: 4, RxQueues: 4, Timestamps: "tsc",
				Notes: []string{"device offers no RSS hash; its queues are filled as the driver decides"}},
			TSMode: tsTSC, PacketSockets: true}, ""},
		{"af_packet: mtu without scatter", spec(1, 1400, false, TimestampAuto), afp, portPlan{
			Info: PortInfo{ID: 1, Name: "net_af_packet0", Driver: "net_af_packet", MaxRxQueues: 4, RxQueues: 1, MTU: 1400,
				Timestamps: "tsc"},
			TSMode: tsTSC, PacketSockets: true}, ""},
		{"device timestamps without the offload", spec(1, 0, false, TimestampDevice), pcapDev, portPlan{},
			"timestamp: device: the net_pcap driver has no RX timestamp offload (use tsc)"},
		{"no rx queue", spec(1, 0, false, TimestampAuto), portDevice{Driver: "net_null"}, portPlan{}, "device has no rx queues"},
	} {
		got, err := planPort(tc.spec, tc.dev)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}
