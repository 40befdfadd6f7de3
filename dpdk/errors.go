package dpdk

/*
#include <rte_errno.h>
*/
import "C"

import (
	"errors"
	"syscall"
)

// Sentinel errors for conditions the caller may want to branch on.
var (
	ErrNotInitialized = errors.New("eal not initialized")
	ErrPortNotFound   = errors.New("port not found")
)

// Errno is an error code returned by DPDK: a negative return value or
// rte_errno. It matches the syscall.Errno of the same value with errors.Is.
type Errno int

func (e Errno) Error() string { return C.GoString(C.rte_strerror(C.int(e))) }

// Is reports whether target is the same errno as a syscall.Errno.
func (e Errno) Is(target error) bool {
	var se syscall.Errno
	if errors.As(target, &se) {
		return int(se) == int(e)
	}
	return false
}

// rc turns a DPDK return code (0 or positive: success; negative: -errno)
// into an error.
func rc(code C.int) error {
	if code >= 0 {
		return nil
	}
	return Errno(-code)
}
