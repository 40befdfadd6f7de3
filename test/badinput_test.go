package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/config"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// TestBadInput: each mistake gives exit status 2 and one error line that
// names the cause, and leaves no process behind.
func TestBadInput(t *testing.T) {
	testenv.RequireRoot(t)
	metron := filepath.Join(testenv.Pcaps(t), "metron-example.pcap")
	dir := t.TempDir()
	badYAML := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badYAML, []byte("kafka:\n  topic: pcap\n  topik: typo\n"), 0o644)
	vdev := []string{"-vdev", "net_pcap0,rx_pcap=" + metron}
	b := startBroker(t, 0, "pcap", "")
	badRoute := writeRoutes(t, []config.Route{{Name: "web", Filter: "tcp port 80", Topic: "web"},
		{Name: "dns", Filter: "udp prot 53", Topic: "dns"}})
	dead := testenv.DeadAddr(t)

	for _, c := range []struct {
		name string
		args []string
		want string // in the error line
	}{
		{"unknown yaml field", []string{"-config", badYAML}, "field topik not found"},
		{"missing broker", append(vdev, "-port", "net_pcap0"), "kafka.properties.bootstrap.servers: not set"},
		{"no such port", append(vdev, "-port", "net_pcap7", "-brokers", b.Addr), "port net_pcap7: port not found (ports found: [net_pcap0])"},
		{"ring size", append(vdev, "-port", "net_pcap0", "-brokers", b.Addr, "-ring-size", "1000"), "capture.ring_size: 1000 is not a power of two"},
		{"eal cannot start", append(vdev, "-port", "net_pcap0", "-brokers", b.Addr, "-lcores", "0,127"), "eal init: Invalid argument (EAL: lcore 127 unavailable)"},
		{"unknown librdkafka property", append(vdev, "-port", "net_pcap0", "-brokers", b.Addr, "-X", "no.such.property=1"), "No such configuration property"},
		{"filter that does not compile", append(vdev, "-port", "net_pcap0", "-brokers", b.Addr, "-filter", "tcp prot 80"),
			`capture.filter: filter "tcp prot 80": can't parse filter expression: syntax error`},
		{"route filter that does not compile", append(vdev, "-port", "net_pcap0", "-brokers", b.Addr, "-config", badRoute),
			`routes[1] (dns).filter: filter "udp prot 53": can't parse filter expression: syntax error`},
		{"bad sampling", append(vdev, "-port", "net_pcap0", "-brokers", b.Addr, "-sample", "2/10"),
			`capture.sample: "2/10": write 1/N (keep one packet in N) or P% (keep each with probability P/100)`},
		{"flow partitions without a broker", append(vdev, "-port", "net_pcap0", "-brokers", dead, "-partitioner", "flow"),
			"route default: partitioner flow needs the topic's partition count (or set partitions): topic pcap: metadata"},
		{"bad key unit", append(vdev, "-port", "net_pcap0", "-brokers", b.Addr, "-key-unit", "s"), "kafka.key_unit"},
		{"metrics address in use", append(vdev, "-port", "net_pcap0", "-brokers", b.Addr, "-metrics-listen", b.Addr),
			"metrics address " + b.Addr + ": listen tcp " + b.Addr + ": bind: address already in use"},
		{"metrics address malformed", append(vdev, "-port", "net_pcap0", "-brokers", b.Addr, "-metrics-listen", "9470"),
			"metrics.listen"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append(ealArgs(t), c.args...)
			expectStartupError(t, nil, args, args[5], c.want)
		})
	}
}

// expectStartupError runs fastcapa with args and wants exit status 2, one
// "fastcapa: " line containing want, and no process left whose command
// line holds mark (its EAL file prefix). It returns that line.
func expectStartupError(t *testing.T, env, args []string, mark, want string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "fastcapa"), args...)
	cmd.Env = append(os.Environ(), env...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("fastcapa did not exit")
	}
	if code := cmd.ProcessState.ExitCode(); code != 2 {
		t.Errorf("exit status %d, want 2", code)
	}
	var errLines []string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "fastcapa: ") {
			errLines = append(errLines, l)
		}
	}
	if len(errLines) != 1 || !strings.Contains(errLines[0], want) {
		t.Errorf("want one error line containing %q, output:\n%s", want, out.String())
	}
	if ps, _ := exec.Command("pgrep", "-f", mark).Output(); len(ps) > 0 {
		t.Errorf("processes left running: %s", ps)
	}
	if len(errLines) == 0 {
		return ""
	}
	return errLines[len(errLines)-1]
}

// TestEALInitNamesTheCause: when rte_eal_init fails, the one error line
// names EAL's own reason and what is wrong on the host, and no later
// start-up step runs (a second primary once went on to fail registering
// the timestamp dynfield, "No space left on device").
func TestEALInitNamesTheCause(t *testing.T) {
	testenv.RequireRoot(t)
	metron := filepath.Join(testenv.Pcaps(t), "metron-example.pcap")
	b := startBroker(t, 0, "pcap", "")

	t.Run("file prefix in use", func(t *testing.T) {
		args := append(ealArgs(t), "-vdev", "net_pcap0,rx_pcap="+metron, "-port", "net_pcap0", "-brokers", b.Addr)
		first := startDaemon(t, nil, args...)
		waitLog(t, first, "capturing", 30*time.Second)
		mark := fmt.Sprintf("second-%d", time.Now().UnixNano())
		line := expectStartupError(t, nil, append(args, "-topic", mark), mark,
			fmt.Sprintf("file prefix %s is in use by process %d", args[5], first.cmd.Process.Pid))
		for _, w := range []string{"(EAL: Cannot create lock on", "--file-prefix"} {
			if !strings.Contains(line, w) {
				t.Errorf("error line lacks %q: %s", w, line)
			}
		}
		if code := first.stop(t); code != 0 {
			t.Errorf("the first fastcapa exited %d", code)
		}
		first.final(t).check(t)
	})

	t.Run("no hugepages", func(t *testing.T) {
		zeroHugepages(t)
		prefix := uniquePrefix(t, "fce2e")
		args := []string{"-no-pci", "-file-prefix", prefix, "-log-format", "json", "-metrics-listen", "127.0.0.1:0",
			"-vdev", "net_pcap0,rx_pcap=" + metron, "-port", "net_pcap0", "-brokers", b.Addr}
		line := expectStartupError(t, nil, args, prefix, "no hugepages are reserved")
		for _, w := range []string{"Permission denied (EAL: Cannot get hugepage information.)",
			"echo 1024 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "--no-huge"} {
			if !strings.Contains(line, w) {
				t.Errorf("error line lacks %q: %s", w, line)
			}
		}
	})
}

// zeroHugepages makes sure no hugepage is reserved for the test, and
// puts back any count it changed.
func zeroHugepages(t *testing.T) {
	t.Helper()
	counts, _ := filepath.Glob("/sys/kernel/mm/hugepages/hugepages-*/nr_hugepages")
	if len(counts) == 0 {
		t.Fatal("no /sys/kernel/mm/hugepages: kernel without hugetlb support")
	}
	for _, p := range counts {
		old, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(old)) == "0" {
			continue
		}
		t.Cleanup(func() {
			if err := os.WriteFile(p, old, 0o644); err != nil {
				t.Errorf("restore %s: %v", p, err)
			}
		})
		if err := os.WriteFile(p, []byte("0"), 0o644); err != nil {
			t.Fatal(err)
		}
		if now, _ := os.ReadFile(p); strings.TrimSpace(string(now)) != "0" {
			t.Fatalf("%s: %s pages still reserved (in use?)", p, now)
		}
	}
}
