package config

import (
	"fmt"

	"strings"

	"github.com/fastcapa-go/fastcapa/dpdk"
	"github.com/fastcapa-go/fastcapa/filter"
	"github.com/fastcapa-go/fastcapa/kafka"
	"github.com/fastcapa-go/fastcapa/pipeline"
)

// Spec validates c (Validate, which fills the per-port defaults) and
// makes the capture's pipeline.Spec, every string parsed into its typed
// value. Errors name the field and the fix, as *FieldError.
func (c *Config) Spec() (pipeline.Spec, error) {
	if err := c.Validate(); err != nil {
		return pipeline.Spec{}, err
	}
	unit, err := kafka.ParseKeyUnit(c.Kafka.KeyUnit)
	if err != nil {
		return pipeline.Spec{}, fieldError("kafka.key_unit", "%v", err)
	}
	cp := c.Capture
	sp := pipeline.Spec{
		EAL: pipeline.EALSpec{Args: c.EALArgs(), Lcores: c.EAL.Lcores, VdevChoices: c.VdevChoices()},
		// Validate bounds these (burst to MaxBurst, ring_size to 2^28,
		// the mempool's fields to their C types).
		Burst:          uint16(cp.Burst),
		WorkerBurst:    cp.WorkerBurstOrDefault(),
		RingSize:       uint32(cp.RingSize),
		WorkersPerRing: cp.WorkersPerRing,
		Mempool:        dpdk.MempoolSpec{Mbufs: uint32(cp.Mbufs), Cache: uint32(cp.MbufCache), DataRoom: uint16(cp.MbufDataRoom)},
		Kafka: pipeline.KafkaSpec{
			Topic:            c.Kafka.Topic,
			KeyUnit:          unit,
			Properties:       c.Kafka.Properties,
			QueueFullTimeout: c.Kafka.QueueFullTimeout,
			StatsFile:        c.Kafka.StatsFile,
		},
		StatsInterval: c.Log.StatsInterval,
		FlushTimeout:  c.Shutdown.FlushTimeout,
	}
	if f, err := cp.compileFilter(); err != nil {
		return pipeline.Spec{}, err
	} else if f != nil {
		sp.Filter = &dpdk.FilterSpec{Expr: f.Expr(), Program: f.Program()}
	}
	sp.Snaplen = cp.Snaplen
	for _, l := range cp.RxLcores {
		sp.RxLcores = append(sp.RxLcores, uint(l))
	}
	for i, p := range c.Ports {
		ts, err := dpdk.ParseTimestampMode(p.Timestamp)
		if err != nil {
			return pipeline.Spec{}, fieldError(fmt.Sprintf("ports[%d].timestamp", i), "%v", err)
		}
		sp.Ports = append(sp.Ports, pipeline.PortSpec{Optional: p.Optional, PortSpec: dpdk.PortSpec{
			Name:          p.Name,
			RxQueues:      uint16(p.RxQueues),
			RxDescriptors: uint16(p.RxDescriptors),
			MTU:           uint16(p.MTU),
			Promiscuous:   *p.Promiscuous,
			RSS:           *p.RSS,
			Timestamp:     ts,
		}})
	}
	return sp, nil
}

// compileFilter compiles capture.filter with libpcap for Ethernet frames,
// as tcpdump compiles it for a capture file; nil if there is none. A
// filter that does not compile is a *FieldError with libpcap's message.
func (c Capture) compileFilter() (*filter.Filter, error) {
	if strings.TrimSpace(c.Filter) == "" {
		return nil, nil
	}
	f, err := filter.New(filter.Spec{Expr: c.Filter, LinkType: filter.LinkTypeEthernet})
	if err != nil {
		return nil, fieldError("capture.filter", "%v", err)
	}
	if err := dpdk.CheckFilterProgram(f.Program()); err != nil {
		return nil, fieldError("capture.filter", "filter %q: %v", c.Filter, err)
	}
	return f, nil
}
