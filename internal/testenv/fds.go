package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// RunCheckingFDs is a TestMain body: it runs the tests and fails the run
// if they leave a file descriptor open (local files, connections), naming
// what each descriptor points at. It does not return.
func RunCheckingFDs(m *testing.M) {
	// Start the runtime's poller (exec and pipes need it) before counting.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	before, ok := OpenFDs()
	code := m.Run()
	if after, _ := OpenFDs(); ok && code == 0 && len(after) > len(before) {
		fmt.Fprintf(os.Stderr, "file descriptors leaked: %d open before the tests, %d after: %v\n", len(before), len(after), after)
		code = 1
	}
	os.Exit(code)
}

// OpenFDs lists this process's open descriptors as "fd->target"; false
// without /proc.
func OpenFDs() ([]string, bool) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, false
	}
	var out []string
	for _, e := range ents {
		target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		out = append(out, e.Name()+"->"+target)
	}
	return out, true
}
