package dpdk

import "C"

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"unsafe"
)

// DPDK's log (EAL, PMDs, libraries) is redirected into slog: errors and
// warnings at their level, everything else at debug. The first error line
// since the last failing call is kept, so a failed call can name DPDK's
// own reason (the first error line is usually the cause).
var dpdkLog struct {
	sync.Mutex
	logger  *slog.Logger
	partial []byte
	lastErr string
}

// SetLogger sets where DPDK's log lines go. Nil means slog.Default().
func SetLogger(l *slog.Logger) {
	dpdkLog.Lock()
	dpdkLog.logger = l
	dpdkLog.Unlock()
}

//export fcGoLog
func fcGoLog(buf *C.char, n C.int, level C.int) {
	msg := C.GoBytes(unsafe.Pointer(buf), n)
	dpdkLog.Lock()
	defer dpdkLog.Unlock()
	dpdkLog.partial = append(dpdkLog.partial, msg...)
	for {
		i := bytes.IndexByte(dpdkLog.partial, '\n')
		if i < 0 {
			return
		}
		line := string(bytes.TrimSpace(dpdkLog.partial[:i]))
		dpdkLog.partial = dpdkLog.partial[i+1:]
		if line == "" {
			continue
		}
		lv := slog.LevelDebug
		switch {
		case level <= 4: // RTE_LOG_ERR and worse
			lv = slog.LevelError
			if dpdkLog.lastErr == "" {
				dpdkLog.lastErr = line // the first error is usually the cause
			}
		case level == 5: // RTE_LOG_WARNING
			lv = slog.LevelWarn
		}
		l := dpdkLog.logger
		if l == nil {
			l = slog.Default()
		}
		l.Log(context.Background(), lv, line, "source", "dpdk")
	}
}

// flushLogErr attaches the first error line DPDK logged since the last
// takeLastErr, if any, to err and forgets it.
func flushLogErr(err error) error {
	dpdkLog.Lock()
	defer dpdkLog.Unlock()
	if dpdkLog.lastErr == "" {
		return err
	}
	e := &logError{err: err, detail: dpdkLog.lastErr}
	dpdkLog.lastErr = ""
	return e
}

// takeLastErr forgets any error line logged so far: call it before a
// call whose failure flushLogErr will explain.
func takeLastErr() {
	dpdkLog.Lock()
	dpdkLog.lastErr = ""
	dpdkLog.Unlock()
}

type logError struct {
	err    error
	detail string
}

func (e *logError) Error() string { return e.err.Error() + " (" + e.detail + ")" }
func (e *logError) Unwrap() error { return e.err }
