package pipeline

import (
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
	// Mempool sizes the pool of each NUMA socket in use; Start names
	// each one and sets its socket.
	Mempool dpdk.MempoolSpec
	// Filter, if set, is the capture filter every RX lcore runs over
	// each burst before its ring (libpcap's program for a tcpdump
	// expression); what it rejects is counted Filtered and freed.
	Filter *dpdk.FilterSpec
	// Snaplen, if above 0, is the most bytes of a frame sent to Kafka;
	// a longer frame is cut and its wire length sent beside it (the
	// orig_len record header).
	Snaplen int
	Kafka   KafkaSpec
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
}

// KafkaSpec is where packets go: every worker's producer is made from it.
type KafkaSpec struct {
	Topic string
	// KeyUnit is the unit of the timestamp in a message key: a
	// nanosecond, microsecond or millisecond.
	KeyUnit          time.Duration
	Properties       map[string]string // librdkafka's, bootstrap.servers included
	QueueFullTimeout time.Duration
	// StatsFile, if set, gets librdkafka's JSON statistics appended.
	StatsFile string
}
