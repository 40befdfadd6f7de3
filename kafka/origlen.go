package kafka

import (
	"errors"
	"fmt"
	"math"
)

// OrigLenHeader is the key of the record header that says a frame was
// cut at capture: its value is the frame's length on the wire, in ASCII
// decimal ("1514"), so kcat writes and shows it (-H orig_len=1514, -f
// '%h'). A record without it holds the whole frame. Only the FROM_KEY
// format (key = timestamp, value = frame) carries it. The producer writes
// it in C (fmt_dec in kafka/internal/rdk/producer.c), checked against
// ParseOrigLen by TestCaptureSnaplen through the sink.
const OrigLenHeader = "orig_len"

// ErrOrigLen is a header value ParseOrigLen refuses.
var ErrOrigLen = errors.New("bad orig_len header")

// ParseOrigLen reads an OrigLenHeader value: one or more ASCII digits
// (no sign, no space), at most 2^32-1.
func ParseOrigLen(v []byte) (uint32, error) {
	if len(v) == 0 {
		return 0, fmt.Errorf("%w: empty", ErrOrigLen)
	}
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: %.24q is not a decimal number", ErrOrigLen, v)
		}
		n = n*10 + uint64(c-'0')
		if n > math.MaxUint32 {
			return 0, fmt.Errorf("%w: %.24q is over %d", ErrOrigLen, v, uint32(math.MaxUint32))
		}
	}
	return uint32(n), nil
}
