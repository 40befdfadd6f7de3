package testenv

import (
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// UnlistableDir makes, under dir, a directory that a walk of dir reaches
// but cannot list, even as root: nested so deep that its path is longer
// than PATH_MAX (made with mkdirat, one level at a time), so listing it
// fails with ENAMETOOLONG. It returns the first directory of the chain.
// t.TempDir's cleanup removes it (os.RemoveAll works relative to each
// directory).
func UnlistableDir(t testing.TB, dir string) string {
	t.Helper()
	elem := strings.Repeat("d", 250)
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range unix.PathMax/len(elem) + 2 {
		if err := unix.Mkdirat(fd, elem, 0o755); err != nil {
			unix.Close(fd)
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, elem, unix.O_DIRECTORY|unix.O_RDONLY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
	}
	unix.Close(fd)
	return filepath.Join(dir, elem)
}
