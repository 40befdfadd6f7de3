package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/fastcapa-go/fastcapa/internal/yamlconf"
	"gopkg.in/yaml.v3"
)

// ParsePortFlag reads the value of fastcapa's -port: "NAME[,key=value...]",
// where the keys are the YAML fields of ports[] (rx_queues, vlan, mtu, ...)
// and tunnel=TYPE with key, local and udp_port make the port a tunnel
// receiver (ports[].tunnel). A key without a value is true.
//
//	-port net_af_packet0,vlan=100
//	-port net_af_packet1,tunnel=gretap,key=7,local=192.0.2.1
func ParsePortFlag(s string) (Port, error) {
	var p Port
	err := decodeFlag("-port", s, "name", []string{"key", "local", "udp_port"}, &p)
	return p, err
}

// ParseOutputFlag reads the value of fastcapa's -tx: "PORT[,key=value...]",
// where the keys are the YAML fields of outputs[] (snaplen, trim,
// strip_vlan, insert_vlan, keep_vlan, mtu, oversize, name; routes as
// a:b) and tunnel=TYPE with remote, local, key, src_mac, dst_mac, ttl and
// udp_port is its tunnel (outputs[].tunnel). The output is named for its
// port unless name is given (or the port's name, a PCI address, is not a
// valid one: then txN, N its place among the -tx flags).
//
//	-tx net_af_packet2,snaplen=128,strip_vlan
//	-tx net_af_packet3,tunnel=vxlan,key=42,remote=192.0.2.2,local=192.0.2.1,src_mac=...,dst_mac=...
func ParseOutputFlag(s string, n int) (Output, error) {
	var o Output
	if err := decodeFlag("-tx", s, "port",
		[]string{"remote", "local", "key", "src_mac", "dst_mac", "ttl", "udp_port"}, &o); err != nil {
		return o, err
	}
	if o.Name == "" {
		o.Name = o.Port
		if !validRouteName(o.Name) {
			o.Name = fmt.Sprintf("tx%d", n)
		}
	}
	return o, nil
}

// decodeFlag decodes "FIRST[,key=value...]" into v as the YAML mapping
// {first: FIRST, key: value, tunnel: {type: ..., tunnelKeys...}}, by the
// one decoder of the YAML (unknown and repeated fields are errors).
func decodeFlag(flag, s, first string, tunnelKeys []string, v any) error {
	head, rest, _ := strings.Cut(s, ",")
	if head == "" {
		return fmt.Errorf("%s %q: give the port's name first, then any key=value", flag, s)
	}
	scalar := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }
	top := &yaml.Node{Kind: yaml.MappingNode, Line: 1, Content: []*yaml.Node{scalar(first), scalar(head)}}
	var tunnel *yaml.Node
	inTunnel := func(k, v string) {
		if tunnel == nil {
			tunnel = &yaml.Node{Kind: yaml.MappingNode}
			top.Content = append(top.Content, scalar("tunnel"), tunnel)
		}
		tunnel.Content = append(tunnel.Content, scalar(k), scalar(v))
	}
	for _, kv := range strings.Split(rest, ",") {
		if rest == "" {
			break
		}
		k, val, ok := strings.Cut(kv, "=")
		switch {
		case k == "" || k == first:
			return fmt.Errorf("%s %q: %q is not key=value", flag, s, kv)
		case !ok:
			val = "true"
		}
		switch {
		case k == "tunnel":
			inTunnel("type", val)
		case slices.Contains(tunnelKeys, k):
			inTunnel(k, val)
		case k == "routes":
			seq := &yaml.Node{Kind: yaml.SequenceNode}
			for _, r := range strings.Split(val, ":") {
				seq.Content = append(seq.Content, scalar(r))
			}
			top.Content = append(top.Content, scalar(k), seq)
		default:
			top.Content = append(top.Content, scalar(k), scalar(val))
		}
	}
	if err := yamlconf.DecodeNode(top, v, flag); err != nil {
		return fmt.Errorf("%s %q: %s", flag, s, strings.TrimPrefix(strings.TrimPrefix(err.Error(), "config: "), "line 1: "))
	}
	return nil
}
