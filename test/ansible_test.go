package test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// TestAnsibleLocal runs deploy/ansible/site.yml against this machine
// (connection: local). What can happen here happens for real: the .deb
// installs, NR_2M_PAGES goes to /etc/dpdk/dpdk.conf and what dpdk.service
// runs (/lib/dpdk/dpdk-init start; no systemd as PID 1 here, so the role's
// handler runs it itself) reserves and mounts 2 MB hugepages,
// /etc/fastcapa/fastcapa.yaml and sink-lab.yaml are templated. Then the
// installed /usr/bin/fastcapa runs on hugepages from the installed config
// (a net_pcap vdev replaying the sample capture, set through the role's
// fastcapa_vdevs) into devbroker, and the installed pcapstore sink, as
// user pcapstore, stores it. The tasks tagged kernel and service
// (modprobe, modules-load.d, grub, reboot, NIC binding, systemctl) run in
// check mode with a NIC and 1 GB pages asked for, and are listed.
// Cost: about 40 s plus building the .deb (25 s warm, 70 s cold);
// 512 MB of hugepages while it runs, all released.
func TestAnsibleLocal(t *testing.T) {
	testenv.RequireRoot(t)
	playbook := testenv.RequireTool(t, "ansible-playbook")
	testenv.RequireTool(t, "dpkg")
	root := testenv.Root()
	// TestDebPackage installs and purges the same package: never at once,
	// also when two test binaries run side by side on one machine.
	lock, err := os.OpenFile("/run/lock/fastcapa-deb-test.lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() }) // first registered, so released after every other cleanup
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("dpkg-query", "-W", "-f", "${Status}", "fastcapa").CombinedOutput(); err == nil && strings.Contains(string(out), "installed") {
		testenv.Require(t, false, "package fastcapa is already installed on this machine; the test would remove it")
	}
	holdHugepages(t)

	deb := builtDeb(t)
	t.Logf("package: %s", deb)

	// Everything the role changes outside the package, put back at the end.
	saved := map[string][]byte{}
	for _, f := range []string{"/etc/dpdk/dpdk.conf", "/etc/dpdk/interfaces"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		saved[f] = b
	}
	_, userErr := user.Lookup("pcapstore")
	hadUser := userErr == nil
	t.Cleanup(func() {
		// dpkg -P waits for no lock: retry while another dpkg runs.
		for i := 0; ; i++ {
			out, err := exec.Command("dpkg", "--purge", "fastcapa").CombinedOutput()
			if err == nil || i == 30 || !strings.Contains(string(out), "lock") {
				if err != nil {
					t.Errorf("dpkg --purge fastcapa: %v\n%s", err, out)
				}
				break
			}
			time.Sleep(2 * time.Second)
		}
		os.Remove("/etc/systemd/system/multi-user.target.wants/fastcapa.service")
		os.Remove("/etc/systemd/system/multi-user.target.wants/pcapstore-sink@lab.service")
		for f, b := range saved {
			if err := os.WriteFile(f, b, 0o644); err != nil {
				t.Error(err)
			}
		}
		os.RemoveAll("/etc/fastcapa")
		os.RemoveAll("/var/cache/fastcapa")
		os.RemoveAll("/var/lib/pcapstore")
		if !hadUser {
			run(t, "userdel", "pcapstore")
		}
		if strings.Contains(readFile(t, "/proc/mounts"), " /dev/hugepages hugetlbfs") {
			if err := syscall.Unmount("/dev/hugepages", 0); err != nil {
				t.Errorf("umount /dev/hugepages: %v", err)
			}
		}
	})

	file, recs := sample(t)
	b := startBroker(t, 0, "pcap", "")
	prefix := uniquePrefix(t, "ansible")
	sinkMetrics := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.yml")
	vars := fmt.Sprintf(`---
all:
  hosts:
    localhost:
      ansible_connection: local
      ansible_python_interpreter: /usr/bin/python3
  vars:
    fastcapa_deb: %[1]s
    pcapstore_deb: %[1]s
    fastcapa_nr_2m_pages: 256
    fastcapa_iommu: true
    fastcapa_no_pci: true
    fastcapa_file_prefix: %[2]s
    fastcapa_vdevs: ["net_pcap0,rx_pcap=%[3]s"]
    fastcapa_ports: [{name: net_pcap0}]
    fastcapa_mbufs: 65536
    fastcapa_brokers: "%[4]s"
    fastcapa_metrics_listen: ""
    fastcapa_kafka_properties:
      client.id: fastcapa-ansible-test
      acks: all
    pcapstore_brokers: "%[4]s"
    pcapstore_sinks:
      - name: lab
        metrics_listen: "%[5]s"
        targets:
          - name: all
            max_span: 1h
            retain: {age: 1h}
  children:
    capture: {hosts: {localhost: {}}}
    storage: {hosts: {localhost: {}}}
`, deb, prefix, file, b.Addr, sinkMetrics)
	if err := os.WriteFile(inv, []byte(vars), 0o644); err != nil {
		t.Fatal(err)
	}
	site := filepath.Join(root, "deploy/ansible/site.yml")
	env := append(os.Environ(), "ANSIBLE_NOCOLOR=1", "ANSIBLE_RETRY_FILES_ENABLED=0", "ANSIBLE_LOCALHOST_WARNING=0")
	ansible := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(playbook, append([]string{"-i", inv, site}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ansible-playbook %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	// For real: package, hugepages, config.
	out := ansible("--skip-tags", "kernel,service")
	t.Logf("real run recap: %s", recap(out))
	if !regexp.MustCompile(`localhost\s+: ok=\d+\s+changed=[1-9]\d*\s+unreachable=0\s+failed=0`).MatchString(out) {
		t.Fatalf("real run: no changes or a failure:\n%s", out)
	}
	if o, err := exec.Command("dpkg-query", "-W", "-f", "${Status}", "fastcapa").CombinedOutput(); err != nil || string(o) != "install ok installed" {
		t.Fatalf("dpkg: fastcapa not installed: %s %v", o, err)
	}
	if got := strings.TrimSpace(readFile(t, "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")); got != "256" {
		t.Fatalf("nr_hugepages %s, want 256", got)
	}
	if !strings.Contains(readFile(t, "/proc/mounts"), "hugetlbfs /dev/hugepages hugetlbfs") {
		t.Fatalf("/dev/hugepages not mounted:\n%s", readFile(t, "/proc/mounts"))
	}
	if !strings.Contains(readFile(t, "/etc/dpdk/dpdk.conf"), `NR_2M_PAGES="256"`) {
		t.Fatal(`/etc/dpdk/dpdk.conf has no NR_2M_PAGES="256"`)
	}
	conf := readFile(t, "/etc/fastcapa/fastcapa.yaml")
	for _, want := range []string{"huge_pages: true", "bootstrap.servers: \"" + b.Addr + "\"", "client.id: \"fastcapa-ansible-test\""} {
		if !strings.Contains(conf, want) {
			t.Errorf("fastcapa.yaml lacks %q:\n%s", want, conf)
		}
	}
	// Idempotent: a second run changes nothing.
	out = ansible("--skip-tags", "kernel,service")
	if !regexp.MustCompile(`localhost\s+: ok=\d+\s+changed=0\s`).MatchString(out) {
		t.Errorf("second run changed something:\n%s", out)
	}

	// Check mode for what this machine cannot do, with a NIC and 1 GB pages.
	list := ansible("--list-tasks", "--tags", "kernel,service")
	t.Logf("tasks run in check mode only (no NICs, no kernel modules, no systemd as PID 1 here):\n%s", taskNames(list))
	out = ansible("--check", "--diff", "--tags", "kernel,service",
		"-e", `{"fastcapa_nics": [{"pci": "0000:04:00.0", "driver": "vfio-pci"}], "fastcapa_nr_1g_pages": 2}`)
	t.Logf("check mode (what each would do on a capture host):\n%s\n%s", taskStatus(out), recap(out))
	for _, want := range []string{"pci 0000:04:00.0 vfio-pci", "intel_iommu=on iommu=pt default_hugepagesz=1G hugepagesz=1G hugepages=2", "fastcapa: reboot localhost for the new kernel command line"} {
		if !strings.Contains(out, want) {
			t.Errorf("check mode output lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{"/etc/modules-load.d/fastcapa.conf", "/etc/default/grub.d/fastcapa.cfg"} {
		if exists(f) {
			t.Errorf("check mode wrote %s", f)
		}
	}

	// The installed fastcapa, on hugepages, from the installed config.
	d := &daemon{cmd: exec.Command("/usr/bin/fastcapa", "-config", "/etc/fastcapa/fastcapa.yaml"), done: make(chan struct{})}
	d.cmd.Stdout, d.cmd.Stderr = &d.stdout, &d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("fastcapa stdout:\n%s\nstderr:\n%s", d.stdout.String(), d.stderr.String())
		}
	})
	if got := waitRecords(t, b.Addr, "pcap", len(recs), 30*time.Second); got < len(recs) {
		t.Fatalf("topic has %d records, want %d", got, len(recs))
	}
	maps, _ := filepath.Glob("/dev/hugepages/" + prefix + "map_*")
	if len(maps) == 0 {
		t.Errorf("no /dev/hugepages/%smap_* while fastcapa runs: not on hugepages", prefix)
	}
	t.Logf("fastcapa holds %d hugepage files under /dev/hugepages", len(maps))
	if code := d.stop(t); code != 0 {
		t.Errorf("fastcapa exit status %d, want 0", code)
	}
	if !strings.Contains(d.stdout.String(), fmt.Sprintf("received %d = delivered %d", len(recs), len(recs))) {
		t.Errorf("final accounting missing:\n%s", d.stdout.String())
	}
	if msgs := kcatRead(t, b.Addr, "pcap"); len(msgs) != len(recs) {
		t.Errorf("kcat read %d, want %d", len(msgs), len(recs))
	}

	// The installed pcapstore sink, as its user, from the installed config.
	u, err := user.Lookup("pcapstore")
	if err != nil {
		t.Fatalf("the role made no user pcapstore: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	sink := exec.Command("/usr/bin/pcapstore", "sink", "-config", "/etc/fastcapa/sink-lab.yaml")
	sink.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	var sinkOut syncBuffer
	sink.Stdout, sink.Stderr = &sinkOut, &sinkOut
	if err := sink.Start(); err != nil {
		t.Fatal(err)
	}
	stored := 0
	written := 0.0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && written < float64(len(recs)); time.Sleep(500 * time.Millisecond) {
		resp, err := http.Get("http://" + sinkMetrics + "/metrics")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		written = parseMetrics(t, string(body))["pcapstore_packets_written_total"]
	}
	if written < float64(len(recs)) {
		t.Errorf("pcapstore_packets_written_total %v after 30 s, want %d", written, len(recs))
	}
	sink.Process.Signal(syscall.SIGTERM)
	if err := sink.Wait(); err != nil {
		t.Errorf("pcapstore sink: %v\n%s", err, sinkOut.String())
	}
	filepath.Walk("/var/lib/pcapstore/lab/all", func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".pcap") {
			_, r, err := pcap.ReadFile(p)
			if err != nil {
				t.Errorf("%s: %v", p, err)
			}
			stored += len(r)
		}
		return nil
	})
	if stored != len(recs) {
		t.Errorf("pcapstore stored %d packets under /var/lib/pcapstore/lab/all, want %d\n%s", stored, len(recs), sinkOut.String())
	}
}

// TestAnsibleLint runs ansible-lint (production profile, offline: no
// galaxy here) on deploy/ansible. About 10 s.
func TestAnsibleLint(t *testing.T) {
	lint := testenv.RequireTool(t, "ansible-lint")
	cmd := exec.Command(lint, "--offline", "--nocolor", "site.yml", "roles")
	cmd.Dir = filepath.Join(testenv.Root(), "deploy/ansible")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Passed with production profile") {
		t.Fatalf("ansible-lint: %v\n%s", err, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func run(t *testing.T, name string, args ...string) {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func recap(out string) string {
	if i := strings.Index(out, "PLAY RECAP"); i >= 0 {
		return strings.Join(strings.Fields(out[i:]), " ")
	}
	return "(none)"
}

func taskNames(list string) string {
	var names []string
	for _, l := range strings.Split(list, "\n") {
		l = strings.TrimSpace(l)
		if strings.Contains(l, "TAGS:") {
			names = append(names, "  "+l)
		}
	}
	return strings.Join(names, "\n")
}

// taskStatus lists each task and handler of a playbook run with its
// result on the host (ok, changed, skipping, fatal).
func taskStatus(out string) string {
	var lines []string
	name := ""
	for _, l := range strings.Split(out, "\n") {
		if m := regexp.MustCompile(`^(TASK|RUNNING HANDLER) \[(.*)\]`).FindStringSubmatch(l); m != nil {
			name = m[2]
			continue
		}
		if m := regexp.MustCompile(`^(ok|changed|skipping|fatal): \[`).FindStringSubmatch(l); m != nil && name != "" {
			lines = append(lines, fmt.Sprintf("  %-9s %s", m[1], name))
			name = ""
		}
	}
	return strings.Join(lines, "\n")
}

// TestAnsibleSystemd runs deploy/ansible/site.yml against a Debian 12
// machine booted under a real systemd: deploy/systemd/test/root.sh's root
// in systemd-nspawn -b (ephemeral), reached through ansible's nsenter
// connection. There the role's tasks that need systemd as PID 1 run for
// real, handlers included: the .deb installs, dpdk.service is restarted
// with NR_2M_PAGES from /etc/dpdk/dpdk.conf and mounts hugetlbfs,
// fastcapa.service and pcapstore-sink@lab.service are enabled and started
// (READY=1 before systemctl returns). fastcapa.service captures the sample
// capture (a net_pcap vdev) on 2 MB hugepages, the test's own reserved on
// the host (the container's /sys is read-only, so its dpdk-init cannot
// write nr_hugepages: it warns and goes on), into devbroker in the
// container, and the sink stores it as user pcapstore: every frame,
// byte-exact. A second run changes nothing. The tasks tagged kernel
// (modules, grub, NIC binding) are TestAnsibleLocal's, in check mode.
// Cost: about 60 s with the root cached (the ephemeral copy, an apt
// install inside, two playbook runs); 512 MB of hugepages while it runs.
func TestAnsibleSystemd(t *testing.T) {
	testenv.RequireRoot(t)
	playbook := testenv.RequireTool(t, "ansible-playbook")
	root := testenv.Root()
	deb := builtDeb(t)
	file, recs := sample(t)

	holdHugepages(t)
	const pages = 256
	reserveHugepages(t, pages)

	// The machine, with a broker of the test's own started at boot.
	dir := t.TempDir()
	args, wants := machineBroker(t)
	box := bootMachine(t, "fastcapa-ansible", append(args, "--bind-ro="+file+":/srv/sample.pcap"), wants)
	inside := box.run

	inv := filepath.Join(dir, "inventory.yml")
	vars := fmt.Sprintf(`---
all:
  hosts:
    box: %[1]s
  vars:
    fastcapa_deb: %[2]s
    pcapstore_deb: %[2]s
    fastcapa_nr_2m_pages: %[3]d
    fastcapa_iommu: false
    fastcapa_vfio: false
    fastcapa_no_pci: true
    fastcapa_vdevs: ["net_pcap0,rx_pcap=/srv/sample.pcap"]
    fastcapa_ports: [{name: net_pcap0}]
    fastcapa_brokers: "127.0.0.1:9092"
    pcapstore_brokers: "127.0.0.1:9092"
    pcapstore_sinks:
      - name: lab
        metrics_listen: "127.0.0.1:9471"
        targets:
          - name: all
            max_span: 1h
  children:
    capture: {hosts: {box: {}}}
    storage: {hosts: {box: {}}}
`, box.inventoryHost(), deb, pages)
	if err := os.WriteFile(inv, []byte(vars), 0o644); err != nil {
		t.Fatal(err)
	}
	site := filepath.Join(root, "deploy/ansible/site.yml")
	ansible := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(playbook, append([]string{"-i", inv, site, "--skip-tags", "kernel"}, args...)...)
		cmd.Env = append(os.Environ(), "ANSIBLE_NOCOLOR=1", "ANSIBLE_RETRY_FILES_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			j, _ := inside("journalctl", "-q", "--no-pager", "-n", "60")
			t.Fatalf("ansible-playbook: %v\n%s\njournal:\n%s", err, out, j)
		}
		return string(out)
	}
	out1 := ansible()
	status := taskStatus(out1)
	t.Logf("first run: %s\n%s", recap(out1), status)
	for _, task := range []string{"Install fastcapa from the .deb", "Apply the DPDK environment", "Enable and start fastcapa.service", "Enable and start pcapstore-sink@NAME.service"} {
		if !regexp.MustCompile(`(?m)^\s*changed\s+\S+ : ` + regexp.QuoteMeta(task)).MatchString(status) {
			t.Errorf("first run: task %q did not change the machine", task)
		}
	}

	// systemd's view: enabled, active (READY=1 sent), dpdk.service ran.
	for _, u := range []string{"fastcapa.service", "pcapstore-sink@lab.service"} {
		if out, err := inside("systemctl", "is-enabled", u); err != nil || out != "enabled\n" {
			t.Errorf("%s is not enabled: %q %v", u, out, err)
		}
		if out, err := inside("systemctl", "is-active", u); err != nil || out != "active\n" {
			j, _ := inside("journalctl", "-q", "--no-pager", "-u", u)
			t.Fatalf("%s is not active: %q %v\n%s", u, out, err, j)
		}
	}
	if out, _ := inside("journalctl", "-q", "-o", "cat", "-u", "fastcapa.service"); !strings.Contains(out, "systemd_notified=true") {
		t.Errorf("fastcapa.service's journal has no READY=1 sent:\n%s", out)
	}
	if out, _ := inside("systemctl", "show", "-p", "Result,ExecMainStatus", "--value", "dpdk.service"); !strings.HasPrefix(out, "success\n") {
		t.Errorf("dpdk.service: %s", out)
	}

	// fastcapa on hugepages: its files under the machine's hugetlbfs mount,
	// pages taken from the host's pool.
	maps, _ := filepath.Glob(box.path("/dev/hugepages/fastcapamap_*"))
	if len(maps) == 0 {
		t.Errorf("no /dev/hugepages/fastcapamap_* in the machine while fastcapa.service runs: not on hugepages")
	}
	t.Logf("fastcapa.service holds %d hugepage files; HugePages_Free: %s of %d", len(maps), meminfo(t, "HugePages_Free"), pages)

	// The sink, through its metrics (python3 inside: no curl in the root).
	metrics := "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9471/metrics').read().decode())"
	written, last := 0.0, ""
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && written < float64(len(recs)); time.Sleep(500 * time.Millisecond) {
		out, err := inside("python3", "-c", metrics)
		if last = out; err == nil {
			written = parseMetrics(t, out)["pcapstore_packets_written_total"]
		}
	}
	if written != float64(len(recs)) {
		t.Errorf("pcapstore_packets_written_total %v after 60 s, want %d; the last answer:\n%s", written, len(recs), last)
	}

	// Idempotent: the second run changes nothing, and restarts nothing.
	out2 := ansible()
	t.Logf("second run: %s", recap(out2))
	if !regexp.MustCompile(`box\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0`).MatchString(out2) {
		t.Errorf("second run changed something:\n%s", out2)
	}

	// Each started once, by the first run: not restarted by a handler
	// right after its first start, nor by the second run.
	for _, u := range []string{"fastcapa.service", "pcapstore-sink@lab.service"} {
		j, _ := inside("journalctl", "-q", "-o", "cat", "_PID=1", "UNIT="+u)
		if n := strings.Count(j, "Started "+u); n != 1 {
			t.Errorf("%s started %d times, want 1:\n%s", u, n, j)
		}
	}

	// Stop both: fastcapa's final accounting, the sink's files closed.
	for _, u := range []string{"fastcapa.service", "pcapstore-sink@lab.service"} {
		if out, err := inside("systemctl", "stop", u); err != nil {
			t.Errorf("systemctl stop %s: %v\n%s", u, err, out)
		}
		if out, _ := inside("systemctl", "show", "-p", "Result", "--value", u); out != "success\n" {
			j, _ := inside("journalctl", "-q", "--no-pager", "-u", u)
			t.Errorf("%s: result %q\n%s", u, out, j)
		}
	}
	j, _ := inside("journalctl", "-q", "-o", "cat", "-u", "fastcapa.service")
	if want := fmt.Sprintf("received %d = delivered %d", len(recs), len(recs)); !strings.Contains(j, want) {
		t.Errorf("fastcapa.service's journal lacks %q:\n%s", want, j)
	}
	var stored []pcap.Record
	owners := map[uint32]bool{}
	store := box.path("/var/lib/pcapstore/lab/all")
	files, _ := filepath.Glob(store + "/*.pcap")
	sort.Strings(files)
	for _, f := range files {
		stored = append(stored, pcaptest.ReadAll(t, f)...)
		if fi, err := os.Stat(f); err == nil {
			owners[fi.Sys().(*syscall.Stat_t).Uid] = true
		}
	}
	if len(stored) != len(recs) {
		t.Fatalf("the sink stored %d packets in %d files under /var/lib/pcapstore/lab/all, want %d", len(stored), len(files), len(recs))
	}
	for i := range recs {
		if !bytes.Equal(stored[i].Data, recs[i].Data) || stored[i].OrigLen != recs[i].OrigLen {
			t.Fatalf("stored packet #%d differs from the sample's", i)
		}
	}
	passwd := readFile(t, box.path("/etc/passwd"))
	for uid := range owners {
		if !strings.Contains(passwd, fmt.Sprintf("pcapstore:x:%d:", uid)) {
			t.Errorf("a stored file belongs to uid %d, not the machine's pcapstore", uid)
		}
	}
	t.Logf("stored %d of %d packets byte-exact in %d files, owned by pcapstore", len(stored), len(recs), len(files))
}

// meminfo is the value of one /proc/meminfo field.
func meminfo(t *testing.T, field string) string {
	for _, l := range strings.Split(readFile(t, "/proc/meminfo"), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == field {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
