package config

import (
	"fmt"
	"strings"

	"github.com/fastcapa-go/fastcapa/pipeline"
)

// The packet ring fastcapa gives each queue of a net_af_packet vdev that
// names no ring geometry (devargs blocksz, framesz, framecnt). DPDK's own
// default, 512 frames, overflows in the kernel under a burst such as
// tcpreplay --topspeed of 100,000 64 B frames on a veth (21-35 % lost);
// 16,384 frames held it whole, and this is twice that for a busy host. Each
// queue maps a receive and a transmit ring of this size, locked in memory:
// 2 x 64 MiB.
const (
	AFPacketBlockSize  = 1 << 20 // few large blocks: the kernel allocates each one, and an array of them
	AFPacketFrameSize  = 2048    // DPDK's default: a 1518 B frame and the TPACKET_V2 header
	AFPacketFrameCount = 32768
)

// isAFPacket reports whether a vdev's name is one of net_af_packet's (its
// alias eth_af_packet included): EAL matches drivers by name prefix.
func isAFPacket(name string) bool {
	return strings.HasPrefix(name, "net_af_packet") || strings.HasPrefix(name, "eth_af_packet")
}

// completeVdev returns a vdev argument ("name,key=value,...") with
// fastcapa's choices added, and those choices. Only net_af_packet vdevs
// get any: the ring geometry when none of blocksz, framesz and framecnt is
// given, and qpairs = the port's rx_queues when qpairs is not given and
// the port asks for more than one queue (else the driver offers one, and
// rx_queues is clamped to it).
func (c *Config) completeVdev(vdev string) (string, []pipeline.VdevChoice) {
	parts := strings.Split(vdev, ",")
	name := strings.TrimSpace(parts[0])
	if !isAFPacket(name) {
		return vdev, nil
	}
	given := map[string]bool{}
	for _, kv := range parts[1:] {
		k, _, _ := strings.Cut(kv, "=")
		given[strings.TrimSpace(k)] = true
	}
	var choices []pipeline.VdevChoice
	if !given["blocksz"] && !given["framesz"] && !given["framecnt"] {
		add := fmt.Sprintf("blocksz=%d,framesz=%d,framecnt=%d", AFPacketBlockSize, AFPacketFrameSize, AFPacketFrameCount)
		choices = append(choices, pipeline.VdevChoice{Vdev: name, Added: add,
			Why: fmt.Sprintf("no ring geometry given: a ring of %d frames per queue holds a burst of 100,000 small frames "+
				"where DPDK's default of 512 drops them in the kernel; set blocksz, framesz or framecnt to choose your own",
				AFPacketFrameCount)})
	}
	if !given["qpairs"] {
		for _, p := range c.Ports {
			if p.Name == name && p.RxQueues > 1 {
				choices = append(choices, pipeline.VdevChoice{Vdev: name, Added: fmt.Sprintf("qpairs=%d", p.RxQueues),
					Why: fmt.Sprintf("port %s asks for rx_queues %d: one packet socket per queue", name, p.RxQueues)})
			}
		}
	}
	for _, ch := range choices {
		vdev += "," + ch.Added
	}
	return vdev, choices
}

// VdevChoices are the arguments fastcapa adds to the vdevs (eal.vdevs and
// --vdev in eal.args), for the log. EALArgs includes them.
func (c *Config) VdevChoices() []pipeline.VdevChoice {
	var all []pipeline.VdevChoice
	c.eachVdev(func(v string) string {
		v, ch := c.completeVdev(v)
		all = append(all, ch...)
		return v
	})
	return all
}

// eachVdev calls fn on every vdev argument, in eal.vdevs and after
// --vdev in eal.args (Metron's command line passes them there), and
// returns both lists with fn's results in place.
func (c *Config) eachVdev(fn func(string) string) (vdevs, args []string) {
	for _, v := range c.EAL.Vdevs {
		vdevs = append(vdevs, fn(v))
	}
	args = append([]string(nil), c.EAL.Args...)
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--vdev" && i+1 < len(args):
			i++
			args[i] = fn(args[i])
		case strings.HasPrefix(a, "--vdev="):
			args[i] = "--vdev=" + fn(strings.TrimPrefix(a, "--vdev="))
		}
	}
	return vdevs, args
}
