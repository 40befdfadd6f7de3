package dpdk

/*
#include <stdlib.h>
#include <string.h>
#include <rte_ethdev.h>
#include <rte_errno.h>
#include "fc.h"

static int fc_port_by_name(const char *name, uint16_t *id)
{
	return rte_eth_dev_get_port_by_name(name, id);
}

static int fc_port_name(uint16_t id, char *buf)
{
	return rte_eth_dev_get_name_by_port(id, buf);
}

static int fc_link_up(const struct rte_eth_link *l)
{
	return l->link_status == RTE_ETH_LINK_UP;
}

static int fc_port_configure(uint16_t port, uint16_t nb_rxq, uint16_t nb_txq, uint16_t mtu, uint64_t offloads,
		uint64_t rss_hf)
{
	struct rte_eth_conf conf;

	memset(&conf, 0, sizeof(conf));
	conf.rxmode.mtu = mtu;
	conf.rxmode.offloads = offloads;
	if (rss_hf != 0) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
	}
	return rte_eth_dev_configure(port, nb_rxq, nb_txq, &conf);
}

// Receives and frees whatever the port's queues hold, up to limit packets;
// adds the packets and their bytes to *n and *bytes.
static void fc_rx_discard(uint16_t port, uint16_t nb_q, uint64_t limit, uint64_t *n, uint64_t *bytes)
{
	struct rte_mbuf *b[64];
	uint16_t q, k, i;

	for (q = 0; q < nb_q; q++) {
		while (*n < limit && (k = rte_eth_rx_burst(port, q, b, 64)) > 0) {
			for (i = 0; i < k; i++)
				*bytes += b[i]->pkt_len;
			rte_pktmbuf_free_bulk(b, k);
			*n += k;
		}
	}
}

static int fc_rxq_setup(uint16_t port, uint16_t q, uint16_t nb_desc, int socket,
		uint64_t offloads, struct rte_mempool *mp)
{
	struct rte_eth_dev_info info;
	struct rte_eth_rxconf rxconf;
	int rc = rte_eth_dev_info_get(port, &info);

	if (rc != 0)
		return rc;
	rxconf = info.default_rxconf;
	rxconf.offloads = offloads;
	return rte_eth_rx_queue_setup(port, q, nb_desc, socket, &rxconf, mp);
}

static uint16_t fc_port_mtu(uint16_t port)
{
	uint16_t mtu = 0;

	rte_eth_dev_get_mtu(port, &mtu);
	return mtu;
}
*/
import "C"

import (
	"fmt"
	"strconv"
	"unsafe"
)

// TimestampMode says where a port's packet timestamps come from.
type TimestampMode int

const (
	// TimestampAuto uses the device's timestamps where the driver is
	// known to fill them with wall-clock time (net_pcap: the file's own
	// microseconds), else the TSC.
	TimestampAuto TimestampMode = iota
	// TimestampTSC stamps every packet from the TSC at receive.
	TimestampTSC
	// TimestampDevice enables the device's RX timestamp offload and maps
	// its clock to wall-clock time. Fails on devices without it.
	TimestampDevice
)

func (m TimestampMode) String() string {
	return [...]string{"auto", "tsc", "device"}[m]
}

// PortSpec describes how to open one ethdev port for capture.
type PortSpec struct {
	Name          string // PCI address or vdev name, as DPDK names the port
	RxQueues      uint16
	RxDescriptors uint16
	MTU           uint16 // 0: the device's default
	Promiscuous   bool
	RSS           bool
	Timestamp     TimestampMode
	// TxQueues are the port's transmit queues, for outputs (one per RX
	// lcore); 0: receive only. A port with TxQueues may have no
	// RxQueues: it only transmits.
	TxQueues      uint16
	TxDescriptors uint16 // 0: 1024
	// Tunnel, if set, makes the port a tunnel receiver: only that
	// tunnel's packets are captured, as the frames they carry.
	Tunnel *TunnelIn
	// Mempool for the port's socket. PoolFor picks one per socket.
	PoolFor func(socket int) (*Mempool, error)
}

// PortInfo is what the device reported and what was applied.
type PortInfo struct {
	ID            uint16
	Name          string
	Driver        string
	Socket        int
	MaxRxQueues   uint16
	RxQueues      uint16 // after clamping to MaxRxQueues
	RxDescriptors uint16 // after the device's limits
	TxQueues      uint16
	TxDescriptors uint16 // after the device's limits
	MTU           uint16
	RSSHashes     uint64 // RSS hash functions enabled, 0 if none
	Scatter       bool
	Timestamps    string // "tsc", "device-us", "device-clock"
	Notes         []string
}

// Port is a started ethdev port.
type Port struct {
	Info    PortInfo
	tsMode  C.uint8_t
	clock   *C.struct_fc_clock
	tin     *C.struct_fc_tunnel_in // spec.Tunnel's, read by the RX lcores
	stopped bool
	closed  bool
	// sockets are a net_af_packet port's kernel packet sockets, nil for
	// other drivers or when they could not be found (then a Note says so).
	sockets *packetSockets
	// discarded: packets and bytes DiscardQueued took, left out of Stats.
	discarded, discardedBytes uint64
}

// PortNames lists the ports DPDK probed, by name.
func PortNames() []string {
	var names []string
	var buf [C.RTE_ETH_NAME_MAX_LEN]C.char
	for id := C.rte_eth_find_next_owned_by(0, C.RTE_ETH_DEV_NO_OWNER); id < C.RTE_MAX_ETHPORTS; id = C.rte_eth_find_next_owned_by(C.uint16_t(id+1), C.RTE_ETH_DEV_NO_OWNER) {
		if C.fc_port_name(C.uint16_t(id), &buf[0]) == 0 {
			names = append(names, C.GoString(&buf[0]))
		}
	}
	return names
}

// OpenPort configures and starts a port for receive only.
func OpenPort(spec PortSpec) (*Port, error) {
	p, err := openPort(spec)
	if err != nil {
		return nil, fmt.Errorf("port %s: %w", spec.Name, err)
	}
	return p, nil
}

// The DPDK flags planPort decides with, as Go constants.
const (
	rxOffloadScatter   = uint64(C.RTE_ETH_RX_OFFLOAD_SCATTER)
	rxOffloadTimestamp = uint64(C.RTE_ETH_RX_OFFLOAD_TIMESTAMP)
	rssHashWanted      = uint64(C.RTE_ETH_RSS_IP | C.RTE_ETH_RSS_TCP | C.RTE_ETH_RSS_UDP)
	tsTSC              = uint8(C.FC_TS_TSC)
	tsDevUS            = uint8(C.FC_TS_DEV_US)
	tsDevClock         = uint8(C.FC_TS_DEV_CLOCK)
)

// openPort reads the device, plans (planPort), gets the pool, then
// applies the plan. The pool comes before the device is touched, so a
// pool that cannot be made leaves the device as it was.
func openPort(spec PortSpec) (*Port, error) {
	takeLastErr()
	dev, err := readDevice(spec.Name)
	if err != nil {
		return nil, err
	}
	plan, err := planPort(spec, dev)
	if err != nil {
		return nil, err
	}
	pool, err := spec.PoolFor(plan.Info.Socket)
	if err != nil {
		return nil, err
	}
	// Not started yet: Close then only closes.
	p := &Port{Info: plan.Info, tsMode: C.uint8_t(plan.TSMode), stopped: true}
	id := C.uint16_t(p.Info.ID)
	if spec.Tunnel != nil {
		if p.tin, err = spec.Tunnel.cStruct(); err != nil {
			return nil, err
		}
	}
	if err := rc(C.fc_port_configure(id, C.uint16_t(p.Info.RxQueues), C.uint16_t(p.Info.TxQueues), C.uint16_t(p.Info.MTU), C.uint64_t(plan.Offloads),
		C.uint64_t(plan.RSSHash))); err != nil {
		// rte_eth_dev_configure puts back the device's configuration
		// when it fails: nothing to undo.
		p.freeTunnel()
		return nil, fmt.Errorf("configure %d rx and %d tx queues: %w", p.Info.RxQueues, p.Info.TxQueues, flushLogErr(err))
	}
	// From here on the device holds this configuration: on any error,
	// Close undoes what was done (stop if started, close, free the
	// clock).
	if err := p.bringUp(spec, plan, pool); err != nil {
		if cerr := p.Close(); cerr != nil {
			err = fmt.Errorf("%w (closing the port: %v)", err, cerr)
		}
		return nil, err
	}
	if plan.PacketSockets {
		p.findSockets(dev.IfIndex)
	}
	C.fc_devts_lookup()
	return p, nil
}

// readDevice finds a port by name and reads what it offers.
func readDevice(name string) (portDevice, error) {
	id, err := portID(name)
	if err != nil {
		return portDevice{}, err
	}
	var di C.struct_rte_eth_dev_info
	if err := rc(C.rte_eth_dev_info_get(id, &di)); err != nil {
		return portDevice{}, fmt.Errorf("device info: %w", err)
	}
	return portDevice{
		ID:            uint16(id),
		Name:          portName(id, name),
		Driver:        C.GoString(di.driver_name),
		Socket:        int(C.rte_eth_dev_socket_id(id)),
		MaxRxQueues:   uint16(di.max_rx_queues),
		MaxTxQueues:   uint16(di.max_tx_queues),
		MaxMTU:        uint16(di.max_mtu),
		RxOffloadCapa: uint64(di.rx_offload_capa),
		FlowTypeRSS:   uint64(di.flow_type_rss_offloads),
		IfIndex:       int(di.if_index),
	}, nil
}

// bringUp applies the rest of a plan to a configured device: descriptors,
// queues, start, promiscuous mode, the device clock. On error the caller
// closes the port.
func (p *Port) bringUp(spec PortSpec, plan portPlan, pool *Mempool) error {
	id := C.uint16_t(p.Info.ID)
	nbDesc := C.uint16_t(spec.RxDescriptors)
	nbTx := C.uint16_t(spec.TxDescriptors)
	if nbTx == 0 {
		nbTx = 1024
	}
	if err := rc(C.rte_eth_dev_adjust_nb_rx_tx_desc(id, &nbDesc, &nbTx)); err != nil {
		return fmt.Errorf("adjust descriptors: %w", err)
	}
	p.Info.RxDescriptors = uint16(nbDesc)
	if p.Info.RxDescriptors != spec.RxDescriptors {
		p.Info.Notes = append(p.Info.Notes, fmt.Sprintf("rx_descriptors adjusted from %d to %d by the device", spec.RxDescriptors, nbDesc))
	}
	for q := C.uint16_t(0); q < C.uint16_t(p.Info.RxQueues); q++ {
		if err := rc(C.fc_rxq_setup(id, q, nbDesc, C.int(p.Info.Socket), C.uint64_t(plan.Offloads), pool.mp)); err != nil {
			return fmt.Errorf("set up rx queue %d: %w", q, flushLogErr(err))
		}
	}
	for q := C.uint16_t(0); q < C.uint16_t(p.Info.TxQueues); q++ {
		if err := rc(C.rte_eth_tx_queue_setup(id, q, nbTx, C.uint(max(p.Info.Socket, 0)), nil)); err != nil {
			return fmt.Errorf("set up tx queue %d: %w", q, flushLogErr(err))
		}
	}
	if p.Info.TxQueues > 0 {
		p.Info.TxDescriptors = uint16(nbTx)
	}
	if err := rc(C.rte_eth_dev_start(id)); err != nil {
		return fmt.Errorf("start: %w", flushLogErr(err))
	}
	p.stopped = false
	if m := uint16(C.fc_port_mtu(id)); p.Info.MTU == 0 {
		p.Info.MTU = m
	}
	if spec.Promiscuous && p.Info.RxQueues > 0 {
		if err := rc(C.rte_eth_promiscuous_enable(id)); err != nil && !isNotSup(err) {
			return fmt.Errorf("enable promiscuous mode: %w", err)
		} else if err != nil {
			p.Info.Notes = append(p.Info.Notes, "promiscuous mode not supported by the driver")
		}
	}
	if p.tsMode == C.FC_TS_DEV_CLOCK {
		p.clock = (*C.struct_fc_clock)(C.calloc(1, C.sizeof_struct_fc_clock))
		var ticks, ns C.uint64_t
		if err := rc(C.fc_dev_sample(id, &ticks, &ns)); err != nil {
			return fmt.Errorf("timestamp: device: read device clock: %w", err)
		}
		// The device clock's rate is learnt from the second anchor on;
		// nominal 1 GHz until then (most NICs count nanoseconds).
		C.fc_clock_init(p.clock, ticks, ns, 1000000000)
	}
	return nil
}

// findSockets finds the kernel packet sockets of a net_af_packet port,
// whose drops the driver does not report. Without them the port still
// captures, and a Note says its kernel drops are not counted.
func (p *Port) findSockets(ifindex int) {
	s, err := findPacketSockets(ifindex)
	if err != nil {
		p.Info.Notes = append(p.Info.Notes, fmt.Sprintf("the kernel's drops on this port are NOT counted: interface index %d: %v", ifindex, err))
		return
	}
	if len(s.fds) != int(p.Info.MaxRxQueues) {
		p.Info.Notes = append(p.Info.Notes, fmt.Sprintf("%d packet sockets on interface index %d for %d queues: "+
			"another net_af_packet port on the same interface? its kernel drops are counted here", len(s.fds), ifindex, p.Info.MaxRxQueues))
	}
	p.sockets = s
}

// portID finds a port by name, or by its DPDK port id when the name is a
// decimal number (Metron's port masks name ports by id).
func portID(name string) (C.uint16_t, error) {
	if n, err := strconv.ParseUint(name, 10, 16); err == nil {
		if C.rte_eth_dev_is_valid_port(C.uint16_t(n)) == 0 {
			return 0, fmt.Errorf("port id %d: %w (ports found: %v)", n, ErrPortNotFound, PortNames())
		}
		return C.uint16_t(n), nil
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var id C.uint16_t
	if C.fc_port_by_name(cname, &id) != 0 {
		return 0, fmt.Errorf("%w (ports found: %v)", ErrPortNotFound, PortNames())
	}
	return id, nil
}

// portName is DPDK's name for a port, or fallback.
func portName(id C.uint16_t, fallback string) string {
	var buf [C.RTE_ETH_NAME_MAX_LEN]C.char
	if C.fc_port_name(id, &buf[0]) != 0 {
		return fallback
	}
	return C.GoString(&buf[0])
}

func isNotSup(err error) bool {
	e, ok := err.(Errno)
	return ok && (e == Errno(C.ENOTSUP) || e == Errno(C.ENOSYS))
}

// AnchorClock re-anchors a device clock (timestamp mode device). It does
// nothing for other ports.
func (p *Port) AnchorClock() error {
	if p.clock == nil {
		return nil
	}
	var ticks, ns C.uint64_t
	if err := rc(C.fc_dev_sample(C.uint16_t(p.Info.ID), &ticks, &ns)); err != nil {
		return fmt.Errorf("port %s: read device clock: %w", p.Info.Name, err)
	}
	C.fc_clock_anchor(p.clock, ticks, ns)
	return nil
}

// LinkUp reports whether the port's link is up, without waiting.
func (p *Port) LinkUp() bool {
	var l C.struct_rte_eth_link
	if C.rte_eth_link_get_nowait(C.uint16_t(p.Info.ID), &l) != 0 {
		return false
	}
	return C.fc_link_up(&l) != 0
}

// DiscardQueued empties a net_af_packet port's packet rings of the frames
// that arrived before capture starts, and starts the kernel's counts from
// now. It returns the frames it discarded; for other drivers it does
// nothing. Call it once, after Start-up and before any RX lcore polls the
// port.
//
// The driver opens and sets up its sockets before binding them to the
// interface, so frames of every interface of the host can be in the
// rings; and what arrived before the capture began, ring overflow
// included, is not the capture's to deliver or lose.
func (p *Port) DiscardQueued() uint64 {
	if p.Info.Driver != "net_af_packet" {
		return 0
	}
	var n, bytes C.uint64_t
	C.fc_rx_discard(C.uint16_t(p.Info.ID), C.uint16_t(p.Info.RxQueues), 1<<20, &n, &bytes)
	p.discarded += uint64(n)
	p.discardedBytes += uint64(bytes)
	if p.sockets != nil {
		p.sockets.reset()
	}
	return uint64(n)
}

// PortStats are the device's own counters.
type PortStats struct {
	Packets uint64 // ipackets
	Bytes   uint64 // ibytes
	Missed  uint64 // imissed: dropped by the device, no descriptor free
	Errors  uint64 // ierrors
	NoMbuf  uint64 // rx_nombuf: mbuf allocation failures
	// What the device transmitted (outputs): opackets, obytes, and
	// oerrors, the frames it accepted and failed to send (net_af_packet:
	// over its frame size).
	OPackets, OBytes, OErrors uint64
	// The kernel's counts on a net_af_packet port's packet sockets (0
	// elsewhere), from the probe until the port stopped: frames that
	// reached the sockets, and of those the ones dropped because the
	// socket's ring was full.
	KernelPackets uint64
	KernelDrops   uint64
}

// Stats reads the device's counters.
func (p *Port) Stats() (PortStats, error) {
	var s C.struct_rte_eth_stats
	if err := rc(C.rte_eth_stats_get(C.uint16_t(p.Info.ID), &s)); err != nil {
		return PortStats{}, fmt.Errorf("port %s: stats: %w", p.Info.Name, err)
	}
	st := PortStats{Packets: uint64(s.ipackets) - p.discarded, Bytes: uint64(s.ibytes) - p.discardedBytes, Missed: uint64(s.imissed),
		Errors: uint64(s.ierrors), NoMbuf: uint64(s.rx_nombuf), OPackets: uint64(s.opackets), OBytes: uint64(s.obytes),
		OErrors: uint64(s.oerrors)}
	if p.sockets != nil {
		var err error
		if st.KernelPackets, st.KernelDrops, err = p.sockets.read(); err != nil {
			return st, fmt.Errorf("port %s: %w", p.Info.Name, err)
		}
	}
	return st, nil
}

// Stop stops the device; mbufs it still holds for receive are released on
// Close. Stats stay readable, and from then on do not change.
func (p *Port) Stop() error {
	if p.stopped {
		return nil
	}
	p.stopped = true
	if p.sockets != nil {
		p.sockets.close() // net_af_packet's dev_stop closes them
	}
	return rc(C.rte_eth_dev_stop(C.uint16_t(p.Info.ID)))
}

// Close stops and closes the port, returning its mbufs to their pool. A
// second Close does nothing.
func (p *Port) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	err := p.Stop()
	if cerr := rc(C.rte_eth_dev_close(C.uint16_t(p.Info.ID))); err == nil {
		err = cerr
	}
	if p.clock != nil {
		C.free(unsafe.Pointer(p.clock))
		p.clock = nil
	}
	p.freeTunnel()
	return err
}

// freeTunnel frees the tunnel receiver; the RX lcores must have stopped.
func (p *Port) freeTunnel() {
	if p.tin != nil {
		C.free(unsafe.Pointer(p.tin))
		p.tin = nil
	}
}
