package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestAFPacketVdevArgs: a net_af_packet vdev without ring geometry gets
// fastcapa's, and qpairs for a port of several queues; whatever the user
// gave is kept as given, and other drivers are left alone.
func TestAFPacketVdevArgs(t *testing.T) {
	ring := fmt.Sprintf("blocksz=%d,framesz=%d,framecnt=%d", AFPacketBlockSize, AFPacketFrameSize, AFPacketFrameCount)
	for _, tc := range []struct {
		name, vdev string
		queues     int
		want       string
	}{
		{"none given", "net_af_packet0,iface=eth1", 1, "net_af_packet0,iface=eth1," + ring},
		{"alias", "eth_af_packet1,iface=eth1", 0, "eth_af_packet1,iface=eth1," + ring},
		{"framecnt given", "net_af_packet0,iface=eth1,framecnt=64", 1, "net_af_packet0,iface=eth1,framecnt=64"},
		{"blocksz given", "net_af_packet0,iface=eth1,blocksz=8192", 1, "net_af_packet0,iface=eth1,blocksz=8192"},
		{"framesz given", "net_af_packet0,iface=eth1,framesz=4096,blocksz=4096", 1, "net_af_packet0,iface=eth1,framesz=4096,blocksz=4096"},
		{"queues", "net_af_packet0,iface=eth1,framecnt=4096", 4, "net_af_packet0,iface=eth1,framecnt=4096,qpairs=4"},
		{"qpairs given", "net_af_packet0,iface=eth1,qpairs=2,framecnt=4096", 4, "net_af_packet0,iface=eth1,qpairs=2,framecnt=4096"},
		{"other driver", "net_pcap0,iface=eth1", 4, "net_pcap0,iface=eth1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, _, _ := strings.Cut(tc.vdev, ",")
			for _, metron := range []bool{false, true} {
				c := Defaults()
				c.Ports = []Port{{Name: name, RxQueues: tc.queues}}
				var want []string
				if metron {
					c.EAL.Args = []string{"--vdev=" + tc.vdev, "--vdev", tc.vdev}
					want = []string{"--vdev=" + tc.want, "--vdev", tc.want}
				} else {
					c.EAL.Vdevs = []string{tc.vdev}
					want = []string{"--vdev", tc.want}
				}
				args := c.EALArgs()
				if i := slices.Index(args, want[0]); i < 0 || !slices.Equal(args[i:i+len(want)], want) {
					t.Errorf("metron %v: EALArgs() = %q, want %q in it", metron, args, want)
				}
				added := ""
				for _, ch := range c.VdevChoices() {
					if ch.Vdev != name || ch.Why == "" {
						t.Errorf("choice %+v: names %q or says no why", ch, name)
					}
					added += "," + ch.Added
				}
				if wantAdded := strings.TrimPrefix(tc.want, tc.vdev); metron {
					if added != wantAdded+wantAdded {
						t.Errorf("metron: choices add %q, want %q twice", added, wantAdded)
					}
				} else if added != wantAdded {
					t.Errorf("choices add %q, want %q", added, wantAdded)
				}
			}
		})
	}
}
