package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// The units of deploy/systemd, as systemctl names them: templates with an
// instance, since verify checks the instance's expanded paths.
// fastcapa@cap2 has deploy/systemd/fastcapa-unprivileged.conf as a drop-in.
var units = []string{"fastcapa.service", "fastcapa@cap0.service", "fastcapa@cap2.service", "pcapstore-sink@store0.service"}

// maxExposure is the highest overall exposure systemd-analyze security may
// give each unit (0 safest, 10 unsafe). systemd 252 scores the sink 1.2,
// fastcapa 5.1 (the cost of running DPDK as root with five capabilities:
// see the unit's comment) and fastcapa as user fastcapa with
// CAP_IPC_LOCK alone (the drop-in) 4.8.
var maxExposure = map[string]float64{
	"pcapstore-sink@store0.service": 2.0,
	"fastcapa.service":              5.5,
	"fastcapa@cap0.service":         5.5,
	"fastcapa@cap2.service":         5.0,
}

// unitRoot is a root for systemd-analyze --root: the .deb built from
// this tree unpacked into it (binaries, units in /lib/systemd/system, man
// pages), this machine's system units (dpdk.service, the targets) and
// /bin/kill (ExecReload), and the package's example drop-in installed for
// fastcapa@cap2. About 60 MB.
func unitRoot(t *testing.T) string {
	t.Helper()
	deb := builtDeb(t)
	root := t.TempDir()
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	for _, d := range []string{"bin", "usr/lib/systemd", "etc/systemd/system/fastcapa@cap2.service.d"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run("cp", "/bin/kill", filepath.Join(root, "bin"))
	run("cp", "-a", "/lib/systemd/system", filepath.Join(root, "usr/lib/systemd"))
	run("dpkg-deb", "-x", deb, root)
	shipped, err := filepath.Glob(filepath.Join(root, "lib/systemd/system/*.service"))
	if err != nil || len(shipped) != 3 {
		t.Fatalf("%s ships %d units, want 3: %v", filepath.Base(deb), len(shipped), shipped)
	}
	run("cp", filepath.Join(root, "usr/share/doc/fastcapa/examples/fastcapa-unprivileged.conf"),
		filepath.Join(root, "etc/systemd/system/fastcapa@cap2.service.d"))
	return root
}

// TestUnitsVerify: systemd-analyze verify, man pages included (each
// Documentation=man: through man, on the package's pages), says nothing
// about any unit of the package (it exits 0 on an unknown key and only
// warns: any output fails too), and systemd-analyze security scores each
// at most maxExposure.
func TestUnitsVerify(t *testing.T) {
	sa := testenv.RequireTool(t, "systemd-analyze")
	testenv.RequireTool(t, "man")
	_, err := os.Stat("/lib/systemd/system/dpdk.service")
	testenv.Require(t, err == nil, "no /lib/systemd/system/dpdk.service (apt-get install dpdk): fastcapa.service requires it")
	root := unitRoot(t)
	verify := func(unit string) (string, error) {
		cmd := exec.Command(sa, "verify", "--man=yes", "--root="+root, filepath.Join(root, "lib/systemd/system", unit))
		// man looks for the pages in the package, not on this machine.
		cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(root, "usr/share/man"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Run("verify", func(t *testing.T) {
		for _, u := range units {
			if out, err := verify(u); err != nil || len(out) > 0 {
				t.Errorf("systemd-analyze verify %s: %v\n%s", u, err, out)
			}
		}
	})
	// The oracle itself: what verify must report.
	broken := func(t *testing.T, file, unit, want string) {
		t.Helper()
		if err := os.Rename(filepath.Join(root, file), filepath.Join(root, "moved")); err != nil {
			t.Fatal(err)
		}
		defer os.Rename(filepath.Join(root, "moved"), filepath.Join(root, file))
		if out, err := verify(unit); err == nil || !strings.Contains(out, want) {
			t.Errorf("verify %s without /%s: %v\n%s", unit, file, err, out)
		}
	}
	t.Run("verify fails without the binary", func(t *testing.T) {
		broken(t, "usr/bin/pcapstore", "pcapstore-sink@store0.service", "/usr/bin/pcapstore")
	})
	t.Run("verify fails without the man page", func(t *testing.T) {
		broken(t, "usr/share/man/man1/fastcapa.1.gz", "fastcapa.service", "man fastcapa(1)")
	})
	t.Run("security", func(t *testing.T) {
		re := regexp.MustCompile(`Overall exposure level for (\S+): ([0-9.]+)`)
		for _, u := range units {
			out, err := exec.Command(sa, "security", "--offline=yes", "--no-pager", "--root="+root, u).CombinedOutput()
			m := re.FindStringSubmatch(string(out))
			if err != nil || m == nil || m[1] != u {
				t.Errorf("systemd-analyze security %s: %v\n%s", u, err, out)
				continue
			}
			score, _ := strconv.ParseFloat(m[2], 64)
			t.Logf("%s: exposure %.1f (at most %.1f)", u, score, maxExposure[u])
			if score > maxExposure[u] {
				t.Errorf("%s: exposure %.1f, over %.1f\n%s", u, score, maxExposure[u], out)
			}
		}
	})
}

// TestUnitsBoot runs deploy/systemd/test/boot.sh: a Debian 12 root
// (debootstrap, cached in /var/cache/fastcapa-nspawn: about 300 MB and
// 80 s once) booted with systemd-nspawn, where dpdk.service runs, then
// fastcapa.service, fastcapa@cap1 and fastcapa@cap2 (as user fastcapa,
// the drop-in) reach READY on net_pcap vdevs without hugepages, and
// pcapstore-sink@store0.service stores the three captures (3 x 761
// packets) as user pcapstore. About 10 s with the root cached.
func TestUnitsBoot(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "systemd-nspawn")
	testenv.RequireTool(t, "debootstrap")
	script := filepath.Join(testenv.Root(), "deploy/systemd/test/boot.sh")
	cmd := exec.Command(script)
	// boot.sh takes the binaries from bin/: the ones this test run built.
	cmd.Env = append(os.Environ(), "FASTCAPA_BIN="+bin, "FASTCAPA_PCAPS="+testenv.Pcaps(t))
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
}
