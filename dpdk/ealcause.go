package dpdk

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// errEALFailed stands for rte_errno when rte_eal_init failed without
// setting it.
var errEALFailed = errors.New("failed")

// hugepagesDir is where the kernel counts hugepages of each size.
const hugepagesDir = "/sys/kernel/mm/hugepages"

// ealInitError explains a failed rte_eal_init: EAL's rte_errno and the
// first error line DPDK logged, then, where the host shows what is
// wrong, the cause and its fix. runtimeDir is EAL's runtime directory
// (rte_eal_get_runtime_dir), "" if it got no further than that.
func ealInitError(errno Errno, runtimeDir string) error {
	var err error = errno
	if errno == 0 {
		err = errEALFailed
	}
	err = flushLogErr(err)
	if cause := prefixInUse(runtimeDir); cause != "" {
		return fmt.Errorf("%w: %s", err, cause)
	}
	// EACCES is what EAL sets when it found no hugepage it could use.
	if errno == Errno(syscall.EACCES) {
		if cause := hugepageShortage(hugepagesDir, "/proc/mounts"); cause != "" {
			return fmt.Errorf("%w: %s", err, cause)
		}
	}
	return err
}

// prefixInUse names the process that holds EAL's lock on the runtime
// directory's config file (a primary process with the same file prefix),
// or returns "" when none does.
func prefixInUse(runtimeDir string) string {
	if runtimeDir == "" {
		return ""
	}
	f, err := os.Open(filepath.Join(runtimeDir, "config"))
	if err != nil {
		return ""
	}
	defer f.Close()
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_GETLK, &lk); err != nil || lk.Type == syscall.F_UNLCK {
		return ""
	}
	by := "another process"
	if lk.Pid > 0 { // 0 when the holder is in another PID namespace
		by = "process " + strconv.Itoa(int(lk.Pid))
	}
	return fmt.Sprintf("file prefix %s is in use by %s, another DPDK primary process (it holds %s): stop it, or give this one another --file-prefix",
		filepath.Base(runtimeDir), by, f.Name())
}

// hugepageShortage says, from the kernel's counts under sysDir and the
// mount table at mounts, why no hugepage can be had, and how to fix it;
// "" when it finds enough reserved, free and mounted.
func hugepageShortage(sysDir, mounts string) string {
	const without = "or run without hugepages: --no-huge"
	sizes, _ := filepath.Glob(filepath.Join(sysDir, "hugepages-*kB"))
	if len(sizes) == 0 {
		return fmt.Sprintf("the kernel offers no hugepages (nothing in %s): %s", sysDir, without)
	}
	example := sizes[0]
	var reserved, free uint64
	for _, d := range sizes {
		if filepath.Base(d) == "hugepages-2048kB" {
			example = d
		}
		reserved += readCount(filepath.Join(d, "nr_hugepages"))
		free += readCount(filepath.Join(d, "free_hugepages"))
	}
	mounted := hugetlbfsMounted(mounts)
	const mount = "mount -t hugetlbfs nodev /dev/hugepages"
	switch {
	case reserved == 0:
		what, how := "", ""
		if !mounted {
			what, how = " and no hugetlbfs is mounted", "; "+mount
		}
		return fmt.Sprintf("no hugepages are reserved (nr_hugepages is 0 for every size in %s)%s: reserve some "+
			"(echo 1024 > %s%s; or dpdk-hugepages.py -p 2M --setup 2G; or NR_2M_PAGES in /etc/dpdk/dpdk.conf), %s",
			sysDir, what, filepath.Join(example, "nr_hugepages"), how, without)
	case free == 0:
		return fmt.Sprintf("all %d reserved hugepages are in use (free_hugepages is 0 for every size in %s): "+
			"stop what holds them or reserve more (echo N > %s), %s", reserved, sysDir, filepath.Join(example, "nr_hugepages"), without)
	case !mounted:
		return fmt.Sprintf("%d hugepages are reserved but no hugetlbfs is mounted: %s (or dpdk-hugepages.py --mount), %s",
			reserved, mount, without)
	}
	return ""
}

// readCount reads one of the kernel's decimal counters; 0 if it cannot.
func readCount(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// hugetlbfsMounted reports whether the mount table lists a hugetlbfs.
func hugetlbfsMounted(mounts string) bool {
	f, err := os.Open(mounts)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) > 2 && fields[2] == "hugetlbfs" {
			return true
		}
	}
	return false
}
