package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
// line holds mark (its EAL file prefix).
func expectStartupError(t *testing.T, env, args []string, mark, want string) {
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
}
