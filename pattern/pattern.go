package pattern

import "fmt"

// Pattern is a compiled byte pattern. It is immutable: Match may be
// called from any number of goroutines at once.
type Pattern struct {
	expr string
	eng  engine
}

// engine searches for the pattern anywhere in b.
type engine interface {
	match(b []byte) bool
}

// Compile parses expr in byteseek's syntax (see the package comment)
// and builds its matcher. An error is an *Error, which matches
// ErrSyntax.
func Compile(expr string) (*Pattern, error) {
	n, err := parse(expr)
	if err != nil {
		return nil, err
	}
	lo, _ := lengths(n)
	if lo == 0 {
		return nil, &Error{Expr: expr, Pos: 0, Msg: "the pattern can match zero bytes, so it would keep every packet"}
	}
	if lo > maxBytes {
		return nil, &Error{Expr: expr, Pos: 0, Msg: fmt.Sprintf("the pattern needs more than %d bytes, more than a packet holds", maxBytes)}
	}
	if sets, ok := flatten(n, nil); ok {
		return &Pattern{expr: expr, eng: newFixed(sets)}, nil
	}
	a, err := newAutomaton(n)
	if err != nil {
		return nil, &Error{Expr: expr, Pos: 0, Msg: err.Error()}
	}
	return &Pattern{expr: expr, eng: a}, nil
}

// Match reports whether the pattern occurs anywhere in b. It allocates
// nothing and does not keep b.
func (p *Pattern) Match(b []byte) bool { return p.eng.match(b) }

// String is the pattern as given to Compile.
func (p *Pattern) String() string { return p.expr }

// lengths are the fewest and most bytes n matches (hi < 0: no limit),
// saturating above maxBytes.
func lengths(n *node) (lo, hi int) {
	sat := func(v int) int { return min(v, maxBytes+1) }
	switch n.kind {
	case kClass:
		return 1, 1
	case kSeq:
		for _, s := range n.subs {
			l, h := lengths(s)
			lo = sat(lo + l)
			if hi >= 0 {
				hi = sat(hi + h)
				if h < 0 {
					hi = -1
				}
			}
		}
		return lo, hi
	case kAlt:
		lo = maxBytes + 1
		for _, s := range n.subs {
			l, h := lengths(s)
			lo = min(lo, l)
			if hi >= 0 {
				hi = max(hi, h)
				if h < 0 {
					hi = -1
				}
			}
		}
		return lo, hi
	default: // kRepeat
		l, h := lengths(n.subs[0])
		lo = sat(l * n.min)
		switch {
		case n.max < 0 || h < 0:
			hi = -1
		default:
			hi = sat(h * n.max)
		}
		return lo, hi
	}
}

// flatten appends n's byte sets to sets if n is a fixed sequence of
// them: no alternatives but of single bytes (byteseek turns those into
// a set, RegexParser.optimiseSingleByteAlternatives) and only {n}
// repeats. Callers have checked n is at most maxBytes long.
func flatten(n *node, sets []byteSet) ([]byteSet, bool) {
	switch n.kind {
	case kClass:
		return append(sets, n.set), true
	case kSeq:
		for _, s := range n.subs {
			var ok bool
			if sets, ok = flatten(s, sets); !ok {
				return nil, false
			}
		}
		return sets, true
	case kAlt:
		var u byteSet
		for _, s := range n.subs {
			if l, h := lengths(s); l != 1 || h != 1 {
				return nil, false
			}
			one, ok := flatten(s, nil)
			if !ok {
				return nil, false
			}
			u.union(&one[0])
		}
		return append(sets, u), true
	default: // kRepeat
		if n.min != n.max {
			return nil, false
		}
		start := len(sets)
		sets, ok := flatten(n.subs[0], sets)
		if !ok {
			return nil, false
		}
		one := sets[start:]
		for k := 1; k < n.min; k++ {
			sets = append(sets, one...)
			one = sets[start : start+len(one)] // append may have moved sets
		}
		return sets, true
	}
}
