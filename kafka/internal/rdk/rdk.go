package rdk

/*
#cgo CFLAGS: -O2 -Wall
#include <stdlib.h>
#include "rdk.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	// The blank import links the librdkafka archive that
	// confluent-kafka-go bundles, which this package's C calls: without
	// it a program importing rdk alone would not link.
	_ "github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Error codes of librdkafka (rd_kafka_resp_err_t) this package uses;
// rdk_test.go checks them against the library's names.
const (
	ErrQueueFull   = C.RD_KAFKA_RESP_ERR__QUEUE_FULL
	ErrMsgTimedOut = C.RD_KAFKA_RESP_ERR__MSG_TIMED_OUT
)

// Version is librdkafka's version as rd_kafka_version() gives it
// (0xMMmmrrxx) and as a string.
func Version() (int, string) {
	return int(C.rd_kafka_version()), C.GoString(C.rd_kafka_version_str())
}

// ErrName is librdkafka's name of an error code, as rd_kafka_err2name.
func ErrName(code int) string {
	return C.GoString(C.rd_kafka_err2name(C.rd_kafka_resp_err_t(code)))
}

// ErrString is librdkafka's description of an error code, as
// rd_kafka_err2str.
func ErrString(code int) string {
	return C.GoString(C.rd_kafka_err2str(C.rd_kafka_resp_err_t(code)))
}

// Spec describes one ceiling run.
type Spec struct {
	Properties map[string]string // librdkafka properties, bootstrap.servers at least
	Topic      string
	Size       int           // value bytes, 0 to 1 MiB
	Count      int           // messages, when Duration is 0
	Duration   time.Duration // produce for this long instead of Count messages
	Timeout    time.Duration // longest wait for reports, or for room in the queue
	// NoWarmup starts the clock at once instead of after one message
	// delivered (connection and metadata then count in the run).
	NoWarmup bool
	// NoCopy produces without RD_KAFKA_MSG_F_COPY: librdkafka keeps a
	// pointer to the value (one buffer for the whole run) instead of a
	// copy, as a zero-copy path handing it mbuf data would.
	NoCopy bool
}

// Result is one run's outcome. Messages have an 8-byte key, the message's
// sequence number big-endian (0 for the warm-up one), and the same value,
// bytes 0, 1, 2, ... (mod 256); they go to partition "any".
type Result struct {
	Sent      uint64        // accepted by rd_kafka_produce in the timed part
	Delivered uint64        // delivery reports without error, timed part
	Failed    uint64        // delivery reports with an error, timed part
	Elapsed   time.Duration // first produce (after the warm-up) to the last report
	Steady    float64       // messages delivered a second from 1 s in to the last produce, 0 for runs under 1.5 s
	LastError int           // the last delivery report's error, 0 if none
}

// ErrConfig is returned for a property librdkafka refuses.
var ErrConfig = errors.New("librdkafka configuration")

// Ceiling produces Spec.Count messages (or for Spec.Duration) from one C
// loop: rd_kafka_produce with RD_KAFKA_MSG_F_COPY, rd_kafka_poll(0) after
// each, and on a full queue rd_kafka_poll(1) and a retry, up to
// Spec.Timeout. It then waits up to Spec.Timeout for every delivery
// report. The Result is filled as far as the run went, also with an error.
func Ceiling(s Spec) (Result, error) {
	if s.Size < 0 || s.Size > 1<<20 || (s.Duration <= 0 && s.Count < 1) || s.Topic == "" || s.Timeout <= 0 {
		return Result{}, fmt.Errorf("rdk: bad spec: size %d, count %d, duration %v, topic %q, timeout %v",
			s.Size, s.Count, s.Duration, s.Topic, s.Timeout)
	}
	var a cArgs
	defer a.free()
	var cs C.struct_fc_rdk_spec
	cs.keys, cs.values, cs.nprops = a.props(s.Properties)
	cs.topic = a.str(s.Topic)
	cs.size = C.uint32_t(s.Size)
	cs.count = C.uint64_t(max(s.Count, 0))
	cs.duration_ns = C.uint64_t(max(s.Duration, 0))
	cs.timeout_ns = C.uint64_t(s.Timeout)
	if !s.NoWarmup {
		cs.warmup = 1
	}
	if s.NoCopy {
		cs.nocopy = 1
	}
	var cr C.struct_fc_rdk_result
	C.fc_rdk_ceiling(&cs, &cr)
	r := Result{Sent: uint64(cr.sent), Delivered: uint64(cr.delivered), Failed: uint64(cr.failed),
		Elapsed: time.Duration(cr.elapsed_ns), LastError: int(cr.last_err)}
	if cr.steady_ns > 0 {
		r.Steady = float64(cr.steady_n) / (float64(cr.steady_ns) / 1e9)
	}
	msg := C.GoString(&cr.errstr[0])
	switch cr.err {
	case C.FC_RDK_OK:
		return r, nil
	case C.FC_RDK_ECONF:
		return r, fmt.Errorf("rdk: %w: %s", ErrConfig, msg)
	default:
		return r, fmt.Errorf("rdk: %s", msg)
	}
}

// cArgs holds the C memory of one call's arguments, freed together.
type cArgs struct{ ptrs []unsafe.Pointer }

func (a *cArgs) str(v string) *C.char {
	p := C.CString(v)
	a.ptrs = append(a.ptrs, unsafe.Pointer(p))
	return p
}

// cArray allocates n Ts (n > 0) in C memory.
func cArray[T any](a *cArgs, n int) []T {
	var t T
	p := C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(t)))
	a.ptrs = append(a.ptrs, p)
	return unsafe.Slice((*T)(p), n)
}

// props lays out librdkafka properties as two arrays of C strings.
func (a *cArgs) props(m map[string]string) (keys, values **C.char, n C.int) {
	if len(m) == 0 {
		return nil, nil, 0
	}
	ks, vs := cArray[*C.char](a, len(m)), cArray[*C.char](a, len(m))
	i := 0
	for k, v := range m {
		ks[i], vs[i] = a.str(k), a.str(v)
		i++
	}
	return &ks[0], &vs[0], C.int(len(m))
}

func (a *cArgs) free() {
	for _, p := range a.ptrs {
		C.free(p)
	}
	a.ptrs = nil
}
