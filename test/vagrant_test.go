package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// TestVagrantLab checks deploy/vagrant without a hypervisor: Ruby parses
// the Vagrantfile; `vagrant validate --ignore-provider` checks every
// setting Vagrant core and the ansible provisioner know (unknown keys,
// network and provisioner options) without a provider; `vagrant validate`
// with VAGRANT_DEFAULT_PROVIDER=libvirt also checks the libvirt block
// through the vagrant-libvirt plugin (no libvirt daemon needed). The
// VirtualBox block is checked only where VirtualBox is installed: Vagrant
// refuses to load its provider without VBoxManage. Validate checks neither
// that the playbook exists nor its contents, so `ansible-playbook
// --syntax-check` reads lab.yml and the site.yml it imports, and
// ansible-lint (production profile) lints them. Each check but the lint is
// also run on a broken copy, which must fail. About 10 s, no disk to speak of.
func TestVagrantLab(t *testing.T) {
	ruby := testenv.RequireTool(t, "ruby")
	vagrant := testenv.RequireTool(t, "vagrant")
	playbook := testenv.RequireTool(t, "ansible-playbook")
	dir := filepath.Join(testenv.Root(), "deploy", "vagrant")
	vfile := filepath.Join(dir, "Vagrantfile")
	src, err := os.ReadFile(vfile)
	if err != nil {
		t.Fatal(err)
	}

	run := func(dir string, env []string, name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		// Vagrant keeps its state (.vagrant/) in the dotfile path: not in the tree.
		cmd.Env = append(append(os.Environ(), "VAGRANT_DOTFILE_PATH="+t.TempDir(), "VAGRANT_CHECKPOINT_DISABLE=1"), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	libvirt := []string{"VAGRANT_DEFAULT_PROVIDER=libvirt"}

	if out, err := run(dir, nil, ruby, "-c", vfile); err != nil || !strings.Contains(out, "Syntax OK") {
		t.Fatalf("ruby -c Vagrantfile: %v\n%s", err, out)
	}
	for _, env := range [][]string{nil, libvirt} {
		args := []string{"validate"}
		if env == nil {
			args = append(args, "--ignore-provider")
		}
		out, err := run(dir, env, vagrant, args...)
		if err != nil || !strings.Contains(out, "Vagrantfile validated successfully") {
			t.Fatalf("%v vagrant %v: %v\n%s", env, args, err, out)
		}
		t.Logf("%v vagrant %s: %s", env, strings.Join(args, " "), strings.TrimSpace(out))
	}

	// The same checks must fail on a Vagrantfile with a misspelt setting
	// in each part they claim to cover.
	for _, c := range []struct{ part, old, new string }{
		{"core", `config.vm.box = BOX`, `config.vm.box = BOX; config.vm.boxx = 1`},
		{"ansible provisioner", `ansible.limit = "all"`, `ansible.limit = "all"; ansible.playbok = 1`},
		{"libvirt", `lv.cpus = node[:cpus]`, `lv.cpus = node[:cpus]; lv.bogus = 1`},
	} {
		if !strings.Contains(string(src), c.old) {
			t.Fatalf("Vagrantfile has no %q to break", c.old)
		}
		bad := t.TempDir()
		if err := os.WriteFile(filepath.Join(bad, "Vagrantfile"), []byte(strings.Replace(string(src), c.old, c.new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := run(bad, libvirt, vagrant, "validate")
		if err == nil || !strings.Contains(out, "shouldn't exist") {
			t.Errorf("vagrant validate passed a misspelt %s setting (%s): %v\n%s", c.part, c.new, err, out)
		}
	}

	// lab.yml, the site.yml it imports (deploy/ansible) and its roles parse.
	site := filepath.Join(testenv.Root(), "deploy", "ansible", "site.yml")
	if _, err := os.Stat(site); err != nil {
		t.Fatalf("lab.yml imports %s: %v", site, err)
	}
	check := func(dir string) (string, error) {
		return run(dir, []string{"ANSIBLE_CONFIG=" + filepath.Join(dir, "ansible.cfg")},
			playbook, "--syntax-check", "-i", "source,sink,", "lab.yml")
	}
	if out, err := check(dir); err != nil {
		t.Fatalf("ansible-playbook --syntax-check lab.yml: %v\n%s", err, out)
	}
	// ansible-lint's production profile over the lab's playbooks (and what
	// lab.yml imports).
	lint := testenv.RequireTool(t, "ansible-lint")
	if out, err := run(dir, []string{"ANSIBLE_CONFIG=" + filepath.Join(dir, "ansible.cfg")},
		lint, "--offline", "--nocolor", "-p", "lab.yml", "validate.yml"); err != nil {
		t.Fatalf("ansible-lint -p lab.yml validate.yml: %v\n%s", err, out)
	}
	lab, err := os.ReadFile(filepath.Join(dir, "lab.yml"))
	if err != nil {
		t.Fatal(err)
	}
	bad := t.TempDir()
	for _, f := range []string{"ansible.cfg", "lab.yml"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		if f == "lab.yml" {
			b = append(lab, []byte("\n- name: broken\n  hosts: all\n  tasks:\n    - ansible.builtin.command: echo {{ x }}: y\n")...)
		}
		if err := os.WriteFile(filepath.Join(bad, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := check(bad); err == nil {
		t.Errorf("ansible-playbook --syntax-check passed a broken lab.yml:\n%s", out)
	}
}

// TestVagrantLabValidation runs the lab's validation plays
// (deploy/vagrant/validate.yml) against this machine, with the lab's
// pieces in its place: tcpreplay looping metron-example.pcap into a veth
// pair, fastcapa on net_af_packet at the other end, devbroker and
// pcapstore sink. They must pass; with the replay stopped, the "packets
// are sent" play must fail. About 40 s (the sink's 2 s files, the failing
// run's 5 s waits).
func TestVagrantLabValidation(t *testing.T) {
	testenv.RequireRoot(t)
	playbook := testenv.RequireTool(t, "ansible-playbook")
	for _, tool := range []string{"ip", "tcpreplay", "tcpdump", "kcat", "curl"} {
		testenv.RequireTool(t, tool)
	}
	pcapFile := filepath.Join(testenv.Pcaps(t), "metron-example.pcap")

	// A veth pair in this namespace: the lab's source NIC is inject, the
	// sink's is capture.
	id := fmt.Sprintf("%d", os.Getpid()%100000)
	capture, inject := "fvc"+id, "fvi"+id
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	sh("ip", "link", "add", capture, "type", "veth", "peer", "name", inject)
	t.Cleanup(func() { exec.Command("ip", "link", "del", capture).Run() })
	for _, dev := range []string{capture, inject} {
		sh("sysctl", "-qw", "net.ipv6.conf."+dev+".disable_ipv6=1")
		sh("ip", "link", "set", dev, "up")
	}

	b := startBroker(t, 0, "pcap", "")
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d := startDaemon(t, nil, append(ealArgs(t), "-vdev", "net_af_packet0,iface="+capture, "-port", "net_af_packet0",
		"-brokers", b.Addr, "-metrics-listen", metricsAddr)...)
	waitLog(t, d, "capturing", 30*time.Second)
	t.Cleanup(func() { d.stop(t) })

	store := t.TempDir()
	sink := exec.Command(filepath.Join(bin, "pcapstore"), "sink", "-brokers", b.Addr, "-topic", "pcap", "-group", "lab",
		"-dir", store, "-max-span", "2s", "-metrics-listen", "")
	var sinkLog syncBuffer
	sink.Stderr = &sinkLog
	if err := sink.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sink.Process.Signal(syscall.SIGTERM)
		sink.Wait()
	})

	replay := exec.Command("tcpreplay", "-q", "-i", inject, "--pps=1000", "--loop=0", pcapFile)
	if err := replay.Start(); err != nil {
		t.Fatal(err)
	}
	stopReplay := func() {
		if replay.ProcessState == nil {
			replay.Process.Kill()
			replay.Wait()
		}
	}
	t.Cleanup(stopReplay)

	dir := filepath.Join(testenv.Root(), "deploy", "vagrant")
	inv := filepath.Join(t.TempDir(), "inventory")
	if err := os.WriteFile(inv, []byte("[replay]\nlocalhost\n[capture]\nlocalhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(wait int) (string, error) {
		vars := fmt.Sprintf(`{"ansible_connection": "local", "ansible_become": false, "ansible_python_interpreter": "/usr/bin/python3",
			"lab_iface": %q, "fastcapa_brokers": %q, "fastcapa_topic": "pcap", "fastcapa_metrics_listen": %q,
			"lab_store_dir": %q, "lab_wait": %d}`, inject, b.Addr, metricsAddr, store, wait)
		cmd := exec.Command(playbook, "-i", inv, "-e", vars, "validate.yml")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(dir, "ansible.cfg"), "ANSIBLE_NOCOLOR=1")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run(30)
	if err != nil {
		t.Fatalf("validate.yml failed with the lab running: %v\n%s\nsink log:\n%s", err, out, sinkLog.String())
	}
	for _, want := range []string{"packets sent: ", "messages received from fastcapa", "stored: "} {
		if !strings.Contains(out, want) {
			t.Errorf("validate.yml passed without saying %q:\n%s", want, out)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "packets sent: ") || strings.Contains(l, "stored: ") {
			t.Log(strings.TrimSpace(l))
		}
	}

	stopReplay()
	out, err = run(5)
	if err == nil || !strings.Contains(out, "Validate that packets are sent") || strings.Contains(out, "packets sent: ") {
		t.Errorf("validate.yml passed \"packets are sent\" with the replay stopped: %v\n%s", err, out)
	}
}
