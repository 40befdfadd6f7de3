package dpdk

/*
#include <stdlib.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_cycles.h>
#include "fc.h"

// fc_eal_init returns rte_eal_init's result and, apart, rte_errno: some
// of EAL's failures (a second primary process on one runtime directory)
// return -1 without setting it.
static int fc_eal_init(int argc, char **argv, int *err)
{
	rte_errno = 0;
	int rc = rte_eal_init(argc, argv);
	*err = rc < 0 ? rte_errno : 0;
	return rc;
}

static int fc_thread_register(void)
{
	return rte_thread_register() == 0 ? (int)rte_lcore_id() : -rte_errno;
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// The EAL is initialised once per process, on a goroutine locked to its OS
// thread: rte_eal_init pins the calling thread to the main lcore's CPU and
// makes it the main lcore, so the control calls that belong to the main
// lcore (launching and waiting for lcores, cleanup) run there too.
var eal struct {
	sync.Mutex
	up    bool
	calls chan func()
}

// EALInfo describes the lcores the EAL started with.
type EALInfo struct {
	MainLcore uint
	Workers   []uint // worker lcores, in order
	TSCHz     uint64
}

// Init starts the EAL with the given arguments (without a program name).
// It may be called once per process; a second call fails. DPDK's own log
// lines are passed to the log function set by SetLogger.
func Init(args []string) (EALInfo, error) {
	eal.Lock()
	defer eal.Unlock()
	if eal.up {
		return EALInfo{}, fmt.Errorf("eal init: already initialized")
	}
	if C.fc_log_to_go() != 0 {
		return EALInfo{}, fmt.Errorf("eal init: redirect log stream")
	}
	takeLastErr()
	eal.calls = make(chan func())
	started := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: this thread is the main lcore
		argv := make([]*C.char, 0, len(args)+2)
		argv = append(argv, C.CString("fastcapa"))
		for _, a := range args {
			// The EAL may keep pointers into argv; these strings live
			// as long as the process.
			argv = append(argv, C.CString(a))
		}
		argv = append(argv, nil)
		cargv := (**C.char)(C.calloc(C.size_t(len(argv)), C.size_t(unsafe.Sizeof(argv[0]))))
		copy(unsafe.Slice(cargv, len(argv)), argv)
		var errno C.int
		if C.fc_eal_init(C.int(len(argv)-1), cargv, &errno) < 0 {
			started <- ealInitError(Errno(errno), C.GoString(C.rte_eal_get_runtime_dir()))
			return
		}
		started <- nil
		for f := range eal.calls {
			f()
		}
	}()
	if err := <-started; err != nil {
		return EALInfo{}, fmt.Errorf("eal init: %w", err)
	}
	eal.up = true
	if code := C.fc_dynfield_init(); code < 0 {
		return EALInfo{}, fmt.Errorf("register timestamp dynfield: %w", Errno(-code))
	}
	startClock()

	info := EALInfo{MainLcore: uint(C.rte_get_main_lcore()), TSCHz: uint64(C.rte_get_tsc_hz())}
	for l := C.rte_get_next_lcore(C.uint(^uint32(0)), 1, 0); l < C.RTE_MAX_LCORE; l = C.rte_get_next_lcore(l, 1, 0) {
		info.Workers = append(info.Workers, uint(l))
	}
	return info, nil
}

// onMain runs f on the main lcore's thread and waits for it.
func onMain(f func()) error {
	eal.Lock()
	up := eal.up
	eal.Unlock()
	if !up {
		return ErrNotInitialized
	}
	done := make(chan struct{})
	eal.calls <- func() { f(); close(done) }
	<-done
	return nil
}

// Cleanup releases the EAL's resources. Every port, ring and mempool must
// be closed first. The EAL cannot be started again in this process.
func Cleanup() error {
	var code C.int
	if err := onMain(func() { code = C.rte_eal_cleanup() }); err != nil {
		return err
	}
	eal.Lock()
	eal.up = false
	close(eal.calls)
	eal.Unlock()
	return rc(code)
}

// LcoreSocket returns the NUMA socket of an lcore.
func LcoreSocket(lcore uint) int { return int(C.rte_lcore_to_socket_id(C.uint(lcore))) }

// RegisterThread makes the calling OS thread known to DPDK, so it gets an
// lcore id and with it a mempool cache. The caller must have locked its
// goroutine to the thread (runtime.LockOSThread) and must call
// UnregisterThread on the same thread before unlocking it.
func RegisterThread() (lcore uint, err error) {
	code := C.fc_thread_register()
	if code < 0 {
		return 0, fmt.Errorf("register thread: %w", Errno(-code))
	}
	return uint(code), nil
}

// UnregisterThread releases the lcore id of the calling thread.
func UnregisterThread() { C.rte_thread_unregister() }

// SetPoisonOnFree makes workers overwrite every byte of packet data with
// 0xEE just before they return mbufs to the pool. Tests use it to prove no
// consumer reads a packet after its mbuf was freed.
func SetPoisonOnFree(on bool) {
	v := C.int(0)
	if on {
		v = 1
	}
	C.fc_poison_on_free = v
}
