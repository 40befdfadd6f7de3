package pattern

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
)

// Limits of the automaton for patterns of varying length.
const (
	maxPositions = 1024 // byte sets after expanding repeats
	maxWords     = maxPositions / 64
	maxStates    = 4096    // DFA states; past that, the NFA is simulated
	maxDFAWork   = 1 << 24 // word operations to build the DFA: past that, likewise
)

// automaton matches a pattern of varying length (alternatives of
// different lengths, *, +, ?, {n,m}): byteseek's regular expression
// syntax beyond what Metron's SequenceMatcher compiled.
//
// The pattern becomes a Glushkov NFA: one state a byte set, after
// repeats are expanded. Bytes that every set treats alike share a class
// (classOf). The NFA is turned into a DFA up front, for a search
// anywhere in the input (the start state is always active), with one
// transition a state and class and accepting states folded into -1: a
// search is one table load a byte. If the DFA would pass maxStates or
// maxDFAWork, the NFA is simulated instead, its state a bit set on the
// stack. Either way, bytes every match contains (need) are looked for
// first with bytes.Index, which rules most packets out.
type automaton struct {
	need    []byte // bytes every match contains: a packet without them is skipped
	classOf [256]uint8
	dfa     []int32 // dfa[s+classOf[c]] is the next state's row (s is a row), or -1 for a match

	// The NFA, for the simulation.
	w       int      // words in a set of positions
	first   []uint64 // positions a match can start with
	last    []uint64 // positions a match can end with
	follow  []uint64 // follow[p*w:(p+1)*w]: positions that can come after p
	classes []uint64 // classes[e*w:(e+1)*w]: positions whose set holds class e's bytes
}

func newAutomaton(n *node) (*automaton, error) {
	np := positions(n)
	if np > maxPositions {
		return nil, fmt.Errorf("the pattern is too large: one of varying length may have at most %d byte positions once repeats are expanded", maxPositions)
	}
	g := &glushkov{w: (np + 63) / 64}
	first, last, _ := g.build(n)
	a := &automaton{w: g.w, first: first, last: last, follow: g.follow}
	_, _, a.need = required(n)

	// Split the 256 byte values into classes no set tells apart.
	ncls := 1
	for i := range g.sets {
		var next [512]int
		for k := range next[:2*ncls] {
			next[k] = -1
		}
		m := 0
		for c := 0; c < 256; c++ {
			k := 2 * int(a.classOf[c])
			if g.sets[i].has(byte(c)) {
				k++
			}
			if next[k] < 0 {
				next[k] = m
				m++
			}
			a.classOf[c] = uint8(next[k])
		}
		ncls = m
	}
	a.classes = make([]uint64, ncls*a.w)
	for c := 0; c < 256; c++ {
		e := int(a.classOf[c])
		for p := range g.sets {
			if g.sets[p].has(byte(c)) {
				a.classes[e*a.w+p/64] |= 1 << (p % 64)
			}
		}
	}
	a.dfa = a.determinize(ncls)
	return a, nil
}

// determinize builds the DFA, or returns nil past maxStates or
// maxDFAWork. State 0 is the empty set of positions: nothing matched
// yet.
func (a *automaton) determinize(ncls int) []int32 {
	w := a.w
	key := func(s []uint64) string {
		b := make([]byte, 0, 8*len(s))
		for _, x := range s {
			b = binary.LittleEndian.AppendUint64(b, x)
		}
		return string(b)
	}
	states := [][]uint64{make([]uint64, w)}
	ids := map[string]int32{key(states[0]): 0}
	var dfa []int32
	cand := make([]uint64, w)
	work := 0
	for i := 0; i < len(states); i++ {
		copy(cand, a.first)
		a.addFollow(cand, states[i])
		for _, x := range states[i] {
			work += bits.OnesCount64(x) * w
		}
		if work += ncls * w; work > maxDFAWork {
			return nil
		}
		for e := 0; e < ncls; e++ {
			next := make([]uint64, w)
			hit := false
			for k := range next {
				next[k] = cand[k] & a.classes[e*w+k]
				hit = hit || next[k]&a.last[k] != 0
			}
			if hit {
				dfa = append(dfa, -1)
				continue
			}
			id, ok := ids[key(next)]
			if !ok {
				if len(states) == maxStates {
					return nil
				}
				id = int32(len(states) * ncls)
				states = append(states, next)
				ids[key(next)] = id
			}
			dfa = append(dfa, id)
		}
	}
	return dfa
}

// addFollow adds to dst the positions that can follow those in s.
func (a *automaton) addFollow(dst, s []uint64) {
	w := a.w
	for k, x := range s {
		for x != 0 {
			p := k*64 + bits.TrailingZeros64(x)
			x &= x - 1
			for j, f := range a.follow[p*w : (p+1)*w] {
				dst[j] |= f
			}
		}
	}
}

func (a *automaton) match(b []byte) bool {
	if a.need != nil && bytes.Index(b, a.need) < 0 {
		return false
	}
	if a.dfa != nil {
		t := a.dfa
		s := int32(0)
		for _, c := range b {
			if s = t[s+int32(a.classOf[c])]; s < 0 {
				return true
			}
		}
		return false
	}
	var bufA, bufB [maxWords]uint64
	w := a.w
	cur, next := bufA[:w], bufB[:w]
	for _, c := range b {
		copy(next, a.first)
		a.addFollow(next, cur)
		cls := a.classes[int(a.classOf[c])*w:]
		hit := false
		for k := range next {
			next[k] &= cls[k]
			hit = hit || next[k]&a.last[k] != 0
		}
		if hit {
			return true
		}
		cur, next = next, cur
	}
	return false
}

// maxNeed caps the bytes required tracks.
const maxNeed = 64

// required finds bytes every match of n contains (best), the longest it
// sees cheaply: runs of single-byte sets in sequences, through repeats
// of at least one. If every match of n is the same bytes, exact holds
// them and ok is true.
func required(n *node) (exact []byte, ok bool, best []byte) {
	switch n.kind {
	case kClass:
		if v, one := n.set.only(); one {
			return []byte{v}, true, []byte{v}
		}
		return nil, false, nil
	case kSeq:
		var run []byte
		ok = true
		for _, s := range n.subs {
			e, eok, b := required(s)
			if len(b) > len(best) {
				best = b
			}
			if !eok || len(run)+len(e) > maxNeed {
				ok, run = false, nil
				if eok {
					run = append(run, e...)
				}
				continue
			}
			run = append(run, e...)
			if len(run) > len(best) {
				best = bytes.Clone(run)
			}
		}
		if !ok {
			return nil, false, best
		}
		return run, true, best
	case kAlt:
		return nil, false, nil
	default: // kRepeat
		if n.min == 0 {
			return nil, false, nil
		}
		e, eok, b := required(n.subs[0])
		if !eok {
			return nil, false, b
		}
		var rep []byte
		for k := 0; k < n.min && len(rep)+len(e) <= maxNeed; k++ {
			rep = append(rep, e...)
		}
		if n.min == n.max && len(rep) == n.min*len(e) {
			return rep, true, rep
		}
		return nil, false, rep
	}
}

// positions counts n's byte sets once repeats are expanded, saturating
// past maxPositions.
func positions(n *node) int {
	switch n.kind {
	case kClass:
		return 1
	case kSeq, kAlt:
		t := 0
		for _, s := range n.subs {
			t = min(t+positions(s), maxPositions+1)
		}
		return t
	default: // kRepeat
		copies := n.max
		if n.max < 0 {
			copies = max(n.min, 1)
		}
		return min(positions(n.subs[0])*copies, maxPositions+1)
	}
}

// glushkov builds the position automaton of a pattern: each byte set
// is a position; first, last and follow sets say how they chain.
type glushkov struct {
	w      int
	sets   []byteSet
	follow []uint64
}

func (g *glushkov) bitsOf() []uint64 { return make([]uint64, g.w) }

// build adds n's positions and returns the ones a match of n can start
// and end with, and whether n can match nothing.
func (g *glushkov) build(n *node) (first, last []uint64, nullable bool) {
	switch n.kind {
	case kClass:
		p := len(g.sets)
		g.sets = append(g.sets, n.set)
		g.follow = append(g.follow, make([]uint64, g.w)...)
		first, last = g.bitsOf(), g.bitsOf()
		first[p/64] |= 1 << (p % 64)
		last[p/64] |= 1 << (p % 64)
		return first, last, false
	case kSeq:
		return g.seq(len(n.subs), func(i int) ([]uint64, []uint64, bool) { return g.build(n.subs[i]) })
	case kAlt:
		first, last = g.bitsOf(), g.bitsOf()
		for _, s := range n.subs {
			f, l, nl := g.build(s)
			or(first, f)
			or(last, l)
			nullable = nullable || nl
		}
		return first, last, nullable
	default: // kRepeat: min copies, then max-min optional ones, or a last copy that loops
		copies := n.max
		if n.max < 0 {
			copies = max(n.min, 1)
		}
		return g.seq(copies, func(i int) ([]uint64, []uint64, bool) {
			f, l, nl := g.build(n.subs[0])
			if n.max < 0 && i == copies-1 {
				g.link(l, f)
			}
			return f, l, nl || i >= n.min
		})
	}
}

// seq chains k parts, each made by part(i).
func (g *glushkov) seq(k int, part func(i int) ([]uint64, []uint64, bool)) (first, last []uint64, nullable bool) {
	first, last, nullable = g.bitsOf(), g.bitsOf(), true
	for i := 0; i < k; i++ {
		f, l, nl := part(i)
		g.link(last, f)
		if nullable {
			or(first, f)
		}
		if nl {
			or(last, l)
		} else {
			last = l
		}
		nullable = nullable && nl
	}
	return first, last, nullable
}

// link lets every position in from be followed by every one in to.
func (g *glushkov) link(from, to []uint64) {
	w := g.w
	for k, x := range from {
		for x != 0 {
			p := k*64 + bits.TrailingZeros64(x)
			x &= x - 1
			or(g.follow[p*w:(p+1)*w], to)
		}
	}
}

func or(dst, src []uint64) {
	for k := range dst {
		dst[k] |= src[k]
	}
}
