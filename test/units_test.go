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

// unitRoot is a root for systemd-analyze --root: our binaries at
// /usr/bin as the .deb installs them, our units in /etc/systemd/system,
// and this machine's system units (dpdk.service, the targets) and
// /bin/kill (ExecReload). About 30 MB, most of it the binaries.
func unitRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"usr/bin", "bin", "etc/systemd/system", "usr/lib/systemd"} {
		must(os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	cp := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("cp", args...).CombinedOutput(); err != nil {
			t.Fatalf("cp %v: %v\n%s", args, err, out)
		}
	}
	cp(filepath.Join(bin, "fastcapa"), filepath.Join(bin, "pcapstore"), filepath.Join(root, "usr/bin"))
	cp("/bin/kill", filepath.Join(root, "bin"))
	cp("-a", "/lib/systemd/system", filepath.Join(root, "usr/lib/systemd"))
	units, err := filepath.Glob(filepath.Join(testenv.Root(), "deploy/systemd/*.service"))
	must(err)
	if len(units) != 3 {
		t.Fatalf("deploy/systemd has %d units, want 3: %v", len(units), units)
	}
	cp(append(units, filepath.Join(root, "etc/systemd/system"))...)
	dropin := filepath.Join(root, "etc/systemd/system/fastcapa@cap2.service.d")
	must(os.MkdirAll(dropin, 0o755))
	cp(filepath.Join(testenv.Root(), "deploy/systemd/fastcapa-unprivileged.conf"), dropin)
	return root
}

// TestUnitsVerify: systemd-analyze verify says nothing about any unit
// (it exits 0 on an unknown key and only warns: any output fails too),
// and systemd-analyze security scores each at most maxExposure.
func TestUnitsVerify(t *testing.T) {
	sa := testenv.RequireTool(t, "systemd-analyze")
	_, err := os.Stat("/lib/systemd/system/dpdk.service")
	testenv.Require(t, err == nil, "no /lib/systemd/system/dpdk.service (apt-get install dpdk): fastcapa.service requires it")
	root := unitRoot(t)
	t.Run("verify", func(t *testing.T) {
		for _, u := range units {
			out, err := exec.Command(sa, "verify", "--man=no", "--root="+root,
				filepath.Join(root, "etc/systemd/system", u)).CombinedOutput()
			if err != nil || len(out) > 0 {
				t.Errorf("systemd-analyze verify %s: %v\n%s", u, err, out)
			}
		}
	})
	t.Run("verify fails on a broken unit", func(t *testing.T) {
		// The oracle itself: a missing binary must be reported.
		if err := os.Rename(filepath.Join(root, "usr/bin/pcapstore"), filepath.Join(root, "pcapstore")); err != nil {
			t.Fatal(err)
		}
		defer os.Rename(filepath.Join(root, "pcapstore"), filepath.Join(root, "usr/bin/pcapstore"))
		out, err := exec.Command(sa, "verify", "--man=no", "--root="+root,
			filepath.Join(root, "etc/systemd/system/pcapstore-sink@store0.service")).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "/usr/bin/pcapstore") {
			t.Errorf("verify without /usr/bin/pcapstore: %v\n%s", err, out)
		}
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
