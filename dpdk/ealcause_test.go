package dpdk

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHugepageShortage reads a made-up sysfs and mount table for each
// way a host can leave EAL without hugepages, and one where nothing is
// wrong.
func TestHugepageShortage(t *testing.T) {
	const hugetlbfs = "nodev /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n"
	const noHugetlbfs = "proc /proc proc rw 0 0\n"
	for _, c := range []struct {
		name   string
		counts map[string][2]string // size dir → nr_hugepages, free_hugepages
		mounts string
		want   string // "" for no diagnosis
	}{
		{"none reserved, none mounted", map[string][2]string{"hugepages-2048kB": {"0", "0"}, "hugepages-1048576kB": {"0", "0"}},
			noHugetlbfs, "no hugepages are reserved (nr_hugepages is 0 for every size in DIR) and no hugetlbfs is mounted: " +
				"reserve some (echo 1024 > DIR/hugepages-2048kB/nr_hugepages; mount -t hugetlbfs nodev /dev/hugepages; or dpdk-hugepages.py"},
		{"none reserved, mounted", map[string][2]string{"hugepages-1048576kB": {"0", "0"}},
			hugetlbfs, "no hugepages are reserved (nr_hugepages is 0 for every size in DIR): reserve some (echo 1024 > DIR/hugepages-1048576kB/nr_hugepages; or"},
		{"all in use", map[string][2]string{"hugepages-2048kB": {"512", "0"}}, hugetlbfs,
			"all 512 reserved hugepages are in use"},
		{"reserved, not mounted", map[string][2]string{"hugepages-2048kB": {"512", "512"}}, noHugetlbfs,
			"512 hugepages are reserved but no hugetlbfs is mounted: mount -t hugetlbfs nodev /dev/hugepages"},
		{"no hugetlb in the kernel", nil, noHugetlbfs, "the kernel offers no hugepages"},
		{"enough", map[string][2]string{"hugepages-2048kB": {"512", "100"}}, hugetlbfs, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for size, n := range c.counts {
				os.MkdirAll(filepath.Join(dir, size), 0o755)
				os.WriteFile(filepath.Join(dir, size, "nr_hugepages"), []byte(n[0]+"\n"), 0o644)
				os.WriteFile(filepath.Join(dir, size, "free_hugepages"), []byte(n[1]+"\n"), 0o644)
			}
			mounts := filepath.Join(t.TempDir(), "mounts")
			os.WriteFile(mounts, []byte(c.mounts), 0o644)
			got := hugepageShortage(dir, mounts)
			want := strings.ReplaceAll(c.want, "DIR", dir)
			if want == "" && got != "" || !strings.HasPrefix(got, want) {
				t.Errorf("got  %q\nwant %q…", got, want)
			}
			if want != "" && !strings.HasSuffix(got, "--no-huge") {
				t.Errorf("no way out without hugepages: %q", got)
			}
		})
	}
}
