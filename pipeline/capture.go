package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/fastcapa-go/fastcapa/config"
	"github.com/fastcapa-go/fastcapa/dpdk"
	"github.com/fastcapa-go/fastcapa/kafka"
)

// ErrStartup marks errors in configuration or start-up, as opposed to
// loss while running.
var ErrStartup = errors.New("start-up")

// Capture is a running capture daemon: EAL, ports, RX lcores, rings,
// workers and producers.
type Capture struct {
	cfg     config.Config
	log     *slog.Logger
	eal     dpdk.EALInfo
	pools   map[int]*dpdk.Mempool
	ports   []*dpdk.Port
	rings   []*dpdk.Ring
	rx      []*dpdk.RxLcore
	workers []*Worker
	prods   []*kafka.Producer // prods[i] is workers[i]'s
	rxStop  chan struct{}
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
}

func startupErr(err error) error { return fmt.Errorf("%w: %w", ErrStartup, err) }

// Start brings the whole path up, last stage first: producers, then
// workers, then the RX lcores, so no packet waits on a stage not yet
// there. cfg must have passed Validate. On error everything started is
// torn down again.
func Start(cfg config.Config, log *slog.Logger) (*Capture, error) {
	c := &Capture{cfg: cfg, log: log, pools: map[int]*dpdk.Mempool{}, rxStop: make(chan struct{}),
		ringLcore: map[*dpdk.Ring]uint{}}
	if err := c.start(); err != nil {
		c.teardown()
		return nil, err
	}
	return c, nil
}

func (c *Capture) start() (err error) {
	cfg, log := c.cfg, c.log
	dpdk.SetLogger(log)
	keyUnit, _ := kafka.ParseKeyUnit(cfg.Kafka.KeyUnit)

	// What can be checked without a device is checked first.
	if err := kafka.CheckProperties(cfg.Kafka.Properties); err != nil {
		return startupErr(err)
	}
	var stats io.Writer
	if path := cfg.Kafka.StatsFile; path != "" {
		f, err := kafka.OpenStatsFile(path)
		if err != nil {
			return startupErr(fmt.Errorf("kafka.stats_file: %w", err))
		}
		c.statsFile, stats = f, f
	}

	for _, ch := range cfg.VdevChoices() {
		log.Info("vdev arguments added", "vdev", ch.Vdev, "added", ch.Added, "why", ch.Why)
	}
	c.eal, err = dpdk.Init(cfg.EALArgs())
	if err != nil {
		return startupErr(err)
	}
	rxLcores, err := c.rxLcores()
	if err != nil {
		return startupErr(err)
	}

	for _, pc := range cfg.Ports {
		port, err := dpdk.OpenPort(dpdk.PortSpec{
			Name:          pc.Name,
			RxQueues:      uint16(pc.RxQueues),
			RxDescriptors: uint16(pc.RxDescriptors),
			MTU:           uint16(pc.MTU),
			Promiscuous:   *pc.Promiscuous,
			RSS:           *pc.RSS,
			Timestamp:     tsMode(pc.Timestamp),
			PoolFor:       c.poolFor,
		})
		if errors.Is(err, dpdk.ErrPortNotFound) && pc.Optional {
			log.Warn("port mask names a port that does not exist: skipped", "port", pc.Name, "error", err)
			continue
		}
		if err != nil {
			return startupErr(err)
		}
		c.ports = append(c.ports, port)
		i := port.Info
		log.Info("port up", "port", i.Name, "driver", i.Driver, "socket", i.Socket, "rx_queues", i.RxQueues,
			"rx_descriptors", i.RxDescriptors, "rss_hf", fmt.Sprintf("%#x", i.RSSHashes), "timestamps", i.Timestamps)
		for _, n := range i.Notes {
			log.Warn("port limit", "port", i.Name, "note", n)
		}
	}

	if len(c.ports) == 0 {
		return startupErr(fmt.Errorf("no port to capture: none of %d named exists (ports found: %v)",
			len(cfg.Ports), dpdk.PortNames()))
	}

	// Spread every (port, queue) over the RX lcores, round robin.
	var queues [][]dpdk.RxQueue = make([][]dpdk.RxQueue, len(rxLcores))
	k := 0
	for _, p := range c.ports {
		for q := uint16(0); q < p.Info.RxQueues; q++ {
			queues[k%len(rxLcores)] = append(queues[k%len(rxLcores)], dpdk.RxQueue{Port: p, Queue: q})
			k++
		}
	}
	for i, l := range rxLcores {
		if len(queues[i]) == 0 {
			continue
		}
		sock := dpdk.LcoreSocket(l)
		for _, q := range queues[i] {
			if q.Port.Info.Socket != sock {
				log.Warn("rx lcore on another NUMA socket than its port", "lcore", l, "lcore_socket", sock,
					"port", q.Port.Info.Name, "port_socket", q.Port.Info.Socket)
			}
		}
		ring, err := dpdk.NewRing(dpdk.RingSpec{Name: fmt.Sprintf("fc_ring_%d", l), Size: uint32(cfg.Capture.RingSize),
			Socket: sock, MultiConsumer: cfg.Capture.WorkersPerRing > 1})
		if err != nil {
			return startupErr(err)
		}
		c.rings = append(c.rings, ring)
		c.ringLcore[ring] = l
		rx, err := dpdk.NewRxLcore(dpdk.RxSpec{Lcore: l, Queues: queues[i], Ring: ring, Burst: uint16(cfg.Capture.Burst)})
		if err != nil {
			return startupErr(err)
		}
		c.rx = append(c.rx, rx)
	}

	for _, ring := range c.rings {
		for j := 0; j < cfg.Capture.WorkersPerRing; j++ {
			prod, err := kafka.NewProducer(kafka.ProducerSpec{
				Topic:            cfg.Kafka.Topic,
				KeyDivisor:       uint64(keyUnit),
				Properties:       cfg.Kafka.Properties,
				QueueFullTimeout: cfg.Kafka.QueueFullTimeout,
				Logger:           log,
				StatsWriter:      stats,
			})
			if err != nil {
				return startupErr(err)
			}
			c.prods = append(c.prods, prod)
			c.workers = append(c.workers, NewWorker(WorkerSpec{
				ID: len(c.workers), Ring: ring, Burst: cfg.Capture.WorkerBurstOrDefault(), Producer: prod, Register: true,
			}))
		}
	}
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
	// The capture starts now: what net_af_packet rings hold from before
	// is not part of it.
	for _, p := range c.ports {
		if n := p.DiscardQueued(); n > 0 {
			log.Info("discarded frames queued before capture started", "port", p.Info.Name, "frames", n)
		}
	}
	for _, rx := range c.rx {
		if err := rx.Launch(); err != nil {
			return startupErr(err)
		}
		s := rx.Spec()
		names := make([]string, len(s.Queues))
		for i, q := range s.Queues {
			names[i] = fmt.Sprintf("%s/%d", q.Port.Info.Name, q.Queue)
		}
		log.Info("rx lcore polling", "lcore", s.Lcore, "socket", dpdk.LcoreSocket(s.Lcore), "queues", names)
	}
	log.Info("capturing", "topic", cfg.Kafka.Topic, "key_unit", cfg.Kafka.KeyUnit,
		"brokers", cfg.Kafka.Properties["bootstrap.servers"], "workers", len(c.workers))
	return nil
}

func tsMode(s string) dpdk.TimestampMode {
	switch s {
	case "tsc":
		return dpdk.TimestampTSC
	case "device":
		return dpdk.TimestampDevice
	}
	return dpdk.TimestampAuto
}

// rxLcores are the lcores that poll: the configured ones, or every EAL
// worker lcore.
func (c *Capture) rxLcores() ([]uint, error) {
	if len(c.cfg.Capture.RxLcores) == 0 {
		if len(c.eal.Workers) == 0 {
			return nil, fmt.Errorf("eal.lcores %q has no worker lcore besides the main one %d: give at least two, e.g. \"0,1\"",
				c.cfg.EAL.Lcores, c.eal.MainLcore)
		}
		return c.eal.Workers, nil
	}
	ok := map[uint]bool{}
	for _, w := range c.eal.Workers {
		ok[w] = true
	}
	var out []uint
	for _, l := range c.cfg.Capture.RxLcores {
		if !ok[uint(l)] {
			return nil, fmt.Errorf("capture.rx_lcores: lcore %d is not an EAL worker lcore (workers: %v)", l, c.eal.Workers)
		}
		out = append(out, uint(l))
	}
	return out, nil
}

// poolFor returns the mempool of a NUMA socket, creating it on first use.
func (c *Capture) poolFor(socket int) (*dpdk.Mempool, error) {
	if p, ok := c.pools[socket]; ok {
		return p, nil
	}
	cp := c.cfg.Capture
	p, err := dpdk.NewMempool(dpdk.MempoolSpec{Name: fmt.Sprintf("fc_pool_%d", socket), Mbufs: uint32(cp.Mbufs),
		Cache: uint32(cp.MbufCache), DataRoom: uint16(cp.MbufDataRoom), Socket: socket})
	if err != nil {
		return nil, err
	}
	c.pools[socket] = p
	c.log.Info("mempool", "socket", socket, "mbufs", cp.Mbufs, "data_room", cp.MbufDataRoom)
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
			return fmt.Errorf("worker %d: %w (%s)", i, err, c.cfg.Kafka.Properties["bootstrap.servers"])
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
	if iv := c.cfg.Log.StatsInterval; iv > 0 {
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
		case <-stats:
			r := c.Report()
			r.LogLive(c.log, "stats")
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
	deadline := time.Now().Add(c.cfg.Shutdown.FlushTimeout)
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

// config.MaxBurst validates bursts that the C side holds in arrays of
// FC_MAX_BURST (dpdk.MaxBurst): the build fails if the two differ.
const _ = uint(config.MaxBurst-dpdk.MaxBurst) + uint(dpdk.MaxBurst-config.MaxBurst)
