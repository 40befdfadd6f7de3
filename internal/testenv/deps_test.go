package testenv

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const module = "github.com/fastcapa-go/fastcapa/"

// storageSide is what pcapstore links and the capture daemon must not:
// our storage packages (and their subpackages) and their libraries.
// filter (tcpdump expressions compiled by libpcap) is both programs': the
// sink's targets and fastcapa's capture.filter; it links libpcap only.
var storageSide = []string{
	module + "sink", module + "store", module + "index", module + "objstore", module + "pcap",
	module + "query", module + "pattern",
	"github.com/minio/minio-go", "github.com/klauspost/compress", "github.com/pierrec/lz4", "github.com/twmb/franz-go",
}

// captureSide is what the capture daemon links and pcapstore must not.
var captureSide = []string{module + "dpdk", module + "pipeline", module + "config"}

// dep is one package in a program's dependencies, with what it asks cgo
// to link.
type dep struct {
	path      string
	pkgConfig string // #cgo pkg-config names, space-separated
	ldflags   string // #cgo LDFLAGS
}

// deps lists the packages pkg (a path relative to the module root)
// depends on, itself included, as `go list -deps` sees them.
func deps(t *testing.T, pkg string) []dep {
	t.Helper()
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "list", "-deps",
		"-f", "{{.ImportPath}}\t{{join .CgoPkgConfig \" \"}}\t{{join .CgoLDFLAGS \" \"}}", "./"+pkg)
	cmd.Dir = Root()
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list -deps ./%s: %v\n%s", pkg, err, ee.Stderr)
		}
		t.Fatalf("go list -deps ./%s: %v", pkg, err)
	}
	var ds []dep
	for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			t.Fatalf("go list: unexpected line %q", line)
		}
		ds = append(ds, dep{f[0], f[1], f[2]})
	}
	return ds
}

// under reports whether path is one of roots or inside one of them.
func under(path string, roots []string) bool {
	for _, r := range roots {
		if path == r || strings.HasPrefix(path, r+"/") {
			return true
		}
	}
	return false
}

// TestEachProgramLinksItsOwnSide: the capture daemon links none of the
// storage side, and pcapstore (storage hosts, no DPDK) none of the
// capture side, libdpdk included.
func TestEachProgramLinksItsOwnSide(t *testing.T) {
	for _, p := range []struct {
		cmd       string
		own       string   // a package it must depend on: go list saw the right program
		forbidden []string // packages it must not depend on, with their subpackages
		noDPDK    bool     // no package it depends on may link libdpdk
	}{
		{"cmd/fastcapa", module + "pipeline", storageSide, false},
		{"cmd/pcapstore", module + "sink", captureSide, true},
	} {
		t.Run(p.cmd, func(t *testing.T) {
			ds := deps(t, p.cmd)
			if !has(ds, p.own) {
				t.Fatalf("go list found %d packages, without %s: not %s's", len(ds), p.own, p.cmd)
			}
			for _, d := range ds {
				if under(d.path, p.forbidden) {
					t.Errorf("%s depends on %s", p.cmd, d.path)
				}
				if p.noDPDK && (strings.Contains(d.pkgConfig, "libdpdk") || strings.Contains(d.ldflags, "rte_") || strings.Contains(d.ldflags, "dpdk")) {
					t.Errorf("%s links DPDK through %s (pkg-config %q, LDFLAGS %q)", p.cmd, d.path, d.pkgConfig, d.ldflags)
				}
			}
		})
	}
}

// has reports whether ds holds the package path.
func has(ds []dep, path string) bool {
	for _, d := range ds {
		if d.path == path {
			return true
		}
	}
	return false
}
