package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// TestDebPackage builds the .deb from this tree (make deb), lints it,
// installs it with apt-get (which pulls its Depends), checks what dpkg
// put where, runs the installed fastcapa on the sample capture into
// devbroker, and purges it. The machine is restored: the package purged,
// and the pcapstore user removed again if the test created it (the
// package itself keeps it on purge, as Debian does with system users).
// Costs about 80 s (the build: -trimpath rebuilds the cgo packages) and
// 60 MB under out/.
func TestDebPackage(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tool := range []string{"make", "lintian", "apt-get", "dpkg", "help2man", "dpkg-shlibdeps"} {
		testenv.RequireTool(t, tool)
	}
	if exec.Command("dpkg-query", "-W", "fastcapa").Run() == nil {
		testenv.Require(t, false, "a fastcapa package is already installed here; the test would replace and purge it")
	}
	userBefore := exec.Command("getent", "passwd", "pcapstore").Run() == nil

	deb := builtDeb(t)

	// Lint: anything E: or W: not overridden fails (overrides are in
	// deploy/deb/lintian-overrides, each with its reason).
	// --show-overrides prints the overridden tags as O: lines: seeing them
	// proves lintian read the package and its overrides.
	lint, err := exec.Command("lintian", "--fail-on", "none", "--show-overrides", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("lintian did not run: %v\n%s", err, lint)
	}
	overridden := 0
	for _, l := range strings.Split(string(lint), "\n") {
		if strings.HasPrefix(l, "E: ") || strings.HasPrefix(l, "W: ") {
			t.Errorf("lintian: %s", l)
		}
		if strings.HasPrefix(l, "O: fastcapa: ") {
			overridden++
		}
	}
	if overridden == 0 {
		t.Errorf("lintian shows none of deploy/deb/lintian-overrides' tags as overridden:\n%s", lint)
	}

	// Install, and undo it whatever happens next.
	t.Cleanup(func() {
		if o, err := exec.Command("dpkg", "--purge", "fastcapa").CombinedOutput(); err != nil {
			t.Errorf("cleanup: dpkg --purge: %v\n%s", err, o)
		}
		if !userBefore && exec.Command("getent", "passwd", "pcapstore").Run() == nil {
			if o, err := exec.Command("deluser", "--system", "--quiet", "pcapstore").CombinedOutput(); err != nil {
				t.Errorf("cleanup: deluser pcapstore: %v\n%s", err, o)
			}
			exec.Command("delgroup", "--system", "--quiet", "pcapstore").Run()
		}
	})
	inst := exec.Command("apt-get", "install", "-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300", deb)
	inst.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if o, err := inst.CombinedOutput(); err != nil {
		t.Fatalf("apt-get install %s: %v\n%s", deb, err, o)
	}

	// Files, conffiles, user, store.
	files := []string{"/usr/bin/fastcapa", "/usr/bin/pcapstore", "/etc/fastcapa/fastcapa.yaml",
		"/etc/fastcapa/sink-main.yaml", "/lib/systemd/system/fastcapa.service",
		"/usr/share/man/man1/fastcapa.1.gz", "/usr/share/man/man1/pcapstore.1.gz",
		"/usr/share/doc/fastcapa/copyright", "/usr/share/doc/fastcapa/changelog.gz",
		"/usr/share/doc/fastcapa/README.md", "/usr/share/doc/fastcapa/OPERATING.md",
		"/usr/share/doc/fastcapa/examples/fastcapa-unprivileged.conf"}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("installed package lacks %s: %v", f, err)
		}
	}
	listed, _ := exec.Command("dpkg", "-L", "fastcapa").Output()
	conff, _ := exec.Command("dpkg-query", "-W", "-f=${Conffiles}", "fastcapa").Output()
	for _, c := range []string{"/etc/fastcapa/fastcapa.yaml", "/etc/fastcapa/sink-main.yaml"} {
		if !strings.Contains(string(conff), c+" ") {
			t.Errorf("%s is not a conffile; dpkg lists:%s", c, conff)
		}
	}
	pw, err := exec.Command("getent", "passwd", "pcapstore").Output()
	if err != nil {
		t.Fatalf("no pcapstore user after install: %v", err)
	}
	// name:x:uid:gid:gecos:home:shell; a system uid (100-999), no login.
	pf := strings.Split(strings.TrimSpace(string(pw)), ":")
	if len(pf) != 7 || len(pf[2]) > 3 || pf[5] != "/var/lib/pcapstore" || pf[6] != "/usr/sbin/nologin" {
		t.Errorf("pcapstore user: %q", pw)
	}
	if o, err := exec.Command("stat", "-c", "%U:%G %a", "/var/lib/pcapstore").Output(); err != nil ||
		strings.TrimSpace(string(o)) != "pcapstore:pcapstore 750" {
		t.Errorf("/var/lib/pcapstore: %q %v", o, err)
	}

	// The installed programs: their help (the man pages' source) and man.
	for _, p := range []string{"fastcapa", "pcapstore"} {
		o, err := exec.Command("/usr/bin/"+p, "-h").CombinedOutput()
		if err != nil || !strings.Contains(string(o), "Usage: "+p) || !strings.Contains(string(o), "Exit status:") {
			t.Errorf("/usr/bin/%s -h: %v\n%s", p, err, o)
		}
		if man, err := exec.Command("man", "-w", p).Output(); err == nil && !strings.Contains(string(man), "/usr/share/man/man1/"+p+".1.gz") {
			t.Errorf("man -w %s: %s", p, man)
		}
	}

	// The installed fastcapa delivers the sample capture.
	file, recs := sample(t)
	b := startBroker(t, 0, "pcap", "")
	d := startDaemonAt(t, "/usr/bin/fastcapa", nil,
		append(ealArgs(t), "-vdev", "net_pcap0,rx_pcap="+file, "-port", "net_pcap0", "-brokers", b.Addr, "-topic", "pcap")...)
	got := waitRecords(t, b.Addr, "pcap", len(recs), 60*time.Second)
	code := d.stop(t)
	f := d.final(t)
	f.check(t)
	if got < len(recs) || f.Delivered != uint64(len(recs)) || code != 0 {
		t.Errorf("installed fastcapa: topic holds %d, delivered %d of %d (exit %d)", got, f.Delivered, len(recs), code)
	}

	// Purge leaves none of the package's files and no store behind.
	if o, err := exec.Command("dpkg", "--purge", "fastcapa").CombinedOutput(); err != nil {
		t.Fatalf("dpkg --purge: %v\n%s", err, o)
	}
	left := []string{"/var/lib/pcapstore", "/etc/fastcapa"}
	for _, f := range strings.Split(string(listed), "\n") {
		if f = strings.TrimSpace(f); f != "" && f != "/." && !isSharedDir(f) {
			left = append(left, f)
		}
	}
	for _, f := range left {
		if _, err := os.Lstat(f); err == nil {
			t.Errorf("%s is still there after dpkg --purge", f)
		}
	}
	if exec.Command("dpkg-query", "-W", "fastcapa").Run() == nil {
		if st, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", "fastcapa").Output(); !strings.Contains(string(st), "not-installed") {
			t.Errorf("dpkg still knows fastcapa after purge: %s", st)
		}
	}
	t.Logf("%s: installed, ran (%d packets delivered) and purged; lintian: no E:/W:, %d tags overridden", filepath.Base(deb), f.Delivered, overridden)
}

// isSharedDir is a directory other packages own too (dpkg -L lists it).
func isSharedDir(p string) bool {
	switch p {
	case "/etc", "/lib", "/lib/systemd", "/lib/systemd/system", "/usr", "/usr/bin", "/usr/share",
		"/usr/share/doc", "/usr/share/lintian", "/usr/share/lintian/overrides", "/usr/share/man", "/usr/share/man/man1":
		return true
	}
	return false
}

// startDaemonAt is startDaemon with the fastcapa at path (the installed one).
func startDaemonAt(t *testing.T, path string, env []string, args ...string) *daemon {
	t.Helper()
	d := &daemon{cmd: exec.Command(path, args...), done: make(chan struct{})}
	d.cmd.Stdout = &d.stdout
	d.cmd.Stderr = &d.stderr
	d.cmd.Env = append(os.Environ(), env...)
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
	return d
}

// debBuild is the package make deb built from this tree, once per test
// binary: TestDebPackage, TestAnsibleLocal, TestAnsibleSystemd and
// TestUnitsVerify all check the same file.
var debBuild struct {
	sync.Once
	path string
	err  error
}

// builtDeb is out/fastcapa_<version>_amd64.deb from make deb
// (deploy/deb/build.sh: about 80 s cold, the -trimpath build of the cgo
// packages; 25 s warm), or the package FASTCAPA_DEB names.
func builtDeb(t *testing.T) string {
	t.Helper()
	debBuild.Do(func() {
		if p := os.Getenv("FASTCAPA_DEB"); p != "" {
			debBuild.path = p
			return
		}
		mk := exec.Command("make", "--no-print-directory", "deb")
		mk.Dir = testenv.Root()
		out, err := mk.CombinedOutput()
		if err != nil {
			debBuild.err = fmt.Errorf("make deb: %v\n%s", err, out)
			return
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		deb := filepath.Join(testenv.Root(), lines[len(lines)-1])
		if !regexp.MustCompile(`/out/fastcapa_[0-9][A-Za-z0-9.+~]*_amd64\.deb$`).MatchString(deb) {
			debBuild.err = fmt.Errorf("make deb's last line is not a .deb path: %q", deb)
			return
		}
		debBuild.path = deb
	})
	if debBuild.err != nil {
		t.Fatal(debBuild.err)
	}
	if fi, err := os.Stat(debBuild.path); err != nil || fi.Size() == 0 {
		t.Fatalf("%s: %v", debBuild.path, err)
	}
	return debBuild.path
}

// TestDebUpgrade upgrades the package on a machine where it runs, as
// docs/OPERATING.md's "Upgrading" says: in a machine booted under systemd
// (bootMachine), the .deb built from this tree is installed, its config
// edited by the operator and fastcapa.service started on it (a net_pcap
// vdev replaying the sample into a broker in the machine); then a newer
// version of the same package, whose shipped config also changed, is
// installed over it with apt, non-interactively (--force-confdef
// --force-confold). The operator's config is kept and the new one
// written beside it as .dpkg-dist; systemd's units are reloaded
// (postinst) but fastcapa.service is not restarted (the same MainPID):
// the restart is the operator's, and then runs the new package; the user
// pcapstore and its store are kept; going back to the older package
// works (--allow-downgrades). The newer package is this one repacked
// with dpkg-deb (version +upgrade1, one line added to the shipped
// config). About 30 s once the root is cached.
func TestDebUpgrade(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "dpkg-deb")
	deb := builtDeb(t)
	dir := t.TempDir()

	// The newer package.
	tree := filepath.Join(dir, "tree")
	if out, err := exec.Command("dpkg-deb", "-R", deb, tree).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -R: %v\n%s", err, out)
	}
	control := readFile(t, filepath.Join(tree, "DEBIAN/control"))
	m := regexp.MustCompile(`(?m)^Version: (.*)$`).FindStringSubmatch(control)
	if m == nil {
		t.Fatalf("no Version in DEBIAN/control:\n%s", control)
	}
	oldVersion, newVersion := m[1], m[1]+"+upgrade1"
	if err := os.WriteFile(filepath.Join(tree, "DEBIAN/control"), []byte(strings.Replace(control, m[0], "Version: "+newVersion, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	shipped := filepath.Join(tree, "etc/fastcapa/fastcapa.yaml")
	newShipped := readFile(t, shipped) + "# shipped by " + newVersion + "\n"
	if err := os.WriteFile(shipped, []byte(newShipped), 0o644); err != nil {
		t.Fatal(err)
	}
	newer := filepath.Join(dir, "newer.deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "-b", tree, newer).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -b: %v\n%s", err, out)
	}

	args, wants := machineBroker(t)
	file, _ := sample(t)
	box := bootMachine(t, "fastcapa-upgrade", append(args,
		"--bind-ro="+deb+":/srv/older.deb",
		"--bind-ro="+newer+":/srv/newer.deb",
		"--bind-ro="+file+":/srv/sample.pcap"), wants)
	apt := func(args ...string) {
		t.Helper()
		box.must(t, append([]string{"env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q", "--no-install-recommends",
			"-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"}, args...)...)
	}
	version := func() string {
		return strings.TrimSpace(box.must(t, "dpkg-query", "-W", "-f=${Version}", "fastcapa"))
	}
	mainPID := func() string {
		return strings.TrimSpace(box.must(t, "systemctl", "show", "-p", "MainPID", "--value", "fastcapa.service"))
	}

	apt("/srv/older.deb")
	if v := version(); v != oldVersion {
		t.Fatalf("installed %q, want %q", v, oldVersion)
	}
	mine := `# the operator's
eal: {lcores: "0,1", huge_pages: false, no_pci: true, vdevs: ["net_pcap0,rx_pcap=/srv/sample.pcap"]}
ports: [{name: net_pcap0}]
kafka: {topic: pcap, properties: {bootstrap.servers: "127.0.0.1:9092"}}
`
	if err := os.WriteFile(box.path("/etc/fastcapa/fastcapa.yaml"), []byte(mine), 0o644); err != nil {
		t.Fatal(err)
	}
	box.must(t, "systemctl", "enable", "--now", "fastcapa.service")
	before := mainPID()
	if before == "0" {
		t.Fatal("fastcapa.service has no main process")
	}

	apt("/srv/newer.deb")
	if v := version(); v != newVersion {
		t.Errorf("after the upgrade: %q, want %q", v, newVersion)
	}
	if got := readFile(t, box.path("/etc/fastcapa/fastcapa.yaml")); got != mine {
		t.Errorf("the operator's fastcapa.yaml was replaced:\n%s", got)
	}
	if got, err := os.ReadFile(box.path("/etc/fastcapa/fastcapa.yaml.dpkg-dist")); err != nil || string(got) != newShipped {
		t.Errorf("fastcapa.yaml.dpkg-dist: %v, want the new shipped config", err)
	}
	if out := box.must(t, "systemctl", "show", "-p", "NeedDaemonReload", "--value", "fastcapa.service"); out != "no\n" {
		t.Errorf("NeedDaemonReload=%s after the upgrade: postinst did not reload systemd", strings.TrimSpace(out))
	}
	if after := mainPID(); after != before {
		t.Errorf("the upgrade restarted fastcapa.service (MainPID %s, then %s); the restart is the operator's", before, after)
	}
	if out, err := box.run("getent", "passwd", "pcapstore"); err != nil {
		t.Errorf("user pcapstore gone after the upgrade: %v %s", err, out)
	}
	if fi, err := os.Stat(box.path("/var/lib/pcapstore")); err != nil || !fi.IsDir() {
		t.Errorf("/var/lib/pcapstore after the upgrade: %v", err)
	}

	// The operator's restart runs the new package's binary, on the kept config.
	box.must(t, "systemctl", "restart", "fastcapa.service")
	if out, _ := box.run("systemctl", "is-active", "fastcapa.service"); out != "active\n" {
		j, _ := box.run("journalctl", "-q", "--no-pager", "-u", "fastcapa.service")
		t.Fatalf("fastcapa.service after the restart: %s\n%s", out, j)
	}
	if after := mainPID(); after == before {
		t.Errorf("systemctl restart kept MainPID %s", after)
	}

	// And back.
	apt("--allow-downgrades", "/srv/older.deb")
	if v := version(); v != oldVersion {
		t.Errorf("after the downgrade: %q, want %q", v, oldVersion)
	}
	t.Logf("%s → %s → %s: the operator's config kept (new one as .dpkg-dist), fastcapa.service not restarted by the upgrade", oldVersion, newVersion, oldVersion)
}
