package config

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/fastcapa-go/fastcapa/dpdk"
	"github.com/fastcapa-go/fastcapa/pipeline"
)

// Output sends the packets of some routes to a DPDK port, from the RX
// lcores, beside Kafka: fluxcap's replication (several outputs),
// aggregation (several inputs, each tagged with its ports[].vlan), and
// tunnels to a remote host.
type Output struct {
	Name string `yaml:"name"`
	// Port is a DPDK port name (vdev or PCI address); it may also be one
	// of ports, which then transmits too.
	Port string `yaml:"port"`
	// Routes are the names of the routes whose packets it sends; empty:
	// every route's.
	Routes        []string   `yaml:"routes"`
	InsertVLAN    bool       `yaml:"insert_vlan"`
	StripVLAN     bool       `yaml:"strip_vlan"`
	KeepVLAN      *int       `yaml:"keep_vlan"`
	Snaplen       int        `yaml:"snaplen"`
	Trim          int        `yaml:"trim"`
	MTU           int        `yaml:"mtu"`
	Oversize      string     `yaml:"oversize"` // truncate, drop
	TxDescriptors int        `yaml:"tx_descriptors"`
	Tunnel        *TunnelOut `yaml:"tunnel"`
}

// TunnelOut carries an output's frames to a remote IPv4 address.
type TunnelOut struct {
	Type    string `yaml:"type"` // gretap, gre, vxlan
	Remote  string `yaml:"remote"`
	Local   string `yaml:"local"`
	Key     string `yaml:"key"` // integer or dotted quad; VXLAN: the VNI
	SrcMAC  string `yaml:"src_mac"`
	DstMAC  string `yaml:"dst_mac"`
	TTL     int    `yaml:"ttl"`
	UDPPort int    `yaml:"udp_port"`
}

// TunnelIn makes a port receive a remote tap: only that tunnel's packets,
// with that key, are captured, as the frames they carry.
type TunnelIn struct {
	Type    string `yaml:"type"`
	Key     string `yaml:"key"`
	Local   string `yaml:"local"`
	UDPPort int    `yaml:"udp_port"`
}

func parseKind(field, s string) (dpdk.TunnelKind, error) {
	k, err := dpdk.ParseTunnelKind(s)
	if err != nil {
		return 0, fieldError(field+".type", "%v", err)
	}
	return k, nil
}

func parseKey(field string, kind dpdk.TunnelKind, s string) (key uint32, has bool, err error) {
	if s == "" {
		if kind == dpdk.TunnelVXLAN {
			return 0, false, fieldError(field+".key", "empty: a VXLAN tunnel needs its VNI (1 to 16777215)")
		}
		return 0, false, nil
	}
	if key, err = dpdk.ParseTunnelKey(s); err != nil {
		return 0, false, fieldError(field+".key", "%v", err)
	}
	if kind == dpdk.TunnelVXLAN && key >= 1<<24 {
		return 0, false, fieldError(field+".key", "VNI %d does not fit 24 bits (at most 16777215)", key)
	}
	return key, true, nil
}

func parseIPv4(field, s string, required bool) (netip.Addr, error) {
	if s == "" && !required {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fieldError(field, "%q: give an IPv4 address such as 192.0.2.1", s)
	}
	return a, nil
}

func parseUDPPort(field string, p int) (uint16, error) {
	if p < 0 || p > 65535 {
		return 0, fieldError(field, "%d: use 1 to 65535, or 0 for 4789", p)
	}
	return uint16(p), nil
}

// tunnelIn checks a port's tunnel receiver.
func (t *TunnelIn) spec(field string) (*dpdk.TunnelIn, error) {
	if t == nil {
		return nil, nil
	}
	kind, err := parseKind(field, t.Type)
	if err != nil {
		return nil, err
	}
	key, has, err := parseKey(field, kind, t.Key)
	if err != nil {
		return nil, err
	}
	local, err := parseIPv4(field+".local", t.Local, false)
	if err != nil {
		return nil, err
	}
	port, err := parseUDPPort(field+".udp_port", t.UDPPort)
	if err != nil {
		return nil, err
	}
	return &dpdk.TunnelIn{Kind: kind, Key: key, HasKey: has, Local: local, UDPPort: port}, nil
}

func (t *TunnelOut) spec(field string) (*dpdk.Tunnel, error) {
	if t == nil {
		return nil, nil
	}
	kind, err := parseKind(field, t.Type)
	if err != nil {
		return nil, err
	}
	key, has, err := parseKey(field, kind, t.Key)
	if err != nil {
		return nil, err
	}
	remote, err := parseIPv4(field+".remote", t.Remote, true)
	if err != nil {
		return nil, err
	}
	local, err := parseIPv4(field+".local", t.Local, true)
	if err != nil {
		return nil, err
	}
	// The outer MACs are configured: fastcapa sends no ARP.
	src, err := net.ParseMAC(t.SrcMAC)
	if err != nil || len(src) != 6 {
		return nil, fieldError(field+".src_mac", "%q: give the sending port's Ethernet address, e.g. 02:00:00:00:00:01", t.SrcMAC)
	}
	dst, err := net.ParseMAC(t.DstMAC)
	if err != nil || len(dst) != 6 {
		return nil, fieldError(field+".dst_mac", "%q: give the next hop's Ethernet address (ip neigh show on a host beside it)", t.DstMAC)
	}
	if t.TTL < 0 || t.TTL > 255 {
		return nil, fieldError(field+".ttl", "%d: use 1 to 255, or 0 for 64", t.TTL)
	}
	port, err := parseUDPPort(field+".udp_port", t.UDPPort)
	if err != nil {
		return nil, err
	}
	return &dpdk.Tunnel{Kind: kind, Local: local, Remote: remote, SrcMAC: src, DstMAC: dst, Key: key, HasKey: has,
		TTL: uint8(t.TTL), UDPPort: port}, nil
}

// outputSpecs checks the outputs against the routes (by name, in
// order) and makes their specs.
func (c *Config) outputSpecs(routes []pipeline.RouteSpec) ([]pipeline.OutputSpec, error) {
	if len(c.Outputs) > dpdk.MaxOutputs {
		return nil, fieldError("outputs", "%d outputs: at most %d", len(c.Outputs), dpdk.MaxOutputs)
	}
	routeBit := map[string]uint32{}
	for i, r := range routes {
		routeBit[r.Name] = 1 << i
	}
	var out []pipeline.OutputSpec
	names := map[string]int{}
	for i, o := range c.Outputs {
		f := fmt.Sprintf("outputs[%d]", i)
		if !validRouteName(o.Name) {
			return nil, fieldError(f+".name", "%q: name the output with letters, digits, '.', '_' or '-'", o.Name)
		}
		if j, dup := names[o.Name]; dup {
			return nil, fieldError(f+".name", "%q is also outputs[%d]'s name", o.Name, j)
		}
		names[o.Name] = i
		f = fmt.Sprintf("outputs[%d] (%s)", i, o.Name)
		if o.Port == "" {
			return nil, fieldError(f+".port", "empty: name the DPDK port to send on (a vdev of eal.vdevs or a PCI address)")
		}
		s := pipeline.OutputSpec{PortName: o.Port, OutputSpec: dpdk.OutputSpec{Name: o.Name, InsertVLAN: o.InsertVLAN,
			StripVLAN: o.StripVLAN}}
		for _, r := range o.Routes {
			bit, ok := routeBit[r]
			if !ok {
				return nil, fieldError(f+".routes", "%q is not a route's name", r)
			}
			s.Routes |= bit
		}
		if o.KeepVLAN != nil {
			if *o.KeepVLAN < 0 || *o.KeepVLAN > 4095 {
				return nil, fieldError(f+".keep_vlan", "%d: a VLAN id is 0 to 4095", *o.KeepVLAN)
			}
			v := uint16(*o.KeepVLAN)
			s.KeepVLAN = &v
		}
		switch {
		case o.Snaplen != 0 && (o.Snaplen < 64 || o.Snaplen > 65535):
			return nil, fieldError(f+".snaplen", "%d: use 0 (whole frames) or 64 to 65535", o.Snaplen)
		case o.Trim < 0 || o.Trim > 64:
			return nil, fieldError(f+".trim", "%d: use 0 to 64 (bytes taken off each frame's end, such as a 4-byte FCS)", o.Trim)
		case o.MTU != 0 && (o.MTU < 576 || o.MTU > 65535):
			return nil, fieldError(f+".mtu", "%d: use 0 (the port's) or 576 to 65535", o.MTU)
		case o.TxDescriptors < 0 || o.TxDescriptors > 32768:
			return nil, fieldError(f+".tx_descriptors", "%d: use 0 (1024) to 32768", o.TxDescriptors)
		}
		s.Snaplen, s.Trim, s.MTU = uint32(o.Snaplen), uint32(o.Trim), uint32(o.MTU)
		switch o.Oversize {
		case "", "truncate":
		case "drop":
			s.DropOversize = true
		default:
			return nil, fieldError(f+".oversize", "%q: use truncate (cut to the MTU, counted truncated) or drop (counted too_big)", o.Oversize)
		}
		t, err := o.Tunnel.spec(f + ".tunnel")
		if err != nil {
			return nil, err
		}
		if t != nil && t.Kind == dpdk.TunnelGRE && (o.InsertVLAN || o.StripVLAN) {
			return nil, fieldError(f+".tunnel.type", "gre carries no Ethernet header, so no VLAN tag to insert or strip: use gretap")
		}
		s.Tunnel = t
		out = append(out, s)
	}
	return out, nil
}

// outputPorts adds to ports each output's port: a port of ports transmits
// too, any other is opened to transmit only. Ports get the larger of
// their outputs' tx_descriptors.
func (c *Config) outputPorts(ports []pipeline.PortSpec) []pipeline.PortSpec {
	for _, o := range c.Outputs {
		i := 0
		for i < len(ports) && ports[i].Name != o.Port {
			i++
		}
		if i == len(ports) {
			ports = append(ports, pipeline.PortSpec{PortSpec: dpdk.PortSpec{Name: o.Port}})
		}
		ports[i].Output = true
		ports[i].TxDescriptors = max(ports[i].TxDescriptors, uint16(o.TxDescriptors))
	}
	return ports
}
