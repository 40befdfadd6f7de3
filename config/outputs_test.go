package config

import (
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/fastcapa-go/fastcapa/dpdk"
	"github.com/fastcapa-go/fastcapa/pipeline"
)

func gretapOut() *TunnelOut {
	return &TunnelOut{Type: "gretap", Remote: "192.0.2.2", Local: "192.0.2.1", Key: "1.2.3.4",
		SrcMAC: "02:00:00:00:00:01", DstMAC: "02:00:00:00:00:02"}
}

// TestOutputsSpec: outputs and tunnel receivers reach the pipeline.Spec
// typed: route names as a mask, keys from dotted quads and integers, an
// output's port not among ports added to transmit only, one among them
// marked to transmit too.
func TestOutputsSpec(t *testing.T) {
	c := valid()
	c.Ports = []Port{{Name: "net_pcap0", VLAN: 100, Tunnel: &TunnelIn{Type: "vxlan", Key: "42", Local: "192.0.2.1"}},
		{Name: "net_pcap1", VLAN: 200}}
	c.Routes = []Route{{Name: "web", Filter: "tcp", Topic: "w"}, {Name: "dns", Filter: "udp", Topic: "d"}}
	keep := 7
	c.Outputs = []Output{
		{Name: "mirror", Port: "net_pcap1", Routes: []string{"dns"}, InsertVLAN: true, KeepVLAN: &keep, Snaplen: 128,
			Trim: 4, Oversize: "drop", TxDescriptors: 2048},
		{Name: "remote", Port: "net_null0", Tunnel: gretapOut()},
	}
	sp, err := c.Spec()
	if err != nil {
		t.Fatal(err)
	}
	if len(sp.Ports) != 3 || sp.Ports[0].Output || !sp.Ports[1].Output || !sp.Ports[2].Output ||
		sp.Ports[2].Name != "net_null0" || sp.Ports[2].RxQueues != 0 || sp.Ports[1].TxDescriptors != 2048 {
		t.Errorf("ports: %+v", sp.Ports)
	}
	if sp.Ports[0].VLAN != 100 || sp.Ports[1].VLAN != 200 {
		t.Errorf("vlans %d %d", sp.Ports[0].VLAN, sp.Ports[1].VLAN)
	}
	if tin := sp.Ports[0].Tunnel; tin == nil || *tin != (dpdk.TunnelIn{Kind: dpdk.TunnelVXLAN, Key: 42, HasKey: true,
		Local: netip.MustParseAddr("192.0.2.1")}) {
		t.Errorf("tunnel receiver %+v", tin)
	}
	k7 := uint16(7)
	want := []pipeline.OutputSpec{
		{PortName: "net_pcap1", OutputSpec: dpdk.OutputSpec{Name: "mirror", Routes: 2, InsertVLAN: true, KeepVLAN: &k7,
			Snaplen: 128, Trim: 4, DropOversize: true}},
		{PortName: "net_null0", OutputSpec: dpdk.OutputSpec{Name: "remote", Tunnel: &dpdk.Tunnel{Kind: dpdk.TunnelGRETAP,
			Local: netip.MustParseAddr("192.0.2.1"), Remote: netip.MustParseAddr("192.0.2.2"),
			SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, Key: 0x01020304, HasKey: true}}},
	}
	if !reflect.DeepEqual(sp.Outputs, want) {
		t.Errorf("outputs\n got %+v\nwant %+v", sp.Outputs, want)
	}
}

// TestOutputsReject: each bad output or tunnel field is refused, naming
// the field.
func TestOutputsReject(t *testing.T) {
	neg := -1
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"no name", func(c *Config) { c.Outputs = []Output{{Port: "x"}} }, "outputs[0].name"},
		{"twice", func(c *Config) { c.Outputs = []Output{{Name: "a", Port: "x"}, {Name: "a", Port: "y"}} }, "outputs[1].name"},
		{"no port", func(c *Config) { c.Outputs = []Output{{Name: "a"}} }, "outputs[0] (a).port"},
		{"unknown route", func(c *Config) { c.Outputs = []Output{{Name: "a", Port: "x", Routes: []string{"web"}}} }, "outputs[0] (a).routes"},
		{"keep vlan", func(c *Config) { c.Outputs = []Output{{Name: "a", Port: "x", KeepVLAN: &neg}} }, "outputs[0] (a).keep_vlan"},
		{"snaplen", func(c *Config) { c.Outputs = []Output{{Name: "a", Port: "x", Snaplen: 10}} }, "outputs[0] (a).snaplen"},
		{"mtu", func(c *Config) { c.Outputs = []Output{{Name: "a", Port: "x", MTU: 100}} }, "outputs[0] (a).mtu"},
		{"oversize", func(c *Config) { c.Outputs = []Output{{Name: "a", Port: "x", Oversize: "fragment"}} }, "outputs[0] (a).oversize"},
		{"tunnel type", func(c *Config) {
			tu := gretapOut()
			tu.Type = "ipip"
			c.Outputs = []Output{{Name: "a", Port: "x", Tunnel: tu}}
		}, "outputs[0] (a).tunnel.type"},
		{"tunnel key", func(c *Config) {
			tu := gretapOut()
			tu.Key = "1.2.3"
			c.Outputs = []Output{{Name: "a", Port: "x", Tunnel: tu}}
		}, "outputs[0] (a).tunnel.key"},
		{"vni too big", func(c *Config) {
			tu := gretapOut()
			tu.Type, tu.Key = "vxlan", "16777216"
			c.Outputs = []Output{{Name: "a", Port: "x", Tunnel: tu}}
		}, "outputs[0] (a).tunnel.key"},
		{"remote", func(c *Config) {
			tu := gretapOut()
			tu.Remote = "2001:db8::1"
			c.Outputs = []Output{{Name: "a", Port: "x", Tunnel: tu}}
		}, "outputs[0] (a).tunnel.remote"},
		{"no mac", func(c *Config) {
			tu := gretapOut()
			tu.DstMAC = ""
			c.Outputs = []Output{{Name: "a", Port: "x", Tunnel: tu}}
		}, "outputs[0] (a).tunnel.dst_mac"},
		{"gre and vlan", func(c *Config) {
			tu := gretapOut()
			tu.Type = "gre"
			c.Outputs = []Output{{Name: "a", Port: "x", Tunnel: tu, InsertVLAN: true}}
		}, "outputs[0] (a).tunnel.type"},
		{"port vlan", func(c *Config) { c.Ports[0].VLAN = 4095 }, "ports[0].vlan"},
		{"vxlan receiver without vni", func(c *Config) { c.Ports[0].Tunnel = &TunnelIn{Type: "vxlan"} }, "ports[0].tunnel.key"},
		{"receiver local", func(c *Config) { c.Ports[0].Tunnel = &TunnelIn{Type: "gre", Local: "x"} }, "ports[0].tunnel.local"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.edit(&c)
			err := c.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.HasPrefix(err.Error(), tc.field+": ") {
				t.Errorf("Validate() = %v, want an error of %s", err, tc.field)
			}
		})
	}
}
