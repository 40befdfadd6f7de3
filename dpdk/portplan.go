package dpdk

import "fmt"

// ParseTimestampMode parses a mode's name: auto, tsc or device.
func ParseTimestampMode(s string) (TimestampMode, error) {
	for m := TimestampAuto; m <= TimestampDevice; m++ {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%q: use auto, tsc or device", s)
}

// portDevice is what a device reports before it is touched: what
// planPort decides from, besides the PortSpec.
type portDevice struct {
	ID            uint16
	Name          string // DPDK's name for the port
	Driver        string
	Socket        int // rte_eth_dev_socket_id: negative when unknown
	MaxRxQueues   uint16
	MaxTxQueues   uint16
	MaxMTU        uint16 // 0: the device gives no maximum
	RxOffloadCapa uint64 // RTE_ETH_RX_OFFLOAD_* the device offers
	FlowTypeRSS   uint64 // RTE_ETH_RSS_* hash functions the device offers
	IfIndex       int    // the kernel interface (net_af_packet)
}

// portPlan is everything OpenPort applies to a device, decided before
// it touches it.
type portPlan struct {
	// Info is the PortInfo to report, but for RxDescriptors (the device
	// adjusts them once configured; a Note then says so).
	Info     PortInfo
	Offloads uint64 // RTE_ETH_RX_OFFLOAD_* to enable, on the port and each queue
	RSSHash  uint64 // RTE_ETH_RSS_* to hash on; 0: no RSS
	TSMode   uint8  // FC_TS_*: where the RX loop takes each packet's timestamp
	// PacketSockets: find the port's kernel packet sockets
	// (net_af_packet), to count the kernel's drops.
	PacketSockets bool
}

// planPort decides how to open a device for spec: the queues it can have,
// the MTU, scatter, the RSS hash, where timestamps come from. It touches
// nothing; its notes say where the device's limits changed what spec
// asked for, its error why the device cannot do what spec asks.
func planPort(spec PortSpec, dev portDevice) (portPlan, error) {
	info := PortInfo{
		ID:          dev.ID,
		Name:        dev.Name,
		Driver:      dev.Driver,
		Socket:      max(dev.Socket, 0),
		MaxRxQueues: dev.MaxRxQueues,
		RxQueues:    spec.RxQueues,
		TxQueues:    spec.TxQueues,
		MTU:         spec.MTU,
	}
	if info.RxQueues > info.MaxRxQueues {
		info.Notes = append(info.Notes, fmt.Sprintf("rx_queues clamped from %d to the device maximum %d", spec.RxQueues, info.MaxRxQueues))
		info.RxQueues = info.MaxRxQueues
	}
	if info.RxQueues == 0 && spec.RxQueues > 0 {
		return portPlan{}, fmt.Errorf("device has no rx queues")
	}
	if info.RxQueues == 0 && info.TxQueues == 0 {
		return portPlan{}, fmt.Errorf("neither rx nor tx queues asked for")
	}
	if info.TxQueues > dev.MaxTxQueues {
		return portPlan{}, fmt.Errorf("%d tx queues (one per RX lcore sending to it): the device has %d", info.TxQueues, dev.MaxTxQueues)
	}
	if spec.Tunnel != nil && info.RxQueues == 0 {
		return portPlan{}, fmt.Errorf("a tunnel receiver needs rx queues")
	}
	pl := portPlan{}
	if spec.MTU != 0 {
		if dev.MaxMTU != 0 && spec.MTU > dev.MaxMTU {
			info.Notes = append(info.Notes, fmt.Sprintf("mtu clamped from %d to the device maximum %d", spec.MTU, dev.MaxMTU))
			info.MTU = dev.MaxMTU
		}
		if dev.RxOffloadCapa&rxOffloadScatter != 0 {
			pl.Offloads |= rxOffloadScatter
			info.Scatter = true
		}
	}
	if spec.RSS && info.RxQueues > 1 {
		pl.RSSHash = rssHashWanted & dev.FlowTypeRSS
		if pl.RSSHash == 0 {
			info.Notes = append(info.Notes, "device offers no RSS hash; its queues are filled as the driver decides")
		}
	}
	info.RSSHashes = pl.RSSHash
	switch {
	case spec.Timestamp == TimestampDevice:
		if dev.RxOffloadCapa&rxOffloadTimestamp == 0 {
			return portPlan{}, fmt.Errorf("timestamp: device: the %s driver has no RX timestamp offload (use tsc)", info.Driver)
		}
		pl.Offloads |= rxOffloadTimestamp
		pl.TSMode, info.Timestamps = tsDevClock, "device-clock"
	case spec.Timestamp == TimestampAuto && info.Driver == "net_pcap":
		// net_pcap fills the RX timestamp dynfield with the file's
		// epoch microseconds without advertising the offload.
		pl.TSMode, info.Timestamps = tsDevUS, "device-us"
	default:
		pl.TSMode, info.Timestamps = tsTSC, "tsc"
	}
	pl.PacketSockets = info.Driver == "net_af_packet"
	pl.Info = info
	return pl, nil
}
