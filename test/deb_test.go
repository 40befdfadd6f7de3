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
	"github.com/fastcapa-go/fastcapa/pcap"
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
	file := filepath.Join(testenv.Pcaps(t), "metron-example.pcap")
	_, recs, err := pcap.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
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
