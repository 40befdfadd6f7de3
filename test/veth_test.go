package test

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// vethPair makes a veth pair for one test: the daemon captures on capture,
// tcpreplay sends into inject, which sits in a network namespace of its
// own. Neither end has an address and IPv6 is off, so the kernel adds no
// packets of its own.
type vethPair struct {
	capture, inject, netns string
}

// vethSeq numbers the pairs of one test binary, so their names differ.
var vethSeq atomic.Int32

func newVethPair(t *testing.T) vethPair {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "ip")
	id := fmt.Sprintf("%d%d", os.Getpid()%10000, vethSeq.Add(1)%1000)
	v := vethPair{capture: "fcc" + id, inject: "fci" + id, netns: "fcns" + id}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("ip", "netns", "add", v.netns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", v.netns).Run() })
	run("ip", "link", "add", v.capture, "type", "veth", "peer", "name", v.inject)
	t.Cleanup(func() { exec.Command("ip", "link", "del", v.capture).Run() })
	run("ip", "link", "set", v.inject, "netns", v.netns)
	run("sysctl", "-qw", "net.ipv6.conf."+v.capture+".disable_ipv6=1")
	run("ip", "netns", "exec", v.netns, "sysctl", "-qw", "net.ipv6.conf."+v.inject+".disable_ipv6=1")
	run("ip", "link", "set", v.capture, "up")
	run("ip", "netns", "exec", v.netns, "ip", "link", "set", v.inject, "up")
	return v
}

// replay sends a capture into the pair with tcpreplay at pps packets a
// second, loops times, and waits for it.
func (v vethPair) replay(t *testing.T, file string, pps, loops int) {
	t.Helper()
	testenv.RequireTool(t, "tcpreplay")
	if _, err := v.send(file, pps, loops); err != nil {
		t.Fatal(err)
	}
}

// send is replay for use off the test goroutine; pps 0 sends as fast as
// tcpreplay can (--topspeed). It returns how many packets tcpreplay says
// the interface took ("Successful packets").
func (v vethPair) send(file string, pps, loops int) (int, error) {
	rate := fmt.Sprintf("--pps=%d", pps)
	if pps <= 0 {
		rate = "--topspeed"
	}
	cmd := exec.Command("ip", "netns", "exec", v.netns, "tcpreplay", "-q", "-i", v.inject,
		rate, fmt.Sprintf("--loop=%d", loops), file)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("tcpreplay: %v: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if n, ok := strings.CutPrefix(strings.TrimSpace(line), "Successful packets:"); ok {
			return strconv.Atoi(strings.TrimSpace(n))
		}
	}
	return 0, fmt.Errorf("tcpreplay: no count of packets sent in its report: %s", out)
}

// vdev is the net_af_packet device on the capture end.
func (v vethPair) vdev() string {
	return "net_af_packet0,iface=" + v.capture
}
