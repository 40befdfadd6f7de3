package pattern

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// The oracle: a generator writes a random pattern in byteseek's syntax
// and, from the same random choices, the Go regexp that means the same
// over Latin-1 text (each byte one rune), without parsing either. Go's
// regexp package then says what should match. The generator's idea of
// the syntax (sets, bitmasks, case folding, what a quantifier binds to)
// is its own, written from byteseek's documentation and parser, not
// from this package's code.

// chooser makes the generator's random choices.
type chooser interface{ intn(n int) int }

type randChooser struct{ r *rand.Rand }

func (c randChooser) intn(n int) int { return c.r.IntN(n) }

// byteChooser takes choices from fuzzer bytes; 0 once they run out.
type byteChooser struct{ b []byte }

func (c *byteChooser) intn(n int) int {
	if len(c.b) == 0 {
		return 0
	}
	v := int(c.b[0])
	c.b = c.b[1:]
	if n > 256 {
		if len(c.b) > 0 {
			v = v<<8 | int(c.b[0])
			c.b = c.b[1:]
		}
	}
	return v % n
}

type gen struct {
	c     chooser
	depth int
	fixed bool // only what Metron compiled: {n}, and alternatives of single bytes
}

// piece is a generated pattern fragment: its byteseek text, the Go
// regexp for it, and bytes it matches (nil if it can match none).
type piece struct {
	pat, re string
	sample  []byte
	ok      bool    // sample is a valid match (false if some set is empty)
	members members // what a one-byte atom matches
}

type members [256]bool

func (m *members) reClass() string {
	var sb strings.Builder
	sb.WriteByte('[')
	n := 0
	for v := 0; v < 256; v++ {
		if !m[v] {
			continue
		}
		w := v
		for w+1 < 256 && m[w+1] {
			w++
		}
		fmt.Fprintf(&sb, `\x{%x}-\x{%x}`, v, w)
		n += w - v + 1
		v = w
	}
	if n == 0 {
		return `[^\x{0}-\x{ff}]`
	}
	sb.WriteByte(']')
	return sb.String()
}

func (g *gen) pick(m *members) (byte, bool) {
	var vs []byte
	for v := 0; v < 256; v++ {
		if m[v] {
			vs = append(vs, byte(v))
		}
	}
	if len(vs) == 0 {
		return 0, false
	}
	return vs[g.c.intn(len(vs))], true
}

func reLit(b byte) string { return fmt.Sprintf(`\x{%x}`, b) }

// hexText writes b as two hex digits in a random case.
func (g *gen) hexText(b byte) string {
	s := fmt.Sprintf("%02x", b)
	if g.c.intn(2) == 0 {
		s = strings.ToUpper(s)
	}
	return s
}

// aByte picks a byte, mostly from a small alphabet so samples recur.
func (g *gen) aByte() byte {
	const alpha = "aAbB01 \t\x00\xff\xe9-"
	if g.c.intn(4) > 0 {
		return alpha[g.c.intn(len(alpha))]
	}
	return byte(g.c.intn(256))
}

// quotable is a byte that can go in quoted text: ASCII, not a quote
// character.
func (g *gen) quotable() byte {
	for {
		b := g.aByte()
		if b < 0x80 && b != '\'' && b != '`' {
			return b
		}
		if g.c.intn(2) == 0 {
			return 'x'
		}
	}
}

func latin1(bs []byte) string {
	r := make([]rune, len(bs))
	for i, b := range bs {
		r[i] = rune(b)
	}
	return string(r)
}

func (g *gen) space() string {
	switch g.c.intn(12) {
	case 0:
		return " "
	case 1:
		return "\n\t"
	case 2:
		return " # a comment | ( [ '\n"
	}
	return ""
}

func (g *gen) alternatives() piece {
	n := 1
	if g.depth < 3 && g.c.intn(4) == 0 {
		n = 2 + g.c.intn(2)
	}
	var pats, res []string
	var chosen piece
	which := g.c.intn(n)
	for i := 0; i < n; i++ {
		p := g.sequence()
		if g.fixed && n > 1 {
			p = g.atom(false)
		}
		pats, res = append(pats, p.pat), append(res, p.re)
		if i == which {
			chosen = p
		}
	}
	return piece{pat: strings.Join(pats, g.space()+"|"+g.space()), re: "(?:" + strings.Join(res, "|") + ")", sample: chosen.sample, ok: chosen.ok}
}

func (g *gen) sequence() piece {
	out := piece{ok: true}
	for i, n := 0, 1+g.c.intn(4); i < n; i++ {
		p := g.item()
		out.pat += g.space() + p.pat
		out.re += p.re
		out.sample = append(out.sample, p.sample...)
		out.ok = out.ok && p.ok
	}
	return out
}

// item is an atom or a group, maybe quantified: in byteseek a
// quantifier applies to the whole item before it (all of 'text').
func (g *gen) item() piece {
	var p piece
	if g.depth < 3 && g.c.intn(6) == 0 {
		g.depth++
		inner := g.alternatives()
		g.depth--
		p = piece{pat: "(" + inner.pat + ")", re: inner.re, sample: inner.sample, ok: inner.ok}
	} else {
		p = g.atom(false)
	}
	lo, hi := 1, 1
	q := g.c.intn(14)
	if g.fixed && q != 3 {
		q = 6
	}
	switch q {
	case 0:
		p.pat, lo, hi = p.pat+"*", 0, -1
	case 1:
		p.pat, lo, hi = p.pat+"+", 1, -1
	case 2:
		p.pat, lo, hi = p.pat+"?", 0, 1
	case 3:
		lo = 1 + g.c.intn(3)
		p.pat, hi = p.pat+fmt.Sprintf("{%d}", lo), lo
	case 4:
		lo = 1 + g.c.intn(3)
		hi = lo + g.c.intn(3)
		p.pat += g.space() + fmt.Sprintf("{%d,%d}", lo, hi)
	case 5:
		lo = 1 + g.c.intn(3)
		p.pat, hi = p.pat+fmt.Sprintf("{%d,*}", lo), -1
	default:
		return p
	}
	switch {
	case hi < 0:
		p.re = fmt.Sprintf("(?:%s){%d,}", p.re, lo)
	default:
		p.re = fmt.Sprintf("(?:%s){%d,%d}", p.re, lo, hi)
	}
	k := lo
	if hi != lo {
		k += g.c.intn(3)
		if hi >= 0 {
			k = min(k, hi)
		}
	}
	one := p.sample
	p.sample = nil
	for i := 0; i < k; i++ {
		p.sample = append(p.sample, one...)
	}
	if k == 0 {
		p.ok = true
	}
	return p
}

// atom writes one atom; in a set it also returns its members.
func (g *gen) atom(inSet bool) piece {
	var m members
	var pat string
	switch g.c.intn(11) {
	case 0: // a byte, maybe inverted
		b := g.aByte()
		pat = g.hexText(b)
		m[b] = true
		if g.c.intn(3) == 0 {
			pat, m = "^"+pat, invert(m)
		}
	case 1: // any byte
		pat = "."
		m = invert(m)
	case 2: // text
		var t []byte
		for i, n := 0, 1+g.c.intn(3); i < n; i++ {
			t = append(t, g.quotable())
		}
		pat = "'" + latin1(t) + "'"
		if len(t) == 1 && g.c.intn(3) == 0 {
			m[t[0]] = true
			return g.finish("^"+pat, invert(m))
		}
		if inSet {
			for _, b := range t {
				m[b] = true
			}
			break
		}
		return piece{pat: pat, re: reText(t, false), sample: t, ok: true}
	case 3: // case-insensitive text
		var t []byte
		for i, n := 0, 1+g.c.intn(3); i < n; i++ {
			t = append(t, g.quotable())
		}
		pat = "`" + latin1(t) + "`"
		if inSet {
			for _, b := range t {
				m[b] = true
				m[otherCase(b)] = true
			}
			break
		}
		return piece{pat: pat, re: reText(t, true), sample: mixCase(t, g), ok: true}
	case 4, 5: // bitmasks
		mask := byte(g.c.intn(256))
		op := "&~"[g.c.intn(2)]
		pat = string(op) + g.hexText(mask)
		for v := 0; v < 256; v++ {
			m[v] = op == '&' && byte(v)&mask == mask || op == '~' && byte(v)&mask != 0
		}
		if g.c.intn(3) == 0 {
			pat, m = "^"+pat, invert(m)
		}
	case 6: // a range
		lo, loText := g.rangeEnd()
		hi, hiText := g.rangeEnd()
		pat = loText + g.space() + "-" + g.space() + hiText
		for v := int(min(lo, hi)); v <= int(max(lo, hi)); v++ {
			m[v] = true
		}
		if g.c.intn(3) == 0 {
			pat, m = "^"+pat, invert(m)
		}
	case 7, 8: // a shorthand
		const sh = "tnrvfedDwWsSlLuUiI"
		c := sh[g.c.intn(len(sh))]
		pat = `\` + string(c)
		m = shorthandMembers(c)
		if g.c.intn(4) == 0 {
			pat, m = "^"+pat, invert(m)
		}
	default: // a set
		if g.depth >= 4 {
			b := g.aByte()
			m[b] = true
			pat = g.hexText(b)
			break
		}
		g.depth++
		var parts []string
		for i, n := 0, 1+g.c.intn(4); i < n; i++ {
			e := g.atom(true)
			parts = append(parts, e.pat)
			for v := range e.members {
				m[v] = m[v] || e.members[v]
			}
		}
		g.depth--
		pat = "[" + g.space() + strings.Join(parts, " "+g.space()) + g.space() + "]"
		if g.c.intn(3) == 0 {
			pat, m = "^"+pat, invert(m)
		}
	}
	return g.finish(pat, m)
}

func (g *gen) finish(pat string, m members) piece {
	b, ok := g.pick(&m)
	p := piece{pat: pat, re: m.reClass(), ok: ok, members: m}
	if ok {
		p.sample = []byte{b}
	}
	return p
}

// rangeEnd is one byte written as hex, one-character text or a
// shorthand for one byte.
func (g *gen) rangeEnd() (byte, string) {
	switch g.c.intn(3) {
	case 0:
		b := g.quotable()
		return b, "'" + latin1([]byte{b}) + "'"
	case 1:
		const sh, vals = "tnrvfe", "\x09\x0a\x0d\x0b\x0c\x1e"
		i := g.c.intn(len(sh))
		return vals[i], `\` + sh[i:i+1]
	}
	b := g.aByte()
	return b, g.hexText(b)
}

func invert(m members) members {
	for v := range m {
		m[v] = !m[v]
	}
	return m
}

func otherCase(b byte) byte {
	switch {
	case b >= 'a' && b <= 'z':
		return b - 32
	case b >= 'A' && b <= 'Z':
		return b + 32
	}
	return b
}

func mixCase(t []byte, g *gen) []byte {
	out := append([]byte(nil), t...)
	for i := range out {
		if g.c.intn(2) == 0 {
			out[i] = otherCase(out[i])
		}
	}
	return out
}

func reText(t []byte, fold bool) string {
	var sb strings.Builder
	for _, b := range t {
		if o := otherCase(b); fold && o != b {
			fmt.Fprintf(&sb, "[%s%s]", reLit(b), reLit(o))
		} else {
			sb.WriteString(reLit(b))
		}
	}
	return "(?:" + sb.String() + ")"
}

// shorthandMembers is byteseek's table of shorthands (sequencesyntax.md,
// RegexParser.parseShorthand), \e included at its 0x1e.
func shorthandMembers(c byte) members {
	var m members
	in := func(lo, hi byte) {
		for v := int(lo); v <= int(hi); v++ {
			m[v] = true
		}
	}
	switch c {
	case 't':
		m[9] = true
	case 'n':
		m[10] = true
	case 'r':
		m[13] = true
	case 'v':
		m[11] = true
	case 'f':
		m[12] = true
	case 'e':
		m[0x1e] = true
	case 'd', 'D':
		in('0', '9')
	case 'w', 'W':
		in('0', '9')
		in('a', 'z')
		in('A', 'Z')
		m['_'] = true
	case 's', 'S':
		m[' '], m['\t'], m['\n'], m['\r'] = true, true, true, true
	case 'l', 'L':
		in('a', 'z')
	case 'u', 'U':
		in('A', 'Z')
	case 'i', 'I':
		in(0, 0x7f)
	}
	if c >= 'A' && c <= 'Z' {
		m = invert(m)
	}
	return m
}

// oracleCase is one generated pattern with inputs to try it on.
type oracleCase struct {
	pat    string
	re     *regexp.Regexp
	inputs [][]byte
}

func generate(c chooser, extra []byte) (oracleCase, error) {
	g := &gen{c: c}
	g.fixed = g.c.intn(2) == 0
	p := g.alternatives()
	re, err := regexp.Compile("(?s)" + p.re)
	if err != nil {
		return oracleCase{}, fmt.Errorf("generator wrote a bad regexp for %q: %v", p.pat, err)
	}
	oc := oracleCase{pat: p.pat, re: re}
	noise := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = g.aByte()
		}
		return b
	}
	oc.inputs = append(oc.inputs, nil, extra, noise(g.c.intn(40)))
	if p.ok {
		s := append(noise(g.c.intn(8)), p.sample...)
		s = append(s, noise(g.c.intn(8))...)
		oc.inputs = append(oc.inputs, p.sample, s)
		if len(s) > 0 { // and the sample spoiled in one place
			t := append([]byte(nil), s...)
			t[g.c.intn(len(t))] = g.aByte()
			oc.inputs = append(oc.inputs, t)
		}
	}
	return oc, nil
}

// check compiles the case and compares Match with the regexp on every
// input. A pattern the regexp matches on zero bytes must be refused.
func (oc oracleCase) check(t testing.TB) {
	t.Helper()
	p, err := Compile(oc.pat)
	nullable := oc.re.MatchString("")
	switch {
	case nullable && err == nil:
		t.Fatalf("Compile(%q) accepted a pattern that matches zero bytes (regexp %s)", oc.pat, oc.re)
	case nullable:
		if !strings.Contains(err.Error(), "can match zero bytes") {
			t.Fatalf("Compile(%q): %v; want the empty-match error", oc.pat, err)
		}
		return
	case err != nil:
		t.Fatalf("Compile(%q): %v (regexp %s)", oc.pat, err, oc.re)
	}
	for _, in := range oc.inputs {
		want := oc.re.MatchString(latin1(in))
		if got := p.Match(in); got != want {
			t.Fatalf("Compile(%q).Match(%x) = %v, regexp %s says %v", oc.pat, in, got, oc.re, want)
		}
	}
}

// TestAgainstRegexp: on thousands of generated patterns, Match agrees
// with Go's regexp over the same bytes read as Latin-1.
func TestAgainstRegexp(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for i := 0; i < n; i++ {
		oc, err := generate(randChooser{r}, nil)
		if err != nil {
			t.Fatal(err)
		}
		oc.check(t)
	}
}

// refMatch is a slow matcher over the parsed pattern: the offsets
// where a match of n can end, from every offset where one can start.
func refMatch(n *node, b []byte) bool {
	starts := make([]bool, len(b)+1)
	for i := range starts {
		starts[i] = true
	}
	for _, e := range refEnds(n, b, starts) {
		if e {
			return true
		}
	}
	return false
}

func refEnds(n *node, b []byte, starts []bool) []bool {
	ends := make([]bool, len(b)+1)
	switch n.kind {
	case kClass:
		for i := range b {
			ends[i+1] = starts[i] && n.set.has(b[i])
		}
	case kSeq:
		copy(ends, starts)
		for _, s := range n.subs {
			ends = refEnds(s, b, ends)
		}
	case kAlt:
		for _, s := range n.subs {
			for i, e := range refEnds(s, b, starts) {
				ends[i] = ends[i] || e
			}
		}
	default:
		cur := starts
		for k := 0; k < n.min && !none(cur); k++ {
			cur = refEnds(n.subs[0], b, cur)
		}
		copy(ends, cur)
		for k := n.min; n.max < 0 || k < n.max; k++ {
			cur = refEnds(n.subs[0], b, cur)
			grew := false
			for i, e := range cur {
				if e && !ends[i] {
					ends[i], grew = true, true
				}
			}
			if !grew {
				break // nothing new: more copies add nothing either
			}
		}
	}
	return ends
}

func none(s []bool) bool {
	for _, v := range s {
		if v {
			return false
		}
	}
	return true
}
