package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/fastcapa-go/fastcapa/dpdk"
	"github.com/fastcapa-go/fastcapa/kafka"
)

// ErrStartup marks errors in configuration or start-up, as opposed to
// loss while running.
var ErrStartup = errors.New("start-up")

// Capture is a running capture daemon: EAL, ports, RX lcores, rings,
// workers and producers.
type Capture struct {
	spec  Spec
	log   *slog.Logger
	eal   dpdk.EALInfo
	pools map[int]*dpdk.Mempool
	ports []*dpdk.Port
	// portNames are the ports' names as their specs gave them (an id,
	// or a name DPDK spells otherwise).
	portNames []string
	rings     []*dpdk.Ring
	rx        []*dpdk.RxLcore
	filters   []*dpdk.Filter // the routes' filters, shared by every RX lcore; closed after them
	routes    *dpdk.Routes
	outputs   *dpdk.Outputs // nil without outputs; closed after the RX lcores
	outPool   *dpdk.Mempool // the outputs' header and clone mbufs
	workers   []*Worker
	prods     []*kafka.Producer // prods[i] is workers[i]'s
	rxStop    chan struct{}
	// ringLcore names each ring by the RX lcore that fills it.
	ringLcore map[*dpdk.Ring]uint

	// mu keeps readers (Report, Ready: metrics scrapes) off the C
	// objects while Stop frees them; final is the report from then on.
	mu      sync.RWMutex
	final   *Report
	wg      sync.WaitGroup
	workErr chan error
	stopped bool

	statsFile *kafka.StatsFile // kafka.stats_file; closed after the producers
	stats     io.Writer        // statsFile, or nil
}

func startupErr(err error) error { return fmt.Errorf("%w: %w", ErrStartup, err) }

// Start brings the whole path up, last stage first: producers, then
// workers, then the RX lcores, so no packet waits on a stage not yet
// there. On error everything started is torn down again, and the error
// is an ErrStartup.
func Start(spec Spec, log *slog.Logger) (*Capture, error) {
	c := &Capture{spec: spec, log: log, pools: map[int]*dpdk.Mempool{}, rxStop: make(chan struct{}),
		ringLcore: map[*dpdk.Ring]uint{}}
	if err := c.start(); err != nil {
		c.teardown()
		return nil, startupErr(err)
	}
	return c, nil
}

// start runs the start-up steps in order. Each adds what it makes to c,
// so that on error teardown, the one cleanup path, releases exactly that.
func (c *Capture) start() error {
	dpdk.SetLogger(c.log)
	// What can be checked without a device is checked first.
	if err := c.openKafkaStats(); err != nil {
		return err
	}
	lcores, err := c.initEAL()
	if err != nil {
		return err
	}
	if err := c.openPorts(len(lcores)); err != nil {
		return err
	}
	plans, warns := planLcores(c.ports, lcores, dpdk.LcoreSocket)
	for _, w := range warns {
		c.log.Warn("rx lcore on another NUMA socket than its port", "lcore", w.Lcore, "lcore_socket", w.LcoreSocket,
			"port", w.Port, "port_socket", w.PortSocket)
	}
	if err := c.loadRoutes(); err != nil {
		return err
	}
	if err := c.makeOutputs(len(plans)); err != nil {
		return err
	}
	if err := c.makeRxLcores(plans); err != nil {
		return err
	}
	if err := c.makeWorkers(); err != nil {
		return err
	}
	c.runWorkers()
	c.discardQueued()
	if err := c.launchRx(); err != nil {
		return err
	}
	if c.spec.Kafka.Disabled {
		c.log.Info("capturing", "kafka", "disabled", "outputs", len(c.spec.Outputs), "routes", len(c.spec.Routes))
		return nil
	}
	for _, r := range c.spec.Routes {
		c.log.Info("route", "route", r.Name, "topic", r.Topic, "key_unit", r.KeyUnit.String(), "snaplen", r.Snaplen,
			"partitioner", r.Partitioner.String(), "partitions", r.Partitions)
	}
	c.log.Info("capturing", "brokers", c.spec.Kafka.Properties["bootstrap.servers"], "workers", len(c.workers),
		"routes", len(c.spec.Routes))
	return nil
}

// openKafkaStats checks the librdkafka properties and opens
// kafka.stats_file.
func (c *Capture) openKafkaStats() error {
	if c.spec.Kafka.Disabled {
		return nil
	}
	if err := kafka.CheckProperties(c.spec.Kafka.Properties); err != nil {
		return err
	}
	if path := c.spec.Kafka.StatsFile; path != "" {
		f, err := kafka.OpenStatsFile(path)
		if err != nil {
			return fmt.Errorf("kafka.stats_file: %w", err)
		}
		c.statsFile, c.stats = f, f
	}
	return nil
}

// initEAL starts the EAL and returns the RX lcores.
func (c *Capture) initEAL() ([]uint, error) {
	for _, ch := range c.spec.EAL.VdevChoices {
		c.log.Info("vdev arguments added", "vdev", ch.Vdev, "added", ch.Added, "why", ch.Why)
	}
	var err error
	if c.eal, err = dpdk.Init(c.spec.EAL.Args); err != nil {
		return nil, err
	}
	return chooseRxLcores(c.spec.RxLcores, c.eal, c.spec.EAL.Lcores)
}

// openPorts opens every port, skipping optional ones that do not exist;
// at least one must open. An output's port gets a TX queue for each of
// the lcores that may poll.
func (c *Capture) openPorts(lcores int) error {
	for _, ps := range c.spec.Ports {
		spec := ps.PortSpec
		spec.PoolFor = c.poolFor
		if ps.Output {
			spec.TxQueues = uint16(lcores)
		}
		port, err := dpdk.OpenPort(spec)
		if errors.Is(err, dpdk.ErrPortNotFound) && ps.Optional {
			c.log.Warn("port mask names a port that does not exist: skipped", "port", spec.Name, "error", err)
			continue
		}
		if err != nil {
			return err
		}
		c.ports = append(c.ports, port)
		c.portNames = append(c.portNames, ps.Name)
		i := port.Info
		c.log.Info("port up", "port", i.Name, "driver", i.Driver, "socket", i.Socket, "rx_queues", i.RxQueues,
			"rx_descriptors", i.RxDescriptors, "tx_queues", i.TxQueues, "mtu", i.MTU, "rss_hf", fmt.Sprintf("%#x", i.RSSHashes),
			"timestamps", i.Timestamps)
		if t := spec.Tunnel; t != nil {
			c.log.Info("tunnel receiver", "port", i.Name, "tunnel", t.Kind.String(), "key", t.Key, "keyed", t.HasKey,
				"local", t.Local.String())
		}
		for _, n := range i.Notes {
			c.log.Warn("port limit", "port", i.Name, "note", n)
		}
	}
	polled := 0
	for _, p := range c.ports {
		polled += int(p.Info.RxQueues)
	}
	if polled == 0 {
		return fmt.Errorf("no port to capture: none of %d named exists or receives (ports found: %v)",
			len(c.spec.Ports), dpdk.PortNames())
	}
	return nil
}

// port finds an open port by the name its spec gave.
func (c *Capture) port(name string) *dpdk.Port {
	for i, p := range c.ports {
		if c.portNames[i] == name || p.Info.Name == name {
			return p
		}
	}
	return nil
}

// makeOutputs lays out the outputs for lcores RX lcores (TX queue i for
// the i-th), with their own pool of header and clone mbufs.
func (c *Capture) makeOutputs(lcores int) error {
	if len(c.spec.Outputs) == 0 {
		return nil
	}
	var specs []dpdk.OutputSpec
	for _, o := range c.spec.Outputs {
		s := o.OutputSpec
		if s.Port = c.port(o.PortName); s.Port == nil {
			return fmt.Errorf("output %s: port %s is not open", o.Name, o.PortName)
		}
		specs = append(specs, s)
		var tun any = "none"
		if s.Tunnel != nil {
			tun = fmt.Sprintf("%s to %v key %d", s.Tunnel.Kind, s.Tunnel.Remote, s.Tunnel.Key)
		}
		c.log.Info("output", "output", s.Name, "port", s.Port.Info.Name, "routes", fmt.Sprintf("%#x", s.Routes),
			"tunnel", tun, "insert_vlan", s.InsertVLAN, "strip_vlan", s.StripVLAN, "snaplen", s.Snaplen, "mtu", s.MTU)
	}
	vlans := map[string]uint16{}
	for _, ps := range c.spec.Ports {
		if ps.VLAN != 0 && c.port(ps.Name) != nil {
			vlans[c.port(ps.Name).Info.Name] = ps.VLAN
		}
	}
	n := c.spec.OutputMbufs
	if n == 0 {
		var desc uint32
		for _, s := range specs {
			desc += uint32(max(s.Port.Info.TxDescriptors, 512))
		}
		n = max(8192, 2*desc*uint32(lcores)) // a header and a clone for each descriptor
	}
	pool, err := dpdk.NewMempool(dpdk.MempoolSpec{Name: "fc_out_pool", Mbufs: n, Cache: 256, DataRoom: 256, Socket: -1})
	if err != nil {
		return fmt.Errorf("outputs: %w", err)
	}
	c.outPool = pool
	c.outputs, err = dpdk.NewOutputs(dpdk.OutputsSpec{Outputs: specs, VLANOfPort: vlans, Lcores: lcores, Pool: pool})
	return err
}

// loadRoutes loads each route's filter, logging which engine runs it
// (librte_bpf's JIT or its interpreter), and lays the routes out for the
// RX lcores.
func (c *Capture) loadRoutes() error {
	if len(c.spec.Routes) == 0 {
		return errors.New("no route: a capture sends somewhere")
	}
	var routes []dpdk.Route
	for _, r := range c.spec.Routes {
		dr := dpdk.Route{Unmatched: r.Unmatched, Every: r.Every, Fraction: r.Fraction}
		if r.Filter != nil {
			f, err := dpdk.NewFilter(*r.Filter)
			if err != nil {
				return fmt.Errorf("route %s: %w", r.Name, err)
			}
			c.filters = append(c.filters, f)
			dr.Filter = f
			c.log.Info("capture filter loaded", "route", r.Name, "filter", r.Filter.Expr, "engine", f.Engine(),
				"cbpf_instructions", len(r.Filter.Program))
		}
		routes = append(routes, dr)
	}
	opts := dpdk.RoutesOptions{Decap: c.spec.Decap, SendInner: c.spec.SendInner}
	for _, r := range c.spec.Routes {
		opts.FlowHash = opts.FlowHash || r.Partitioner == PartitionFlow
	}
	for _, o := range c.spec.Outputs {
		// VXLAN's UDP source port is the inner flow's (RFC 7348).
		opts.FlowHash = opts.FlowHash || (o.Tunnel != nil && o.Tunnel.Kind == dpdk.TunnelVXLAN)
	}
	rs, err := dpdk.NewRoutes(routes, opts)
	if err != nil {
		return err
	}
	c.routes = rs
	return nil
}

// makeRxLcores makes each planned lcore's ring, on its socket, and its RX
// loop (not launched).
func (c *Capture) makeRxLcores(plans []lcorePlan) error {
	for i, pl := range plans {
		var ring *dpdk.Ring // none without Kafka
		if !c.spec.Kafka.Disabled {
			var err error
			ring, err = dpdk.NewRing(dpdk.RingSpec{Name: fmt.Sprintf("fc_ring_%d", pl.Lcore), Size: c.spec.RingSize,
				Socket: pl.Socket, MultiConsumer: c.spec.WorkersPerRing > 1})
			if err != nil {
				return err
			}
			c.rings = append(c.rings, ring)
			c.ringLcore[ring] = pl.Lcore
		}
		rx, err := dpdk.NewRxLcore(dpdk.RxSpec{Lcore: pl.Lcore, Queues: pl.Queues, Ring: ring, Burst: c.spec.Burst,
			Routes: c.routes, IdleAfter: c.spec.IdleAfter, IdleSleep: c.spec.IdleSleep, Outputs: c.outputs, TxQueue: uint16(i)})
		if err != nil {
			return err
		}
		c.rx = append(c.rx, rx)
	}
	return nil
}

// makeWorkers makes workers_per_ring workers for each ring, each with its
// own producer.
func (c *Capture) makeWorkers() error {
	k := c.spec.Kafka
	for _, ring := range c.rings {
		for j := 0; j < c.spec.WorkersPerRing; j++ {
			prod, err := kafka.NewProducer(kafka.ProducerSpec{
				Destinations:     c.destinations(),
				Properties:       k.Properties,
				QueueFullTimeout: k.QueueFullTimeout,
				Logger:           c.log,
				StatsWriter:      c.stats,
				Simple:           c.routes.Simple(),
			})
			if err != nil {
				return err
			}
			c.prods = append(c.prods, prod)
			if len(c.prods) == 1 {
				if err := c.countPartitions(prod); err != nil {
					return err
				}
				for i, r := range c.spec.Routes {
					prod.SetPartitions(i, r.Partitions)
				}
			}
			c.workers = append(c.workers, NewWorker(WorkerSpec{
				ID: len(c.workers), Ring: ring, Burst: c.spec.WorkerBurst, Producer: prod, Register: true,
			}))
		}
	}
	return nil
}

// destinations are the routes' topics and how each is sent to.
func (c *Capture) destinations() []kafka.Destination {
	var ds []kafka.Destination
	for _, r := range c.spec.Routes {
		d := kafka.Destination{Topic: r.Topic, KeyDivisor: uint64(r.KeyUnit), Snaplen: r.Snaplen, Partitions: r.Partitions}
		switch r.Partitioner {
		case PartitionFlow:
			d.Partitioner = kafka.PartitionByFlow
		case PartitionRoundRobin:
			d.Partitioner = kafka.PartitionRoundRobin
		}
		ds = append(ds, d)
	}
	return ds
}

// partitionsWait bounds how long start-up waits for a broker to say how
// many partitions a flow or round-robin route's topic has.
const partitionsWait = 15 * time.Second

// countPartitions fills in the partition count of each route that
// chooses partitions itself and was not given one, asking the broker.
func (c *Capture) countPartitions(prod *kafka.Producer) error {
	for i := range c.spec.Routes {
		r := &c.spec.Routes[i]
		if r.Partitioner == PartitionKey || r.Partitions > 0 {
			continue
		}
		n, err := prod.Partitions(i, partitionsWait)
		if err != nil {
			return fmt.Errorf("route %s: partitioner %s needs the topic's partition count (or set partitions): %w",
				r.Name, r.Partitioner, err)
		}
		r.Partitions = n
	}
	return nil
}

// runWorkers starts the workers' goroutines; a worker's error ends Run.
func (c *Capture) runWorkers() {
	c.workErr = make(chan error, len(c.workers))
	for _, w := range c.workers {
		c.wg.Add(1)
		go func(w *Worker) {
			defer c.wg.Done()
			if err := w.Run(c.rxStop); err != nil {
				c.workErr <- fmt.Errorf("worker %d: %w", w.spec.ID, err)
			}
		}(w)
	}
}

// discardQueued empties what net_af_packet rings hold from before: the
// capture starts now.
func (c *Capture) discardQueued() {
	for _, p := range c.ports {
		if n := p.DiscardQueued(); n > 0 {
			c.log.Info("discarded frames queued before capture started", "port", p.Info.Name, "frames", n)
		}
	}
}

// launchRx starts polling on every RX lcore.
func (c *Capture) launchRx() error {
	for _, rx := range c.rx {
		if err := rx.Launch(); err != nil {
			return err
		}
		s := rx.Spec()
		names := make([]string, len(s.Queues))
		for i, q := range s.Queues {
			names[i] = fmt.Sprintf("%s/%d", q.Port.Info.Name, q.Queue)
		}
		c.log.Info("rx lcore polling", "lcore", s.Lcore, "socket", dpdk.LcoreSocket(s.Lcore), "queues", names)
	}
	return nil
}

// poolFor returns the mempool of a NUMA socket, creating it on first use.
func (c *Capture) poolFor(socket int) (*dpdk.Mempool, error) {
	if p, ok := c.pools[socket]; ok {
		return p, nil
	}
	ms := c.spec.Mempool
	ms.Name, ms.Socket = fmt.Sprintf("fc_pool_%d", socket), socket
	p, err := dpdk.NewMempool(ms)
	if err != nil {
		return nil, err
	}
	c.pools[socket] = p
	c.log.Info("mempool", "socket", socket, "mbufs", ms.Mbufs, "data_room", ms.DataRoom)
	return p, nil
}

// Ready says why the capture cannot deliver packets now, or nil when
// every port's link is up and every producer can reach a broker
// (kafka.Producer.Ready).
func (c *Capture) Ready() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.final != nil {
		return errors.New("stopped")
	}
	for _, p := range c.ports {
		if !p.LinkUp() {
			return fmt.Errorf("port %s: link down", p.Info.Name)
		}
	}
	for i, p := range c.prods {
		if err := p.Ready(); err != nil {
			return fmt.Errorf("worker %d: %w (%s)", i, err, c.spec.Kafka.Properties["bootstrap.servers"])
		}
	}
	return nil
}

// Reopen reopens the files the capture appends to (kafka.stats_file),
// so one moved away (logrotate) is created again; the daemon reopens on
// SIGHUP. It does nothing once the capture stopped.
func (c *Capture) Reopen() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.statsFile == nil {
		return nil
	}
	return c.statsFile.Reopen()
}

// RunHooks are what the caller's main loop does besides the pipeline's
// own upkeep. Each is optional.
type RunHooks struct {
	// Tick runs about once a second from Run's loop: a systemd watchdog
	// ping sent here proves that loop is alive.
	Tick func()
	// Stats receives a live report every log.stats_interval.
	Stats func(Report)
}

// Run keeps the TSC clock anchored, calls the hooks, and logs periodic
// stats until ctx is done or a worker fails.
func (c *Capture) Run(ctx context.Context, hooks RunHooks) error {
	anchor := time.NewTicker(time.Second)
	defer anchor.Stop()
	var stats <-chan time.Time
	prev, prevAt := c.Report(), time.Now()
	if iv := c.spec.StatsInterval; iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		stats = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-c.workErr:
			return err
		case <-anchor.C:
			dpdk.AnchorClock()
			for _, p := range c.ports {
				if err := p.AnchorClock(); err != nil {
					c.log.Warn("anchor device clock", "error", err)
				}
			}
			if hooks.Tick != nil {
				hooks.Tick()
			}
		case now := <-stats:
			r := c.Report()
			r.LogLive(c.log, "stats")
			r.LogRates(c.log, prev, now.Sub(prevAt))
			prev, prevAt = r, now
			if hooks.Stats != nil {
				hooks.Stats(r)
			}
		}
	}
}

// Stop drains and shuts down: stop RX, let workers empty the rings into
// Kafka, flush producers within the configured timeout (purging what is
// left), close ports and audit the mempools. It returns the final report.
func (c *Capture) Stop() Report {
	if c.stopped {
		return c.Report()
	}
	c.stopped = true
	for _, rx := range c.rx {
		rx.Stop()
	}
	// Nothing polls the ports any more: stop them now, so that what
	// arrives during the drain is not counted as the device's loss.
	for _, p := range c.ports {
		p.Stop()
	}
	close(c.rxStop)
	c.log.Info("rx stopped, draining rings")
	c.wg.Wait()
	deadline := time.Now().Add(c.spec.FlushTimeout)
	unflushed := 0
	for _, p := range c.prods {
		left := time.Until(deadline)
		if left < 0 {
			left = 0
		}
		unflushed += p.Close(left)
	}
	r := c.Report()
	r.Unflushed = unflushed
	r.CPU = processCPU()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.teardown()
	for _, p := range c.pools {
		r.Mempools = append(r.Mempools, p.Audit())
	}
	for _, p := range c.pools {
		p.Close()
	}
	c.pools = nil
	if c.outPool != nil {
		r.Mempools = append(r.Mempools, c.outPool.Audit())
		c.outPool.Close()
		c.outPool = nil
	}
	dpdk.Cleanup()
	c.final = &r
	return r
}

// teardown releases what start-up made, in reverse.
func (c *Capture) teardown() {
	for _, rx := range c.rx {
		rx.Close()
	}
	c.rx = nil
	c.routes.Close()
	c.routes = nil
	c.outputs.Close()
	c.outputs = nil
	for _, f := range c.filters {
		f.Close()
	}
	c.filters = nil
	if !c.stopped && c.workErr != nil {
		close(c.rxStop) // start-up failed after workers started
		c.wg.Wait()
	}
	for _, p := range c.ports {
		if err := p.Close(); err != nil {
			c.log.Warn("close port", "port", p.Info.Name, "error", err)
		}
	}
	c.ports = nil
	c.portNames = nil
	if c.outPool != nil && !c.stopped {
		c.outPool.Close()
		c.outPool = nil
	}
	for _, r := range c.rings {
		r.Close()
	}
	c.rings = nil
	if c.pools != nil && !c.stopped {
		for _, p := range c.pools {
			p.Close()
		}
		c.pools = nil
	}
	if !c.stopped {
		for _, p := range c.prods {
			p.Close(0)
		}
		if c.eal.TSCHz != 0 {
			dpdk.Cleanup()
		}
	}
	// Producers are closed by now (Stop closes them first): nothing
	// writes statistics any more.
	if c.statsFile != nil {
		c.statsFile.Close()
		c.statsFile = nil
	}
}
