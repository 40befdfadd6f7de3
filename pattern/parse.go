package pattern

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrSyntax is wrapped by every error Compile returns.
var ErrSyntax = errors.New("invalid byte pattern")

// Error is a pattern Compile refuses: where, and why.
type Error struct {
	Expr string // the pattern as given
	Pos  int    // byte offset in Expr where the problem is; 0 for the whole pattern
	Msg  string // what is wrong, and when it helps, what to write instead
}

func (e *Error) Error() string { return fmt.Sprintf("pattern %q: at %d: %s", e.Expr, e.Pos, e.Msg) }

// Unwrap makes every Error match ErrSyntax.
func (e *Error) Unwrap() error { return ErrSyntax }

// Limits that keep Compile's time and memory bounded on any input.
const (
	maxRepeat = 1 << 16 // the largest n or m in {n}, {n,m}, {n,*}
	maxBytes  = 1 << 18 // the longest pattern: 262144 bytes, pcap's largest snap length
	maxDepth  = 256     // groups and sets nested deeper are refused
)

type kind uint8

const (
	kClass  kind = iota // one byte out of set
	kSeq                // subs, one after the other
	kAlt                // one of subs
	kRepeat             // subs[0], min to max times (max < 0: no limit)
)

// node is the parsed pattern.
type node struct {
	kind     kind
	set      byteSet
	subs     []*node
	min, max int
}

// item is a node being parsed, with what byteseek's parser knows of it:
// whether it was written as one byte value (and so may start or end a
// range), whether that byte was inverted with '^', and whether a
// quantifier follows it already.
type item struct {
	n          *node
	pos        int
	isByte     bool
	inverted   bool
	value      byte
	quantified bool
}

// syntaxError carries an *Error from deep in the parser to parse.
type syntaxError struct{ err *Error }

type parser struct {
	expr  string
	i     int
	depth int
}

func (p *parser) fail(pos int, format string, args ...any) {
	panic(syntaxError{&Error{Expr: p.expr, Pos: pos, Msg: fmt.Sprintf(format, args...)}})
}

// parse reads expr in byteseek's regular expression syntax (see doc.go).
func parse(expr string) (n *node, err error) {
	p := &parser{expr: expr}
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(syntaxError)
			if !ok {
				panic(r)
			}
			n, err = nil, se.err
		}
	}()
	n = p.alternatives(false)
	if p.i < len(expr) { // alternatives stops only at the end or at ')'
		p.fail(p.i, "')' without a matching '('")
	}
	return n, nil
}

func (p *parser) enter(pos int) {
	if p.depth++; p.depth > maxDepth {
		p.fail(pos, "groups and sets nested more than %d deep", maxDepth)
	}
}

// alternatives reads sequences separated by '|', up to ')' or the end.
func (p *parser) alternatives(inGroup bool) *node {
	var alts []*node
	for {
		alts = append(alts, p.sequence(inGroup, len(alts) > 0))
		if p.i < len(p.expr) && p.expr[p.i] == '|' {
			p.i++
			continue
		}
		break
	}
	if len(alts) == 1 {
		return alts[0]
	}
	return &node{kind: kAlt, subs: alts}
}

// sequence reads items up to '|', ')' or the end.
func (p *parser) sequence(inGroup, afterBar bool) *node {
	var items []item
	dash := -1 // where a '-' waits for the byte that ends its range
	for p.i < len(p.expr) && p.expr[p.i] != '|' && p.expr[p.i] != ')' {
		if p.space() {
			continue
		}
		c := p.expr[p.i]
		if dash >= 0 && !startsAtom(c) {
			p.fail(p.i, "a range needs one byte after '-': 30-39, 'a'-'z'")
		}
		switch c {
		case '*', '+', '?', '{':
			if len(items) == 0 {
				p.fail(p.i, "%q has nothing before it to repeat", c)
			}
			last := &items[len(items)-1]
			if last.quantified {
				p.fail(p.i, "a repeat cannot follow another repeat: group first, as in (01{2}){3}")
			}
			last.n = p.quantifier(last.n)
			last.quantified, last.isByte = true, false
		case '-':
			if len(items) == 0 || !items[len(items)-1].isByte {
				p.fail(p.i, "a range starts with one byte, written right before '-': 30-39, 'a'-'z'")
			}
			dash = p.i
			p.i++
		case '(':
			open := p.i
			p.i++
			p.enter(open)
			n := p.alternatives(true)
			if p.i >= len(p.expr) {
				p.fail(open, "'(' without a matching ')'")
			}
			p.i++ // ')'
			p.depth--
			items = append(items, item{n: n, pos: open})
		default:
			it, ok := p.atom(false)
			if !ok {
				p.unexpected("")
			}
			if dash >= 0 {
				items[len(items)-1] = p.makeRange(items[len(items)-1], it)
				dash = -1
				continue
			}
			items = append(items, it)
		}
	}
	if dash >= 0 {
		p.fail(p.i, "a range needs one byte after '-': 30-39, 'a'-'z'")
	}
	if len(items) == 0 {
		switch {
		case afterBar || p.i < len(p.expr) && p.expr[p.i] == '|':
			p.fail(p.i, "an alternative is empty: write something on each side of '|'")
		case inGroup:
			p.fail(p.i, "empty group ()")
		default:
			p.fail(p.i, "empty pattern")
		}
	}
	if len(items) == 1 {
		return items[0].n
	}
	seq := &node{kind: kSeq}
	for _, it := range items {
		seq.subs = append(seq.subs, it.n)
	}
	return seq
}

// startsAtom reports whether c can begin something atom reads.
func startsAtom(c byte) bool {
	return isHex(c) || strings.IndexByte(".&~'`\\[^", c) >= 0
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// space skips whitespace and a '#' comment (to the end of the line).
func (p *parser) space() bool {
	switch p.expr[p.i] {
	case ' ', '\t', '\r', '\n':
		p.i++
		return true
	case '#':
		if j := strings.IndexByte(p.expr[p.i:], '\n'); j >= 0 {
			p.i += j + 1
		} else {
			p.i = len(p.expr)
		}
		return true
	}
	return false
}

// unexpected fails on the character at p.i.
func (p *parser) unexpected(where string) {
	r, _ := utf8.DecodeRuneInString(p.expr[p.i:])
	switch {
	case r >= 'g' && r <= 'z' || r >= 'G' && r <= 'Z':
		p.fail(p.i, "%q is not a hex digit (text goes in quotes: 'GET')", r)
	case r == ']':
		p.fail(p.i, "']' without a matching '['")
	case r == '}':
		p.fail(p.i, "'}' without a repeat before it")
	}
	p.fail(p.i, "unexpected %q%s", r, where)
}

// atom reads one thing that matches bytes: a byte, '.', a bitmask, text,
// a shorthand or a set, each but '.' and text optionally inverted with
// '^' right before it. In a set (inSet), text stands for its bytes. It
// reports false, consuming nothing, if nothing of that kind starts here.
func (p *parser) atom(inSet bool) (item, bool) {
	start := p.i
	inv := p.expr[p.i] == '^'
	if inv {
		p.i++
		if p.i >= len(p.expr) || !startsAtom(p.expr[p.i]) || p.expr[p.i] == '^' {
			p.fail(start, "'^' inverts the byte, one-character text, range, bitmask, shorthand or set right after it")
		}
	}
	c := p.expr[p.i]
	switch {
	case isHex(c):
		return byteItem(p.hexByte(), inv, start), true
	case c == '.':
		if inv {
			p.fail(start, "'.' cannot be inverted: '^.' would match no byte")
		}
		p.i++
		var all byteSet
		all.invert()
		return item{n: &node{kind: kClass, set: all}, pos: start}, true
	case c == '&' || c == '~':
		p.i++
		if p.i >= len(p.expr) {
			p.fail(start, "%q needs a bitmask after it, two hex digits: %c80", c, c)
		}
		m := p.hexByte()
		s := allBits(m)
		if c == '~' {
			s = anyBits(m)
		}
		if inv {
			s.invert()
		}
		return item{n: &node{kind: kClass, set: s}, pos: start}, true
	case c == '\'' || c == '`':
		text := p.text(c)
		if c == '\'' && len(text) == 1 {
			return byteItem(text[0], inv, start), true
		}
		if inv {
			p.fail(start, "text cannot be inverted, only one byte of it: ^'a', ^[`abc`]")
		}
		sets := make([]byteSet, len(text))
		for i, b := range text {
			sets[i] = setOf(b)
			if c == '`' {
				sets[i] = foldASCII(b)
			}
		}
		if inSet {
			var u byteSet
			for i := range sets {
				u.union(&sets[i])
			}
			return item{n: &node{kind: kClass, set: u}, pos: start}, true
		}
		seq := &node{kind: kSeq}
		for _, s := range sets {
			seq.subs = append(seq.subs, &node{kind: kClass, set: s})
		}
		if len(seq.subs) == 1 {
			seq = seq.subs[0]
		}
		return item{n: seq, pos: start}, true
	case c == '\\':
		return p.shorthand(start, inv), true
	case c == '[':
		return p.set(start, inv), true
	}
	return item{}, false
}

func byteItem(v byte, inv bool, pos int) item {
	s := setOf(v)
	if inv {
		s.invert()
	}
	return item{n: &node{kind: kClass, set: s}, pos: pos, isByte: true, inverted: inv, value: v}
}

// hexByte reads two hex digits at p.i.
func (p *parser) hexByte() byte {
	var v byte
	for k := 0; k < 2; k++ {
		if p.i >= len(p.expr) {
			p.fail(p.i, "a byte is two hex digits, and the pattern ends after one")
		}
		c := p.expr[p.i]
		if !isHex(c) {
			r, _ := utf8.DecodeRuneInString(p.expr[p.i:])
			p.fail(p.i, "%q is not a hex digit (a byte is two hex digits)", r)
		}
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		v = v<<4 | c
		p.i++
	}
	return v
}

// text reads text between quote characters. It must be ASCII: byteseek
// encoded longer 'text' in the JVM's default charset and one character
// or `text` as ISO-8859-1, so Metron read other characters differently
// from one pattern and host to the next.
func (p *parser) text(quote byte) []byte {
	open := p.i
	p.i++
	end := strings.IndexByte(p.expr[p.i:], quote)
	if end < 0 {
		p.fail(open, "text opened with %c is not closed", quote)
	}
	if end == 0 {
		p.fail(open, "empty text %c%c", quote, quote)
	}
	raw := p.expr[p.i : p.i+end]
	for j := 0; j < len(raw); j++ {
		if raw[j] >= 0x80 {
			if r, n := utf8.DecodeRuneInString(raw[j:]); r != utf8.RuneError || n > 1 {
				p.fail(p.i+j, "%q is not ASCII: write its bytes in hex", r)
			}
			p.fail(p.i+j, "byte %02x in text is not ASCII: write it in hex", raw[j])
		}
	}
	p.i += end + 1
	return []byte(raw)
}

// shorthand reads \t, \d and the like (byteseek's RegexParser.parseShorthand).
func (p *parser) shorthand(start int, inv bool) item {
	p.i++ // '\'
	if p.i >= len(p.expr) {
		p.fail(start, "'\\' at the end: a shorthand is \\t \\n \\r \\v \\f \\e \\d \\w \\s \\l \\u \\i or one of those in capitals")
	}
	c := p.expr[p.i]
	p.i++
	var v byte
	switch c {
	case 't':
		v = 0x09
	case 'n':
		v = 0x0a
	case 'r':
		v = 0x0d
	case 'v':
		v = 0x0b
	case 'f':
		v = 0x0c
	case 'e':
		v = 0x1e // byteseek's value (RegexParser.ESCAPE), not ASCII ESC 0x1b
	default:
		var s byteSet
		switch c | 0x20 {
		case 'd':
			s = rangeSet('0', '9')
		case 'l':
			s = rangeSet('a', 'z')
		case 'u':
			s = rangeSet('A', 'Z')
		case 'i':
			s = rangeSet(0x00, 0x7f)
		case 's':
			s = setOf(' ', '\t', '\n', '\r')
		case 'w':
			s = rangeSet('0', '9')
			a, z, u := rangeSet('a', 'z'), rangeSet('A', 'Z'), setOf('_')
			s.union(&a)
			s.union(&z)
			s.union(&u)
		default:
			r, _ := utf8.DecodeRuneInString(p.expr[p.i-1:])
			p.fail(p.i-1, "unknown shorthand \\%c: it is one of \\t \\n \\r \\v \\f \\e \\d \\w \\s \\l \\u \\i or those in capitals", r)
		}
		if c >= 'A' && c <= 'Z' {
			s.invert()
		}
		if inv {
			s.invert()
		}
		return item{n: &node{kind: kClass, set: s}, pos: start}
	}
	return byteItem(v, inv, start)
}

// set reads [...]: the union of what is inside (bytes, ranges, text,
// bitmasks, shorthands, '.', sets), each maybe inverted on its own.
func (p *parser) set(start int, inv bool) item {
	open := p.i
	p.i++
	p.enter(open)
	var elems []item
	dash := -1
	for {
		if p.i >= len(p.expr) {
			p.fail(open, "'[' without a matching ']'")
		}
		if p.space() {
			continue
		}
		c := p.expr[p.i]
		if dash >= 0 && !startsAtom(c) {
			p.fail(p.i, "a range needs one byte after '-': 30-39, 'a'-'z'")
		}
		if c == ']' {
			p.i++
			break
		}
		if c == '-' {
			if len(elems) == 0 || !elems[len(elems)-1].isByte {
				p.fail(p.i, "a range starts with one byte, written right before '-': 30-39, 'a'-'z'")
			}
			dash = p.i
			p.i++
			continue
		}
		it, ok := p.atom(true)
		if !ok {
			p.unexpected(" in a set")
		}
		if dash >= 0 {
			elems[len(elems)-1] = p.makeRange(elems[len(elems)-1], it)
			dash = -1
			continue
		}
		elems = append(elems, it)
	}
	p.depth--
	if len(elems) == 0 {
		p.fail(open, "empty set []")
	}
	var s byteSet
	for _, e := range elems {
		s.union(&e.n.set)
	}
	if inv {
		s.invert()
	}
	return item{n: &node{kind: kClass, set: s}, pos: start}
}

// makeRange joins first '-' last into a range: both single bytes, only
// the first maybe inverted (inverting the range), in either order
// (byteseek's RegexParser.createRange and ByteRangeMatcher).
func (p *parser) makeRange(first, last item) item {
	if !last.isByte {
		p.fail(last.pos, "a range ends with one byte: 30-39, 'a'-'z'")
	}
	if last.inverted {
		p.fail(last.pos, "the end of a range cannot be inverted: write ^30-39")
	}
	s := rangeSet(first.value, last.value)
	if first.inverted {
		s.invert()
	}
	return item{n: &node{kind: kClass, set: s}, pos: first.pos}
}

// quantifier reads * + ? {n} {n,m} {n,*} and applies it to n.
func (p *parser) quantifier(n *node) *node {
	start := p.i
	c := p.expr[p.i]
	p.i++
	rep := func(lo, hi int) *node { return &node{kind: kRepeat, subs: []*node{n}, min: lo, max: hi} }
	switch c {
	case '*':
		return rep(0, -1)
	case '+':
		return rep(1, -1)
	case '?':
		return rep(0, 1)
	}
	lo := p.count(start)
	hi := lo
	if p.i < len(p.expr) && p.expr[p.i] == ',' {
		p.i++
		if p.i < len(p.expr) && p.expr[p.i] == '*' {
			p.i++
			hi = -1
		} else {
			hi = p.count(start)
		}
	}
	if p.i >= len(p.expr) || p.expr[p.i] != '}' {
		p.fail(start, "a repeat is {n}, {n,m} or {n,*}, with no spaces")
	}
	p.i++
	if lo == 0 || hi == 0 {
		p.fail(start, "repeat counts start at 1: for none or more write ? or *")
	}
	if hi >= 0 && hi < lo {
		p.fail(start, "{%d,%d} has its minimum above its maximum", lo, hi)
	}
	return rep(lo, hi)
}

func (p *parser) count(brace int) int {
	j := p.i
	for j < len(p.expr) && p.expr[j] >= '0' && p.expr[j] <= '9' {
		j++
	}
	if j == p.i {
		p.fail(brace, "a repeat is {n}, {n,m} or {n,*}, with no spaces")
	}
	v := 0
	for _, d := range p.expr[p.i:j] {
		if v = v*10 + int(d-'0'); v > maxRepeat {
			p.fail(p.i, "repeat count %s is above %d", p.expr[p.i:j], maxRepeat)
		}
	}
	p.i = j
	return v
}
