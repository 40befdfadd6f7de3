package test

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// nrHugepages is the kernel's count of reserved 2 MB pages (the default
// size on x86_64).
const nrHugepages = "/proc/sys/vm/nr_hugepages"

// holdHugepages makes the test the only user of this machine's hugepages
// until it ends: it takes /run/lock/fastcapa-hugepages.lock (also taken
// by deploy/container/test.sh, and by test binaries running side by
// side), requires none reserved, and at cleanup (registered first, so
// after the test's own) releases every page again and the lock.
func holdHugepages(t *testing.T) {
	t.Helper()
	lock, err := os.OpenFile("/run/lock/fastcapa-hugepages.lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer lock.Close()
		if err := os.WriteFile(nrHugepages, []byte("0\n"), 0o644); err != nil {
			t.Error(err)
		}
		if b, _ := os.ReadFile(nrHugepages); strings.TrimSpace(string(b)) != "0" {
			t.Errorf("hugepages left reserved: %s", b)
		}
	})
	if b, _ := os.ReadFile(nrHugepages); strings.TrimSpace(string(b)) != "0" {
		testenv.Require(t, false, "hugepages already reserved here ("+strings.TrimSpace(string(b))+"); the test would change them")
	}
}

// reserveHugepages reserves n 2 MB pages, under holdHugepages.
func reserveHugepages(t *testing.T, n int) {
	t.Helper()
	if err := os.WriteFile(nrHugepages, []byte(strconv.Itoa(n)), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(nrHugepages); strings.TrimSpace(string(b)) != strconv.Itoa(n) {
		t.Fatalf("reserved %s hugepages, want %d", strings.TrimSpace(string(b)), n)
	}
}
