package kafka

import (
	"testing"
	"time"
)

func TestParseKeyUnit(t *testing.T) {
	for in, want := range map[string]time.Duration{"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond, "ms": time.Millisecond} {
		if got, err := ParseKeyUnit(in); err != nil || got != want {
			t.Errorf("ParseKeyUnit(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "s", "NS", "micro", "1000"} {
		if _, err := ParseKeyUnit(in); err == nil {
			t.Errorf("ParseKeyUnit(%q): want an error", in)
		}
	}
}
