package pattern

import (
	"fmt"
	"math/bits"
	"strings"
)

// byteSet is a set of byte values, one bit a value.
type byteSet [4]uint64

func (s *byteSet) add(b byte)      { s[b>>6] |= 1 << (b & 63) }
func (s *byteSet) has(b byte) bool { return s[b>>6]&(1<<(b&63)) != 0 }
func (s *byteSet) invert()         { s[0], s[1], s[2], s[3] = ^s[0], ^s[1], ^s[2], ^s[3] }

func (s *byteSet) union(o *byteSet) {
	s[0], s[1], s[2], s[3] = s[0]|o[0], s[1]|o[1], s[2]|o[2], s[3]|o[3]
}

func (s *byteSet) count() int {
	return bits.OnesCount64(s[0]) + bits.OnesCount64(s[1]) + bits.OnesCount64(s[2]) + bits.OnesCount64(s[3])
}

func (s *byteSet) addRange(lo, hi byte) {
	if lo > hi {
		lo, hi = hi, lo // byteseek orders a range's ends (ByteRangeMatcher, ByteUtils.addBytesInRange)
	}
	for v := int(lo); v <= int(hi); v++ {
		s.add(byte(v))
	}
}

// only returns the set's one member, if it has exactly one.
func (s *byteSet) only() (byte, bool) {
	if s.count() != 1 {
		return 0, false
	}
	for w, x := range s {
		if x != 0 {
			return byte(w*64 + bits.TrailingZeros64(x)), true
		}
	}
	return 0, false
}

func setOf(bs ...byte) byteSet {
	var s byteSet
	for _, b := range bs {
		s.add(b)
	}
	return s
}

func rangeSet(lo, hi byte) byteSet {
	var s byteSet
	s.addRange(lo, hi)
	return s
}

// allBits is byteseek's "all bitmask" &m: (b & m) == m.
func allBits(m byte) byteSet {
	var s byteSet
	for v := 0; v < 256; v++ {
		if byte(v)&m == m {
			s.add(byte(v))
		}
	}
	return s
}

// anyBits is byteseek's "any bitmask" ~m: (b & m) != 0.
func anyBits(m byte) byteSet {
	var s byteSet
	for v := 0; v < 256; v++ {
		if byte(v)&m != 0 {
			s.add(byte(v))
		}
	}
	return s
}

// foldASCII is the set of b and, for an ASCII letter, its other case:
// what byteseek's case-insensitive text matches for one character
// (MatcherCompilerUtils.createCaseInsensitiveMatcher).
func foldASCII(b byte) byteSet {
	s := setOf(b)
	switch {
	case b >= 'a' && b <= 'z':
		s.add(b - 32)
	case b >= 'A' && b <= 'Z':
		s.add(b + 32)
	}
	return s
}

// String writes the set in the pattern syntax, for debugging.
func (s byteSet) String() string {
	var sb strings.Builder
	sb.WriteByte('[')
	for v := 0; v < 256; {
		if !s.has(byte(v)) {
			v++
			continue
		}
		w := v
		for w+1 < 256 && s.has(byte(w+1)) {
			w++
		}
		if sb.Len() > 1 {
			sb.WriteByte(' ')
		}
		if w == v {
			fmt.Fprintf(&sb, "%02x", v)
		} else {
			fmt.Fprintf(&sb, "%02x-%02x", v, w)
		}
		v = w + 1
	}
	sb.WriteByte(']')
	return sb.String()
}
