package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
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

// TestVagrantLabMachines runs the vagrant lab's playbook, lab.yml, as
// `vagrant up` would, on two machines in place of the VMs (no hypervisor
// here): Debian 12 roots booted under a real systemd with systemd-nspawn
// -b, source and sink, joined by a veth pair (each end moved into one
// machine once booted, with the Vagrantfile's private_network addresses), reached
// through ansible's nsenter connection, with the Vagrantfile's groups and
// extra vars and the lab's ansible.cfg and lab_vars. Everything the lab
// does happens: its tools, lab-devbroker.service, the project's
// site.yml (the .deb, dpdk.service with NR_2M_PAGES, fastcapa.service on
// net_af_packet on the sink's lab NIC, on 2 MB hugepages the test
// reserves on the host since the machines' /sys is read-only,
// pcapstore-sink@lab.service), lab-replay.service (tcpreplay looping the
// sample on the source's NIC), then validate.yml, which must pass. The
// test's own oracle then reads the stored files on the host: each frame
// is one of the sample's, byte-exact. With the replay stopped,
// validate.yml must fail at "packets are sent". About 90 s.
func TestVagrantLabMachines(t *testing.T) {
	testenv.RequireRoot(t)
	playbook := testenv.RequireTool(t, "ansible-playbook")
	testenv.RequireTool(t, "ip")
	deb := builtDeb(t)
	file, recs := sample(t)
	holdHugepages(t)
	reserveHugepages(t, 512) // the lab's fastcapa_nr_2m_pages

	// The private network: a veth pair, one end in each machine.
	id := fmt.Sprintf("%d", os.Getpid()%100000)
	srcIf, sinkIf := "lsrc"+id, "lsnk"+id
	if out, err := exec.Command("ip", "link", "add", srcIf, "type", "veth", "peer", "name", sinkIf).CombinedOutput(); err != nil {
		t.Fatalf("ip link add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", srcIf).Run() }) // gone already if a machine took it
	const net = "192.168.56"
	nodes := []struct {
		name, iface, ip string
		m               *machine
	}{{"source", srcIf, net + ".10", nil}, {"sink", sinkIf, net + ".11", nil}}
	for i := range nodes {
		n := &nodes[i]
		n.m = bootMachine(t, "lab-"+n.name, []string{"--hostname=" + n.name})
		// Moved in after boot: nspawn's --network-interface= waits for
		// udev to have seen the interface, and no udev runs here.
		if out, err := exec.Command("ip", "link", "set", n.iface, "netns", n.m.pid1).CombinedOutput(); err != nil {
			t.Fatalf("ip link set %s netns: %v: %s", n.iface, err, out)
		}
		// What Vagrant's private_network does on a box.
		n.m.must(t, "sysctl", "-qw", "net.ipv6.conf."+n.iface+".disable_ipv6=1")
		n.m.must(t, "ip", "addr", "add", n.ip+"/24", "dev", n.iface)
		n.m.must(t, "ip", "link", "set", n.iface, "up")
		// The lab's apt task updates the package lists if they are older
		// than an hour (cache_valid_time), and these machines have no
		// route to a mirror: the root's lists, made with it by
		// debootstrap, count as fresh.
		n.m.must(t, "touch", "/var/lib/apt/lists")
	}
	src, sink := nodes[0].m, nodes[1].m

	dir := filepath.Join(testenv.Root(), "deploy", "vagrant")
	inv := filepath.Join(t.TempDir(), "inventory.yml")
	// The Vagrantfile's groups.
	if err := os.WriteFile(inv, []byte(fmt.Sprintf(`all:
  hosts:
    source: %s
    sink: %s
  children:
    replay: {hosts: {source: {}}}
    capture: {hosts: {sink: {}}}
    storage: {hosts: {sink: {}}}
    broker: {hosts: {sink: {}}}
`, src.inventoryHost(), sink.inventoryHost())), 0o644); err != nil {
		t.Fatal(err)
	}
	// The Vagrantfile's extra vars (lab_devbroker: this run's build).
	extra := fmt.Sprintf(`{"lab_net": %q, "lab_source_ip": %q, "lab_sink_ip": %q, "lab_dpdk": false,
		"lab_pcap": %q, "lab_repo": %q, "lab_devbroker": %q, "fastcapa_deb": %q}`,
		net, net+".10", net+".11", file, testenv.Root(), filepath.Join(bin, "devbroker"), deb)
	run := func(pb string, more ...string) (string, error) {
		cmd := exec.Command(playbook, append([]string{"-i", inv, "-e", extra, pb}, more...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(dir, "ansible.cfg"), "ANSIBLE_NOCOLOR=1", "ANSIBLE_RETRY_FILES_ENABLED=0")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("lab.yml")
	if err != nil {
		j, _ := sink.run("journalctl", "-q", "--no-pager", "-n", "80")
		t.Fatalf("lab.yml: %v\n%s\nsink's journal:\n%s", err, out, j)
	}
	t.Logf("lab.yml: %s", recap(out))
	for _, want := range []string{"packets sent: ", "messages received from fastcapa", "stored: "} {
		if !strings.Contains(out, want) {
			t.Errorf("lab.yml passed without saying %q:\n%s", want, out)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "packets sent: ") || strings.Contains(l, "stored: ") {
			t.Log(strings.TrimSpace(l))
		}
	}
	for _, u := range []string{"lab-devbroker.service", "fastcapa.service", "pcapstore-sink@lab.service"} {
		if out, _ := sink.run("systemctl", "is-active", u); out != "active\n" {
			t.Errorf("sink: %s is %q", u, out)
		}
	}
	if out, _ := src.run("systemctl", "is-active", "lab-replay.service"); out != "active\n" {
		t.Errorf("source: lab-replay.service is %q", out)
	}

	// The oracle: every stored frame is one of the sample's, byte-exact.
	sample := map[string]bool{}
	for _, r := range recs {
		sample[string(r.Data)] = true
	}
	var files []string
	filepath.Walk(sink.path("/var/lib/pcapstore/lab/all"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.HasSuffix(p, ".pcap") && !strings.HasPrefix(info.Name(), ".") {
			files = append(files, p)
		}
		return nil
	})
	stored := 0
	for _, f := range files {
		for i, r := range pcaptest.ReadAll(t, f) {
			if !sample[string(r.Data)] {
				t.Fatalf("%s: frame #%d (%d bytes) is not one of the sample's", f, i, len(r.Data))
			}
			stored++
		}
	}
	if stored == 0 {
		t.Fatalf("no frame stored in %d files", len(files))
	}
	t.Logf("the host reads %d frames in %d finished files in the sink's store, each one of the sample's", stored, len(files))

	// With the replay stopped, "packets are sent" must fail.
	src.must(t, "systemctl", "stop", "lab-replay.service")
	out, err = run("validate.yml", "-e", "lab_wait=5", "-e", "lab_iface="+srcIf)
	if err == nil || !strings.Contains(out, "Validate that packets are sent") || strings.Contains(out, "packets sent: ") {
		t.Errorf("validate.yml passed \"packets are sent\" with the replay stopped: %v\n%s", err, out)
	}
}
