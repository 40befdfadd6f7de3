package test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// TestIdleLcoreSleeps: once the capture file is replayed, nothing comes,
// and the RX lcore sleeps between polls (capture.idle_polls: 1024)
// and says so (fastcapa_rx_lcore_sleeps_total, _sleep_seconds_total);
// with idle_polls: 0 it busy-polls and never sleeps. Every packet is
// delivered either way. The process's CPU time over the idle seconds is
// logged for both (docs/BENCHMARKS.md), not asserted.
func TestIdleLcoreSleeps(t *testing.T) {
	testenv.RequireRoot(t)
	file := filepath.Join(testenv.Pcaps(t), "metron-example.pcap")
	b := startBroker(t, 0, "pcap", "")
	const idle = 2 * time.Second
	for _, tc := range []struct {
		name  string
		polls int
	}{{"adaptive", 1024}, {"busy", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeConfig(t, map[string]any{"capture": map[string]any{"idle_polls": tc.polls}})
			d := startDaemon(t, nil, append(ealArgs(t), "-config", cfg, "-brokers", b.Addr, "-topic", "idle-"+tc.name,
				"-vdev", "net_pcap0,rx_pcap="+file, "-port", "net_pcap0")...)
			waitReceived(t, d, 761, 30*time.Second)
			addr := logField(t, d, "metrics", "listen")
			cpu0 := processCPU(t, d.cmd.Process.Pid)
			time.Sleep(idle)
			cpu := processCPU(t, d.cmd.Process.Pid) - cpu0
			_, body := get(t, "http://"+addr+"/metrics")
			m := parseMetrics(t, body)
			sleeps, slept := m["fastcapa_rx_lcore_sleeps_total"], m["fastcapa_rx_lcore_sleep_seconds_total"]
			if code := d.stop(t); code != 0 {
				t.Errorf("exit status %d", code)
			}
			f := d.final(t)
			f.check(t)
			if f.Delivered != 761 {
				t.Errorf("delivered %d of 761", f.Delivered)
			}
			switch {
			case tc.polls > 0 && (sleeps == 0 || slept == 0):
				t.Errorf("idle for %v: %v sleeps, %v s asked", idle, sleeps, slept)
			case tc.polls == 0 && sleeps != 0:
				t.Errorf("busy polling slept %v times", sleeps)
			}
			t.Logf("%s: over %v idle the process used %v of CPU (%.0f %% of one CPU); %v sleeps, %.3f s asked",
				tc.name, idle, cpu, 100*cpu.Seconds()/idle.Seconds(), sleeps, slept)
		})
	}
}

// processCPU is a process's user + system CPU time so far, from
// /proc/PID/stat (clock ticks of 10 ms).
func processCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command (which may hold spaces) in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// TestIdleBurstLoss: a top-speed burst of 100,000 frames arriving at an
// idle fastcapa whose RX lcore sleeps while idle (idle_polls 1024) lands
// whole in fastcapa's default af_packet ring (32768 frames). Into a ring
// of 64 frames (as TestAFPacketSmallRingLossCounted), sleeping up to
// 50 µs, up to 5 µs, and busy polling (idle_polls 0, the default),
// alternated three times: each run's loss is counted whole (burstRun's
// accounting and topic checks); the kernel's drops of each are logged to
// compare them (docs/BENCHMARKS.md).
func TestIdleBurstLoss(t *testing.T) {
	testenv.RequireRoot(t)
	adaptive := writeConfig(t, map[string]any{"capture": map[string]any{"idle_polls": 1024}})
	if r := burstRun(t, "", "-config", adaptive); r.inTopic != r.sent {
		t.Errorf("sleeping while idle, default ring: %d of the %d frames sent are in the topic", r.inTopic, r.sent)
	}
	for round := 1; round <= 3; round++ {
		for _, tc := range []struct {
			name  string
			polls int
			sleep string
		}{{"adaptive", 1024, "50us"}, {"adaptive-5us", 1024, "5us"}, {"busy", 0, "50us"}} {
			cfg := writeConfig(t, map[string]any{"capture": map[string]any{"idle_polls": tc.polls, "idle_sleep": tc.sleep}})
			r := burstRun(t, ",framecnt=64", "-config", cfg)
			t.Logf("round %d %s: %d sent, %d delivered, %d dropped by the kernel", round, tc.name, r.sent,
				r.final.Delivered, r.final.NICDropped)
		}
	}
}
