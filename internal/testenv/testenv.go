// Package testenv holds what the project's tests share about their
// environment: privileges, paths to the shared captures, tools.
package testenv

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// InCI reports whether the tests run in CI, where every environment
// requirement must be met.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require skips the test with reason outside CI and fails it in CI, where
// the environment is meant to provide everything.
func Require(t testing.TB, ok bool, reason string) {
	t.Helper()
	if ok {
		return
	}
	if InCI() {
		t.Fatalf("required in CI: %s", reason)
	}
	t.Skipf("skipped: %s", reason)
}

// RequireRoot needs root (DPDK's EAL, veths, namespaces).
func RequireRoot(t testing.TB) {
	t.Helper()
	Require(t, os.Geteuid() == 0, "needs root (DPDK EAL, network namespaces)")
}

// RequireTool needs a command on PATH and returns its path.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	Require(t, err == nil, name+" not on PATH (make deps installs it)")
	return p
}

// Root is the module's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Pcaps is the directory of shared sample captures beside the project,
// or $FASTCAPA_PCAPS.
func Pcaps(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("FASTCAPA_PCAPS")
	if dir == "" {
		dir = filepath.Join(Root(), "..", "shared", "pcaps")
	}
	_, err := os.Stat(filepath.Join(dir, "metron-example.pcap"))
	Require(t, err == nil, "sample captures not found in "+dir+" (set FASTCAPA_PCAPS)")
	return dir
}

// AllPcaps lists every capture in the shared directory.
func AllPcaps(t testing.TB) []string {
	t.Helper()
	dir := Pcaps(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.pcap"))
	more, _ := filepath.Glob(filepath.Join(dir, "*", "*.pcap"))
	return append(files, more...)
}

// DeadAddr returns a loopback address nothing listens on now (a port
// that was just free).
func DeadAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
