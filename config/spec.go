package config

import (
	"fmt"
	"math"
	"strconv"
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
	routes, err := c.routeSpecs()
	if err != nil {
		return pipeline.Spec{}, err
	}
	outputs, err := c.outputSpecs(routes)
	if err != nil {
		return pipeline.Spec{}, err
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
		IdleAfter:      uint32(cp.IdlePolls),
		IdleSleep:      cp.IdleSleep,
		Mempool:        dpdk.MempoolSpec{Mbufs: uint32(cp.Mbufs), Cache: uint32(cp.MbufCache), DataRoom: uint16(cp.MbufDataRoom)},
		Routes:         routes,
		Outputs:        outputs,
		Decap:          cp.Decap,
		SendInner:      cp.SendInner,
		Kafka: pipeline.KafkaSpec{
			Properties:       c.Kafka.Properties,
			QueueFullTimeout: c.Kafka.QueueFullTimeout,
			StatsFile:        c.Kafka.StatsFile,
			Disabled:         c.Kafka.Disabled,
		},
		StatsInterval: c.Log.StatsInterval,
		FlushTimeout:  c.Shutdown.FlushTimeout,
	}
	for _, l := range cp.RxLcores {
		sp.RxLcores = append(sp.RxLcores, uint(l))
	}
	for i, p := range c.Ports {
		ts, err := dpdk.ParseTimestampMode(p.Timestamp)
		if err != nil {
			return pipeline.Spec{}, fieldError(fmt.Sprintf("ports[%d].timestamp", i), "%v", err)
		}
		tun, err := p.Tunnel.spec(fmt.Sprintf("ports[%d].tunnel", i))
		if err != nil {
			return pipeline.Spec{}, err
		}
		sp.Ports = append(sp.Ports, pipeline.PortSpec{Optional: p.Optional, VLAN: uint16(p.VLAN), PortSpec: dpdk.PortSpec{
			Name:          p.Name,
			RxQueues:      uint16(p.RxQueues),
			RxDescriptors: uint16(p.RxDescriptors),
			MTU:           uint16(p.MTU),
			Promiscuous:   *p.Promiscuous,
			RSS:           *p.RSS,
			Timestamp:     ts,
			Tunnel:        tun,
		}})
	}
	sp.Ports = c.outputPorts(sp.Ports)
	return sp, nil
}

// routeSpecs checks the routes and makes their specs: the one "default"
// route of capture and kafka when routes are not given. Each filter is
// compiled (capture.filter and-ed with the route's); an error names the
// field, and for a filter carries libpcap's message.
func (c *Config) routeSpecs() ([]pipeline.RouteSpec, error) {
	cp, k := c.Capture, c.Kafka
	if k.Topic == "" && !k.Disabled {
		return nil, fieldError("kafka.topic", "empty: name the topic (--topic)")
	}
	if _, err := kafka.ParseKeyUnit(k.KeyUnit); err != nil {
		return nil, fieldError("kafka.key_unit", "%v", err)
	}
	if _, err := pipeline.ParsePartitioner(k.Partitioner); err != nil {
		return nil, fieldError("kafka.partitioner", "%v", err)
	}
	if k.Partitions < 0 {
		return nil, fieldError("kafka.partitions", "%d is negative", k.Partitions)
	}
	if _, _, err := parseSample(cp.Sample); err != nil {
		return nil, fieldError("capture.sample", "%v", err)
	}
	if cp.Snaplen < 0 || cp.Snaplen > maxSnaplen {
		return nil, fieldError("capture.snaplen", "%d: use 0 (whole frames) or 1 to %d (tcpdump's largest)", cp.Snaplen, maxSnaplen)
	}
	if _, err := compileFilter("capture.filter", cp.Filter); err != nil {
		return nil, err
	}
	routes := c.Routes
	if len(routes) == 0 {
		routes = []Route{{Name: "default"}}
	}
	if len(routes) > dpdk.MaxRoutes {
		return nil, fieldError("routes", "%d routes: at most %d", len(routes), dpdk.MaxRoutes)
	}
	var out []pipeline.RouteSpec
	names, topics := map[string]int{}, map[string]string{}
	for i, r := range routes {
		f := fmt.Sprintf("routes[%d]", i)
		if len(c.Routes) == 0 {
			f = "capture"
		}
		if !validRouteName(r.Name) {
			return nil, fieldError(f+".name", "%q: name the route with letters, digits, '.', '_' or '-'", r.Name)
		}
		if j, dup := names[r.Name]; dup {
			return nil, fieldError(f+".name", "%q is also routes[%d]'s name", r.Name, j)
		}
		names[r.Name] = i
		if len(c.Routes) > 0 {
			f = fmt.Sprintf("routes[%d] (%s)", i, r.Name)
		}
		rs := pipeline.RouteSpec{Name: r.Name, Unmatched: r.Unmatched, Topic: or(r.Topic, k.Topic), Snaplen: cp.Snaplen,
			Partitions: k.Partitions}
		if other, dup := topics[rs.Topic]; dup && !k.Disabled {
			return nil, fieldError(f+".topic", "%q is also route %s's topic: a packet both keep would be stored twice; "+
				"give each route its own topic, or merge their filters", rs.Topic, other)
		}
		topics[rs.Topic] = r.Name
		unit, err := kafka.ParseKeyUnit(or(r.KeyUnit, k.KeyUnit))
		if err != nil {
			return nil, fieldError(f+".key_unit", "%v", err)
		}
		rs.KeyUnit = unit
		if r.Snaplen != nil {
			rs.Snaplen = *r.Snaplen
			if rs.Snaplen < 0 || rs.Snaplen > maxSnaplen {
				return nil, fieldError(f+".snaplen", "%d: use 0 (whole frames) or 1 to %d (tcpdump's largest)", rs.Snaplen, maxSnaplen)
			}
		}
		if rs.Partitioner, err = pipeline.ParsePartitioner(or(r.Partitioner, k.Partitioner)); err != nil {
			return nil, fieldError(f+".partitioner", "%v", err)
		}
		if r.Partitions != 0 {
			rs.Partitions = r.Partitions
		}
		if rs.Partitions < 0 {
			return nil, fieldError(f+".partitions", "%d is negative", rs.Partitions)
		}
		if rs.Every, rs.Fraction, err = parseSample(or(r.Sample, cp.Sample)); err != nil {
			return nil, fieldError(f+".sample", "%v", err)
		}
		expr := cp.Filter
		if strings.TrimSpace(r.Filter) != "" {
			expr = r.Filter
			if strings.TrimSpace(cp.Filter) != "" {
				expr = "(" + cp.Filter + ") and (" + r.Filter + ")"
			}
		}
		ff, err := compileFilter(f+".filter", expr)
		if err != nil {
			return nil, err
		}
		if ff != nil {
			rs.Filter = &dpdk.FilterSpec{Expr: ff.Expr(), Program: ff.Program()}
		}
		out = append(out, rs)
	}
	return out, nil
}

// maxSnaplen is tcpdump's largest snapshot length.
const maxSnaplen = 262144

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func validRouteName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// parseSample reads a sampling rate: "1/N" keeps the first of every N
// packets a route matches (per queue), "P%" each with probability P/100;
// "" (and "1/1", "100%") keeps all.
func parseSample(s string) (every uint32, fraction float64, err error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return 0, 0, nil
	case strings.HasPrefix(s, "1/"):
		n, err := strconv.ParseUint(strings.TrimSpace(s[2:]), 10, 32)
		if err != nil || n == 0 {
			return 0, 0, fmt.Errorf("%q: write 1/N with N a whole number from 1 to %d, or a percentage such as 12.5%%", s, uint32(math.MaxUint32))
		}
		if n == 1 {
			return 0, 0, nil
		}
		return uint32(n), 0, nil
	case strings.HasSuffix(s, "%"):
		p, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "%")), 64)
		if err != nil || !(p > 0 && p <= 100) {
			return 0, 0, fmt.Errorf("%q: a percentage is above 0 and at most 100, e.g. 12.5%%", s)
		}
		if p == 100 {
			return 0, 0, nil
		}
		return 0, p / 100, nil
	}
	return 0, 0, fmt.Errorf("%q: write 1/N (keep one packet in N) or P%% (keep each with probability P/100)", s)
}

// compileFilter compiles a tcpdump expression with libpcap for Ethernet
// frames, as tcpdump compiles it for a capture file; nil if there is
// none. A filter that does not compile is a *FieldError naming field,
// with libpcap's message.
func compileFilter(field, expr string) (*filter.Filter, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil
	}
	f, err := filter.New(filter.Spec{Expr: expr, LinkType: filter.LinkTypeEthernet})
	if err != nil {
		return nil, fieldError(field, "%v", err)
	}
	if err := dpdk.CheckFilterProgram(f.Program()); err != nil {
		return nil, fieldError(field, "filter %q: %v", expr, err)
	}
	return f, nil
}
