package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestParsePortFlag(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Port
	}{
		{"net_af_packet0", Port{Name: "net_af_packet0"}},
		{"0000:03:00.0,rx_queues=4,vlan=100", Port{Name: "0000:03:00.0", RxQueues: 4, VLAN: 100}},
		{"net_tap0,tunnel=gretap,key=0.0.0.7,local=192.0.2.1",
			Port{Name: "net_tap0", Tunnel: &TunnelIn{Type: "gretap", Key: "0.0.0.7", Local: "192.0.2.1"}}},
		{"net_tap0,tunnel=vxlan,key=42,udp_port=8472", Port{Name: "net_tap0", Tunnel: &TunnelIn{Type: "vxlan", Key: "42", UDPPort: 8472}}},
	} {
		got, err := ParsePortFlag(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestParseOutputFlag(t *testing.T) {
	keep := 100
	for _, c := range []struct {
		in   string
		want Output
	}{
		{"net_af_packet2", Output{Name: "net_af_packet2", Port: "net_af_packet2"}},
		{"0000:03:00.1,snaplen=128,trim=4,strip_vlan", Output{Name: "tx3", Port: "0000:03:00.1", Snaplen: 128, Trim: 4, StripVLAN: true}},
		{"net_tap1,name=mirror,insert_vlan,keep_vlan=100,routes=web:dns,mtu=1500,oversize=drop",
			Output{Name: "mirror", Port: "net_tap1", InsertVLAN: true, KeepVLAN: &keep, Routes: []string{"web", "dns"}, MTU: 1500, Oversize: "drop"}},
		{"net_tap1,tunnel=gretap,remote=192.0.2.2,local=192.0.2.1,key=7,src_mac=02:00:00:00:00:01,dst_mac=02:00:00:00:00:02,ttl=9",
			Output{Name: "net_tap1", Port: "net_tap1", Tunnel: &TunnelOut{Type: "gretap", Remote: "192.0.2.2", Local: "192.0.2.1", Key: "7",
				SrcMAC: "02:00:00:00:00:01", DstMAC: "02:00:00:00:00:02", TTL: 9}}},
	} {
		got, err := ParseOutputFlag(c.in, 3)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %+v, want %+v", c.in, got, c.want)
		}
	}
}

// A mistyped flag is refused with what was wrong, never half-read.
func TestParseFlagReject(t *testing.T) {
	for _, c := range []struct {
		in, want string
	}{
		{"", "give the port's name"},
		{",snaplen=1", "give the port's name"},
		{"net_tap1,snaplne=64", "snaplne"},
		{"net_tap1,snaplen=64,snaplen=65", "snaplen"},
		{"net_tap1,snaplen=big", "big"},
		{"net_tap1,=3", `"=3" is not key=value`},
		{"net_tap1,port=net_tap2", `"port=net_tap2" is not key=value`},
		{"net_tap1,strip_vlan=maybe", "maybe"},
	} {
		_, err := ParseOutputFlag(c.in, 0)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "-tx ") {
			t.Errorf("%q: error %v, want one starting -tx and naming %q", c.in, err, c.want)
		}
	}
	if _, err := ParsePortFlag("net_tap0,vlan=1,remote=192.0.2.2"); err == nil || !strings.Contains(err.Error(), "remote") {
		t.Errorf("a tunnel receiver has no remote: %v", err)
	}
}
