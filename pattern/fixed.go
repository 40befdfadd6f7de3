package pattern

import "bytes"

// fixed matches a pattern of one byte set per position: what Metron's
// packet_filter compiled (byteseek's SequenceMatcher).
//
// It looks for the longest run of positions that each allow one byte
// value (the anchor) with bytes.Index, which runs in SIMD code, and
// checks the other positions around each occurrence. A pattern made
// only of such positions is that search alone. Without any, a pattern
// of at most 64 bytes runs Shift-And (one shift, OR and AND a byte);
// a longer one is checked at every offset.
type fixed struct {
	sets  []byteSet
	lit   []byte       // the anchor
	off   int          // where lit starts in the pattern
	rest  []int        // the positions outside lit
	shift *[256]uint64 // Shift-And masks: bit i of shift[c] is set if sets[i] has c
}

func newFixed(sets []byteSet) *fixed {
	f := &fixed{sets: sets}
	bestLen, bestOff := 0, 0
	for i := 0; i < len(sets); {
		if _, ok := sets[i].only(); !ok {
			i++
			continue
		}
		j := i
		for j < len(sets) {
			if _, ok := sets[j].only(); !ok {
				break
			}
			j++
		}
		if j-i > bestLen {
			bestLen, bestOff = j-i, i
		}
		i = j
	}
	if bestLen > 0 {
		f.off = bestOff
		for i := range sets {
			if i >= bestOff && i < bestOff+bestLen {
				v, _ := sets[i].only()
				f.lit = append(f.lit, v)
			} else {
				f.rest = append(f.rest, i)
			}
		}
		return f
	}
	if len(sets) <= 64 {
		f.shift = new([256]uint64)
		for i := range sets {
			for c := 0; c < 256; c++ {
				if sets[i].has(byte(c)) {
					f.shift[c] |= 1 << i
				}
			}
		}
	}
	return f
}

func (f *fixed) match(b []byte) bool {
	m := len(f.sets)
	if len(b) < m {
		return false
	}
	switch {
	case len(f.lit) == m:
		return bytes.Index(b, f.lit) >= 0
	case f.lit != nil:
		// An occurrence of lit at k is the pattern at k-off, which must
		// lie within b: search only b[off : len(b)-m+off+len(lit)].
		base := f.off
		hay := b[base : len(b)-m+f.off+len(f.lit)]
		for {
			j := bytes.Index(hay, f.lit)
			if j < 0 {
				return false
			}
			if f.check(b[base+j-f.off:]) {
				return true
			}
			hay = hay[j+1:]
			base += j + 1
		}
	case f.shift != nil:
		var d uint64
		hit := uint64(1) << (m - 1)
		for _, c := range b {
			d = (d<<1 | 1) & f.shift[c]
			if d&hit != 0 {
				return true
			}
		}
		return false
	default:
		for s := 0; s+m <= len(b); s++ {
			if f.checkAll(b[s : s+m]) {
				return true
			}
		}
		return false
	}
}

// check reports whether the positions outside the anchor match w.
func (f *fixed) check(w []byte) bool {
	for _, i := range f.rest {
		if !f.sets[i].has(w[i]) {
			return false
		}
	}
	return true
}

func (f *fixed) checkAll(w []byte) bool {
	for i := range f.sets {
		if !f.sets[i].has(w[i]) {
			return false
		}
	}
	return true
}
