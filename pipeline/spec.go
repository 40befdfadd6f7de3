package pipeline

import (
	"fmt"
	"time"

	"github.com/fastcapa-go/fastcapa/dpdk"
)

// Spec is a whole capture, every value already decoded and checked
// (config.Config.Spec builds it from the YAML or the command line).
type Spec struct {
	EAL   EALSpec
	Ports []PortSpec
	// RxLcores are the lcores that poll; empty: every EAL worker lcore.
	RxLcores []uint
	// Burst is what an RX lcore takes from a queue at once, WorkerBurst
	// what a worker takes from its ring.
	Burst          uint16
	WorkerBurst    int
	RingSize       uint32
	WorkersPerRing int
	// IdleAfter empty polls in a row make an RX lcore sleep between
	// polls, up to IdleSleep, until a packet comes; 0: busy polling.
	IdleAfter uint32
	IdleSleep time.Duration
	// Mempool sizes the pool of each NUMA socket in use; Start names
	// each one and sets its socket.
	Mempool dpdk.MempoolSpec
	// Routes are where packets go: each packet is offered to every
	// route, and sent once for each route that keeps it. At least one;
	// at most dpdk.MaxRoutes, each with its own topic.
	Routes []RouteSpec
	// Decap shows the routes' filters the innermost packet (VLAN, MPLS
	// and tunnels removed); SendInner sends that inner packet instead of
	// the frame.
	Decap, SendInner bool
	// Outputs send the kept packets of their routes to TX ports, from
	// the RX lcores, beside Kafka (a tap's replication, aggregation and
	// tunnels).
	Outputs []OutputSpec
	// OutputMbufs sizes the pool of the outputs' header and clone mbufs;
	// 0: enough for every output's TX descriptors twice over.
	OutputMbufs uint32
	Kafka       KafkaSpec
	// StatsInterval is how often Run logs live stats; 0: never.
	StatsInterval time.Duration
	// FlushTimeout bounds the producers' flush in Stop.
	FlushTimeout time.Duration
}

// EALSpec is how DPDK's environment starts.
type EALSpec struct {
	Args []string // rte_eal_init's arguments, the added vdev arguments included
	// Lcores is eal.lcores as given, for messages.
	Lcores string
	// VdevChoices are the vdev arguments fastcapa added to Args, logged
	// at start.
	VdevChoices []VdevChoice
}

// VdevChoice is what fastcapa added to a vdev's arguments, and why.
type VdevChoice struct {
	Vdev  string // the vdev's name, e.g. net_af_packet0
	Added string // the arguments added, e.g. "framecnt=32768"
	Why   string
}

// PortSpec is one port to capture from. Start sets the dpdk.PortSpec's
// PoolFor.
type PortSpec struct {
	dpdk.PortSpec
	// Optional ports that do not exist are skipped with a warning.
	Optional bool
	// VLAN is the tag outputs that insert one put in the frames this
	// port received (the TCI; 0: none).
	VLAN uint16
	// Output: the port is an output's (Start gives it a TX queue per RX
	// lcore); with RxQueues 0 it only transmits.
	Output bool
}

// OutputSpec is one output: a dpdk.OutputSpec whose port is named, not
// open yet.
type OutputSpec struct {
	dpdk.OutputSpec
	PortName string
}

// RouteSpec is one route: which packets (decided on the RX lcore, before
// the ring) and how they are sent.
type RouteSpec struct {
	Name string
	// Filter, if set, is what the route keeps (libpcap's program for a
	// tcpdump expression); nil: every packet.
	Filter *dpdk.FilterSpec
	// Unmatched routes keep what no other route's filter matched.
	Unmatched bool
	// Every keeps 1 in Every matched packets, Fraction each with that
	// probability; neither: all.
	Every    uint32
	Fraction float64

	Topic string
	// KeyUnit is the unit of the timestamp in a message key: a
	// nanosecond, microsecond or millisecond.
	KeyUnit time.Duration
	// Snaplen, if above 0, is the most bytes of a frame sent; a longer
	// frame is cut and its wire length sent beside it (the orig_len
	// record header).
	Snaplen int
	// Partitioner chooses each message's partition; Partitions, for
	// PartitionFlow and PartitionRoundRobin, is the topic's partition
	// count (0: asked of the broker at start).
	Partitioner Partitioner
	Partitions  int
}

// Partitioner is how a route's messages are spread over its topic's
// partitions.
type Partitioner int

const (
	// PartitionKey leaves it to librdkafka's partitioner, on the key
	// (the timestamp): Metron's behaviour.
	PartitionKey Partitioner = iota
	// PartitionFlow puts both directions of a conversation on one
	// partition: the packet's symmetric 5-tuple hash (inner tuple for
	// tunnels, computed on the RX lcore) modulo the partition count.
	PartitionFlow
	// PartitionRoundRobin cycles each worker through the partitions.
	PartitionRoundRobin
)

var partitionerNames = []string{"key", "flow", "round_robin"}

func (p Partitioner) String() string { return partitionerNames[p] }

// ParsePartitioner reads a partitioner's name: key, flow, round_robin.
func ParsePartitioner(s string) (Partitioner, error) {
	for i, n := range partitionerNames {
		if s == n {
			return Partitioner(i), nil
		}
	}
	return 0, fmt.Errorf("partitioner %q: use key, flow or round_robin", s)
}

// KafkaSpec is how the producers reach Kafka: every worker's producer is
// made from it and the routes.
type KafkaSpec struct {
	Properties       map[string]string // librdkafka's, bootstrap.servers included
	QueueFullTimeout time.Duration
	// StatsFile, if set, gets librdkafka's JSON statistics appended.
	StatsFile string
	// Disabled runs without Kafka (fluxcap's job): no rings, workers or
	// producers; what the routes keep goes to the outputs only and is
	// then freed, counted Released.
	Disabled bool
}
