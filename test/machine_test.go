package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// machine is a Debian 12 booted under a real systemd by
// deploy/systemd/test/nspawn.sh (an ephemeral copy of root.sh's root in
// systemd-nspawn -b, with a private network: a loopback only, plus any
// interface moved in).
type machine struct {
	name string
	pid1 string // the machine's systemd, as this host numbers it
}

// nspawnRoot is made (debootstrap, about 45 s, once per cache) before
// the first boot's clock starts.
var nspawnRoot struct {
	sync.Once
	err error
}

// bootMachine boots a machine named name with the given extra
// systemd-nspawn arguments (binds) and kernel arguments (systemd.wants=),
// and waits until its boot is done (running, or degraded: some unit of
// Debian's failed). The test's cleanup powers it off.
func bootMachine(t *testing.T, name string, args []string, kernelArgs ...string) *machine {
	t.Helper()
	testenv.RequireTool(t, "systemd-nspawn")
	testenv.RequireTool(t, "debootstrap")
	testenv.RequireTool(t, "nsenter")
	nspawnRoot.Do(func() {
		if out, err := exec.Command(filepath.Join(testenv.Root(), "deploy/systemd/test/root.sh")).CombinedOutput(); err != nil {
			nspawnRoot.err = fmt.Errorf("deploy/systemd/test/root.sh: %v\n%s", err, out)
		}
	})
	if nspawnRoot.err != nil {
		t.Fatal(nspawnRoot.err)
	}
	all := append(append([]string{name}, args...), "--")
	all = append(all, kernelArgs...)
	var console syncBuffer
	boot := exec.Command(filepath.Join(testenv.Root(), "deploy/systemd/test/nspawn.sh"), all...)
	boot.Stdout, boot.Stderr = &console, &console
	if err := boot.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { boot.Wait(); close(done) }()
	t.Cleanup(func() {
		boot.Process.Signal(syscall.SIGTERM) // nspawn: an orderly poweroff
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			boot.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s's console:\n%s", name, console.String())
		}
	})
	m := &machine{name: name}
	// The machine's PID 1: systemd-nspawn's one child.
	for deadline := time.Now().Add(60 * time.Second); m.pid1 == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", boot.Process.Pid, boot.Process.Pid))
		if f := strings.Fields(string(b)); len(f) == 1 {
			if comm, _ := os.ReadFile("/proc/" + f[0] + "/comm"); strings.TrimSpace(string(comm)) == "systemd" {
				m.pid1 = f[0]
			}
		}
	}
	if m.pid1 == "" {
		t.Fatalf("%s: no systemd after 60 s:\n%s", name, console.String())
	}
	// systemctl answers "Failed to connect to bus" until PID 1 has made
	// its private socket, early in the boot: ask again until it answers.
	out := ""
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if out, _ = m.run("systemctl", "is-system-running", "--wait"); !strings.Contains(out, "Failed to connect to bus") {
			break
		}
	}
	if !regexp.MustCompile(`^(running|degraded)\n`).MatchString(out) {
		t.Fatalf("%s: systemctl is-system-running: %s", name, out)
	}
	return m
}

// run runs a command inside the machine (its mount, network, PID, IPC and
// UTS namespaces, as ansible's nsenter connection does) and returns its
// output, stdout and stderr together.
func (m *machine) run(args ...string) (string, error) {
	cmd := exec.Command("nsenter", append([]string{"--target", m.pid1, "--mount", "--uts", "--ipc", "--net", "--pid", "--"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// must is run, failing the test on an error.
func (m *machine) must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := m.run(args...)
	if err != nil {
		t.Fatalf("%s: %s: %v\n%s", m.name, strings.Join(args, " "), err, out)
	}
	return out
}

// path is a path inside the machine, as this host reaches it.
func (m *machine) path(p string) string { return "/proc/" + m.pid1 + "/root" + p }

// inventoryHost is the machine as an ansible inventory host: ansible's
// nsenter connection (community.docker's) to its PID 1, as root (the root
// has no sudo: no become).
func (m *machine) inventoryHost() string {
	return fmt.Sprintf("{ansible_connection: community.docker.nsenter, ansible_nsenter_pid: %s, ansible_become: false, ansible_python_interpreter: /usr/bin/python3}", m.pid1)
}

// machineBroker is what bootMachine needs for a broker in the machine:
// this run's devbroker on 127.0.0.1:9092 with the topic pcap, started at
// boot as devbroker.service (the nspawn arguments, and the kernel
// argument that enables it).
func machineBroker(t *testing.T) (args []string, kernelArg string) {
	t.Helper()
	unit := filepath.Join(t.TempDir(), "devbroker.service")
	if err := os.WriteFile(unit, []byte("[Service]\nExecStart=/usr/local/bin/devbroker -listen 127.0.0.1:9092 -topic pcap\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{
		"--bind-ro=" + filepath.Join(bin, "devbroker") + ":/usr/local/bin/devbroker",
		"--bind-ro=" + unit + ":/etc/systemd/system/devbroker.service",
	}, "systemd.wants=devbroker.service"
}
