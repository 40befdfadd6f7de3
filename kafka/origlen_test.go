package kafka

import (
	"errors"
	"math"
	"strconv"
	"testing"
)

func TestParseOrigLen(t *testing.T) {
	for _, c := range []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"1514", 1514, true},
		{"0", 0, true},
		{"0060", 60, true},
		{"4294967295", math.MaxUint32, true},
		{"4294967296", 0, false},
		{"99999999999999999999999", 0, false}, // would wrap a uint64
		{"", 0, false},
		{"-1", 0, false},
		{"+60", 0, false},
		{" 60", 0, false},
		{"60 ", 0, false},
		{"0x5ea", 0, false},
		{"1_514", 0, false},
		{"1514\x00", 0, false},
		{"١٥١٤", 0, false}, // Arabic-Indic digits: not ASCII
	} {
		got, err := ParseOrigLen([]byte(c.in))
		if c.ok && (err != nil || got != c.want) {
			t.Errorf("ParseOrigLen(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
		if !c.ok && !errors.Is(err, ErrOrigLen) {
			t.Errorf("ParseOrigLen(%q) = %d, %v; want ErrOrigLen", c.in, got, err)
		}
	}
	for _, n := range []uint32{0, 1, 60, 1514, 65535, 9216, math.MaxUint32} {
		if got, err := ParseOrigLen(strconv.AppendUint(nil, uint64(n), 10)); err != nil || got != n {
			t.Errorf("round trip of %d: %d, %v", n, got, err)
		}
	}
}
