package kafka

import (
	"fmt"
	"time"
)

// ParseKeyUnit parses the unit of a message key's timestamp, as both
// programs' configurations name it: ns, us (or µs) or ms. It returns the
// length of one unit: a producer divides a timestamp in nanoseconds by it
// (ProducerSpec.KeyDivisor), the sink multiplies a key by it.
func ParseKeyUnit(s string) (time.Duration, error) {
	switch s {
	case "ns":
		return time.Nanosecond, nil
	case "us", "µs":
		return time.Microsecond, nil
	case "ms":
		return time.Millisecond, nil
	}
	return 0, fmt.Errorf("%q: use ns (default), us (what Metron's fastcapa sent) or ms", s)
}
