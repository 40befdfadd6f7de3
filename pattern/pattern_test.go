package pattern

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// metronPacket is REALPACKET of Metron's ByteArrayMatchingUtilTest: one
// TCP packet as Metron stored and searched it, a one-packet pcap file.
var metronPacket, _ = hex.DecodeString("d4c3b2a1020004000000000000000000ffff0000010000000dfbea560923090062000000620000000a002700000008002796a47a0800451000547cdf40004006b7e9c0a84279c0a842010016d9ef129035948b92f427801801f5061200000101080a0014f5d511bdf9915bf6b70140db6d4fb551229ef07d2f56abd814bc56420489ca38e7faf8cec3d4")

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// TestMetronCases are the cases of Metron's own test of its
// packet_filter (metron-platform/metron-pcap/src/test/java/org/apache/
// metron/pcap/pattern/ByteArrayMatchingUtilTest.java), with its answers.
func TestMetronCases(t *testing.T) {
	deadbeef := []byte{0xde, 0xad, 0xbe, 0xef}
	donut := []byte{0xde, 0xad, 0x00, 0x00, 0xbe, 0xef}
	allFs := []byte{0xff, 0xff, 0xff, 0xff}
	for _, c := range []struct {
		expr string
		data []byte
		want bool
	}{
		{"`metron`", []byte("metron"), true},
		{"`metron`", []byte("metron example"), true},
		{"`metron`", []byte("edward metron example"), true},
		{"`metron`", []byte("apache"), false},
		{"2f56abd814bc56420489ca38e7faf8cec3d4", metronPacket, true},
		{"2f56..14bc56420489ca38e7faf8cec3d4", metronPacket, true},
		{"(2f56)(.){2}(14bc56420489ca38e7faf8cec3d4)", metronPacket, true},
		{"(3f56)(.){2}(14bc56420489ca38e7faf8cec3d4)", metronPacket, false},
		{"3f56abd814bc56420489ca38e7faf8cec3d4", metronPacket, false},
		{"deadbeef", cat(deadbeef, []byte("metron")), true},
		{"deadbeef `metron`", cat(deadbeef, []byte("metron")), true},
		{"deadbeef `metron`", cat(deadbeef, []byte("metronjones")), true},
		{"deadbeef `metron`", cat(deadbeef, []byte("metronjones"), deadbeef), true},
		{"([ff]){4}", allFs, true},
		{"([ff]){6}", allFs, false},
		{"[^ff]", []byte{0x00}, true},
		{"&01", []byte{0x07}, true},
		{"&01", []byte{0x00}, false},
		{"&01", []byte{0x00, 0x01}, true},
		{"(dead).{2}(beef)", donut, true},
	} {
		p, err := Compile(c.expr)
		if err != nil {
			t.Errorf("Compile(%q): %v", c.expr, err)
			continue
		}
		if got := p.Match(c.data); got != c.want {
			t.Errorf("Compile(%q).Match(%x) = %v, Metron says %v", c.expr, c.data, got, c.want)
		}
	}
}

// sets writes a fixed pattern's byte sets, one per position.
func sets(t *testing.T, expr string) string {
	t.Helper()
	p, err := Compile(expr)
	if err != nil {
		t.Fatalf("Compile(%q): %v", expr, err)
	}
	f, ok := p.eng.(*fixed)
	if !ok {
		t.Fatalf("Compile(%q) is not a fixed pattern", expr)
	}
	var out []string
	for _, s := range f.sets {
		out = append(out, s.String())
	}
	return strings.Join(out, " ")
}

// TestFixedSyntax: each form of byteseek's syntax that Metron compiled
// (a fixed sequence of byte sets) parses to the sets its documentation
// says (sequencesyntax.md, RegexParser's Javadoc).
func TestFixedSyntax(t *testing.T) {
	for _, c := range []struct{ expr, want string }{
		// Bytes: hex pairs, any case, spaced or not.
		{"de ad", "[de] [ad]"},
		{"DEad", "[de] [ad]"},
		{"006E015a7f", "[00] [6e] [01] [5a] [7f]"},
		{" de\tad\r\nbe ef ", "[de] [ad] [be] [ef]"},
		{"de ad # a comment, to the end of the line\nbe", "[de] [ad] [be]"},
		{"de # comment at the end", "[de]"},
		{"^00", "[01-ff]"},
		{"00 ^00 00", "[00] [01-ff] [00]"},
		// Text: 'case-sensitive', `case-insensitive`, ASCII.
		{"'GET /'", "[47] [45] [54] [20] [2f]"},
		{"'a b#'", "[61] [20] [62] [23]"},
		{"'\t'", "[09]"},
		{"`Host`", "[48 68] [4f 6f] [53 73] [54 74]"},
		{"`a-1`", "[41 61] [2d] [31]"},
		{"^'Z'", "[00-59 5b-ff]"},
		{"00 'Start' 01 ^3c", "[00] [53] [74] [61] [72] [74] [01] [00-3b 3d-ff]"},
		// Any byte.
		{".", "[00-ff]"},
		{"'A' . cb", "[41] [00-ff] [cb]"},
		// Ranges, in either order, of bytes written any way.
		{"30-39", "[30-39]"},
		{"39-30", "[30-39]"},
		{"'a' - 'c'", "[61-63]"},
		{"'a'-7a", "[61-7a]"},
		{"\\t-\\r", "[09-0d]"},
		{"20 ^30-39 20", "[20] [00-2f 3a-ff] [20]"},
		{"^'0'-'9'", "[00-2f 3a-ff]"},
		{"00-ff", "[00-ff]"},
		// Bitmasks: all bits &, any bit ~, inverted with ^.
		{"&fe", "[fe-ff]"},
		{"&00", "[00-ff]"},
		{"~80", "[80-ff]"},
		{"~00", "[]"},
		{"^&80", "[00-7f]"},
		{"^~80", "[00-7f]"},
		{"&c0", "[c0-ff]"},
		{"~03", "[01-03 05-07 09-0b 0d-0f 11-13 15-17 19-1b 1d-1f 21-23 25-27 29-2b 2d-2f 31-33 35-37 39-3b 3d-3f 41-43 45-47 49-4b 4d-4f 51-53 55-57 59-5b 5d-5f 61-63 65-67 69-6b 6d-6f 71-73 75-77 79-7b 7d-7f 81-83 85-87 89-8b 8d-8f 91-93 95-97 99-9b 9d-9f a1-a3 a5-a7 a9-ab ad-af b1-b3 b5-b7 b9-bb bd-bf c1-c3 c5-c7 c9-cb cd-cf d1-d3 d5-d7 d9-db dd-df e1-e3 e5-e7 e9-eb ed-ef f1-f3 f5-f7 f9-fb fd-ff]"},
		// Sets: unions of anything that matches bytes, each part maybe
		// inverted on its own, the whole set inverted by ^ before it.
		{"[09 0a 0d 20]", "[09-0a 0d 20]"},
		{"^[09 0a 0d 20]", "[00-08 0b-0c 0e-1f 21-ff]"},
		{"[^ff]", "[00-fe]"},
		{"[^01 ^02]", "[00-ff]"},
		{"[^'0'-'9']", "[00-2f 3a-ff]"},
		{"^['0'-'9']", "[00-2f 3a-ff]"},
		{"['aeiou']", "[61 65 69 6f 75]"},
		{"[`ab`]", "[41-42 61-62]"},
		{"[20-7e [82 83 84 85]]", "[20-7e 82-85]"},
		{"['a'-'c' ~80]", "[61-63 80-ff]"},
		{"[.]", "[00-ff]"},
		{"^[.]", "[]"},
		{"[ 01 # comment ]\n 02 ]", "[01-02]"},
		{"[^~0f 01]", "[00-01 10 20 30 40 50 60 70 80 90 a0 b0 c0 d0 e0 f0]"},
		// Shorthands, and their inversions.
		{"\\t\\n\\r\\v\\f\\e", "[09] [0a] [0d] [0b] [0c] [1e]"},
		{"\\d", "[30-39]"},
		{"\\D", "[00-2f 3a-ff]"},
		{"^\\d", "[00-2f 3a-ff]"},
		{"^\\D", "[30-39]"},
		{"\\w", "[30-39 41-5a 5f 61-7a]"},
		{"\\s", "[09-0a 0d 20]"},
		{"\\S", "[00-08 0b-0c 0e-1f 21-ff]"},
		{"\\l\\L", "[61-7a] [00-60 7b-ff]"},
		{"\\u\\U", "[41-5a] [00-40 5b-ff]"},
		{"\\i\\I", "[00-7f] [80-ff]"},
		{"^\\t", "[00-08 0a-ff]"},
		{"[\\d 'x']", "[30-39 78]"},
		// Exact repeats apply to the one thing before them: a byte, a
		// whole text, a set, a group.
		{"00{3}", "[00] [00] [00]"},
		{"dead{2}", "[de] [ad] [ad]"},
		{"'ab'{2}", "[61] [62] [61] [62]"},
		{"(de ad){2}", "[de] [ad] [de] [ad]"},
		{"[01 02]{2}", "[01-02] [01-02]"},
		{"01 {2}", "[01] [01]"},
		{"(01{2}){2}", "[01] [01] [01] [01]"},
		{"30-39{2}", "[30-39] [30-39]"},
		// Alternatives of single bytes are a set (byteseek's
		// optimiseSingleByteAlternatives), which Metron compiled.
		{"01|02|03", "[01-03]"},
		{"(01 | 'a' | \\d) ff", "[01 30-39 61] [ff]"},
		{"((01|02)|(03)){2}", "[01-03] [01-03]"},
	} {
		if got := sets(t, c.expr); got != c.want {
			t.Errorf("Compile(%q) = %s, want %s", c.expr, got, c.want)
		}
	}
}

// TestVariableSyntax: byteseek's regular expression forms that Metron's
// SequenceMatcherCompiler refused (their lengths vary) match as
// byteseek's RegexParser documents them.
func TestVariableSyntax(t *testing.T) {
	type probe struct {
		in   string
		want bool
	}
	for _, c := range []struct {
		expr   string
		probes []probe
	}{
		{"'GET'|'POST'", []probe{{"GET", true}, {"xPOSTx", true}, {"PUT", false}, {"get", false}}},
		{"01 02* 03", []probe{{"\x01\x03", true}, {"\x01\x02\x03", true}, {"\x01\x02\x02\x02\x03", true}, {"\x01\x04", false}}},
		{"01 02+ 03", []probe{{"\x01\x03", false}, {"\x01\x02\x03", true}, {"\x01\x02\x02\x03", true}}},
		{"01 02? 03", []probe{{"\x01\x03", true}, {"\x01\x02\x03", true}, {"\x01\x02\x02\x03", false}}},
		{"01 02{2,3} 03", []probe{{"\x01\x02\x03", false}, {"\x01\x02\x02\x03", true}, {"\x01\x02\x02\x02\x03", true}, {"\x01\x02\x02\x02\x02\x03", false}}},
		{"01 02{2,*} 03", []probe{{"\x01\x02\x03", false}, {"\x01\x02\x02\x02\x02\x02\x03", true}}},
		{"01 'ab'* 02", []probe{{"\x01\x02", true}, {"\x01abab\x02", true}, {"\x01aba\x02", false}}},
		{"('ab'|'c'){2} 'd'", []probe{{"abcd", true}, {"ccd", true}, {"abd", false}, {"cabd", true}}},
		{"01 (02 | 03 04)+ 05", []probe{{"\x01\x02\x03\x04\x05", true}, {"\x01\x02\x03\x05", false}, {"\x01\x03\x04\x03\x04\x05", true}}},
		{"`content-length:` 20* \\d+ \\r\\n", []probe{{"Content-Length: 42\r\n", true}, {"CONTENT-LENGTH:42\r\n", true}, {"Content-Length: \r\n", false}}},
		{"'BEGIN:' 20* [30-39]+ 20* 3A 20* [30-39]{1,6} 20* 7F 'END'", []probe{{"BEGIN: 12 : 123456 \x7fEND", true}, {"BEGIN:1:1234567\x7fEND", false}}},
	} {
		p, err := Compile(c.expr)
		if err != nil {
			t.Errorf("Compile(%q): %v", c.expr, err)
			continue
		}
		if _, ok := p.eng.(*automaton); !ok {
			t.Errorf("Compile(%q) is not an automaton", c.expr)
		}
		for _, pr := range c.probes {
			if got := p.Match([]byte(pr.in)); got != pr.want {
				t.Errorf("Compile(%q).Match(%q) = %v, want %v", c.expr, pr.in, got, pr.want)
			}
		}
	}
}

// TestSyntaxErrors: each refused pattern names where and what, as an
// *Error matching ErrSyntax.
func TestSyntaxErrors(t *testing.T) {
	deep := strings.Repeat("(", maxDepth+1) + "01" + strings.Repeat(")", maxDepth+1)
	for _, c := range []struct {
		expr string
		pos  int
		msg  string
	}{
		{"", 0, "empty pattern"},
		{"   ", 3, "empty pattern"},
		{"# only a comment", 16, "empty pattern"},
		{"de ad g", 6, "'g' is not a hex digit"},
		{"GET", 0, "'G' is not a hex digit (text goes in quotes"},
		{"dea", 3, "a byte is two hex digits"},
		{"de a d", 4, "' ' is not a hex digit"},
		{"0x41", 1, "'x' is not a hex digit"},
		{"@", 0, "unexpected '@'"},
		{"'abc", 0, "text opened with ' is not closed"},
		{"`abc", 0, "text opened with ` is not closed"},
		{"''", 0, "empty text ''"},
		{"``", 0, "empty text ``"},
		{"'a€'", 2, "'€' is not ASCII"},
		{"`é`", 1, "'é' is not ASCII"},
		{"'\xff'", 1, "byte ff in text is not ASCII"},
		{"^'ab'", 0, "text cannot be inverted"},
		{"^`a`", 0, "text cannot be inverted"},
		{"[^'ab']", 1, "text cannot be inverted"},
		{"^.", 0, "'.' cannot be inverted"},
		{"^", 0, "'^' inverts"},
		{"^(01)", 0, "'^' inverts"},
		{"01 ^*", 3, "'^' inverts"},
		{"01^{2}", 2, "'^' inverts"},
		{"^^01", 0, "'^' inverts"},
		{"[01", 0, "'[' without a matching ']'"},
		{"[]", 0, "empty set []"},
		{"[ # ]\n]", 0, "empty set []"},
		{"[01 (02)]", 4, "unexpected '(' in a set"},
		{"[01*]", 3, "unexpected '*' in a set"},
		{"[01|02]", 3, "unexpected '|' in a set"},
		{"01]", 2, "']' without a matching '['"},
		{"(01", 0, "'(' without a matching ')'"},
		{"01)", 2, "')' without a matching '('"},
		{"()", 1, "empty group ()"},
		{"01|", 3, "an alternative is empty"},
		{"|01", 0, "an alternative is empty"},
		{"01||02", 3, "an alternative is empty"},
		{"(01|)", 4, "an alternative is empty"},
		{"*01", 0, "'*' has nothing before it to repeat"},
		{"(+)", 1, "'+' has nothing before it to repeat"},
		{"01**", 3, "a repeat cannot follow another repeat"},
		{"01{2}{3}", 5, "a repeat cannot follow another repeat"},
		{"01?+", 3, "a repeat cannot follow another repeat"},
		{"01{0}", 2, "repeat counts start at 1"},
		{"01{0,3}", 2, "repeat counts start at 1"},
		{"01{3,2}", 2, "{3,2} has its minimum above its maximum"},
		{"01{}", 2, "a repeat is {n}, {n,m} or {n,*}"},
		{"01{ 2}", 2, "a repeat is {n}, {n,m} or {n,*}"},
		{"01{2", 2, "a repeat is {n}, {n,m} or {n,*}"},
		{"01{2,}", 2, "a repeat is {n}, {n,m} or {n,*}"},
		{"01{2-3}", 2, "a repeat is {n}, {n,m} or {n,*}"},
		{"01{99999}", 3, "repeat count 99999 is above 65536"},
		{"01}", 2, "'}' without a repeat before it"},
		{"-01", 0, "a range starts with one byte"},
		{"01-", 3, "a range needs one byte after '-'"},
		{"01- # comment", 13, "a range needs one byte after '-'"},
		{"01-(02)", 3, "a range needs one byte after '-'"},
		{"01-*", 3, "a range needs one byte after '-'"},
		{"[01-]", 4, "a range needs one byte after '-'"},
		{"'ab'-'z'", 4, "a range starts with one byte"},
		{"`a`-'z'", 3, "a range starts with one byte"},
		{"(01)-02", 4, "a range starts with one byte"},
		{"01-'bc'", 3, "a range ends with one byte"},
		{"01-\\d", 3, "a range ends with one byte"},
		{"01-^02", 3, "the end of a range cannot be inverted"},
		{"01-02-03", 5, "a range starts with one byte"},
		{"01*-02", 3, "a range starts with one byte"},
		{"\\", 0, "'\\' at the end"},
		{"\\q", 1, "unknown shorthand \\q"},
		{"&", 0, "'&' needs a bitmask after it"},
		{"~0", 2, "a byte is two hex digits"},
		{"&0g", 2, "'g' is not a hex digit"},
		{"01?", 0, "the pattern can match zero bytes"},
		{"(01|02)*", 0, "the pattern can match zero bytes"},
		{"01* | 02", 0, "the pattern can match zero bytes"},
		{"00{65536}00{65536}00{65536}00{65536}00{65536}", 0, "more than 262144 bytes"},
		{"(00{65536}){65536}", 0, "more than 262144 bytes"},
		{".{1,5000}", 0, "the pattern is too large"},
		{deep, maxDepth, "nested more than 256 deep"},
		{"[[[[" + strings.Repeat("[", maxDepth) + "01", maxDepth, "nested more than 256 deep"},
	} {
		_, err := Compile(c.expr)
		var e *Error
		switch {
		case err == nil:
			t.Errorf("Compile(%q) succeeded, want an error at %d: %s", c.expr, c.pos, c.msg)
			continue
		case !errors.Is(err, ErrSyntax) || !errors.As(err, &e):
			t.Errorf("Compile(%q): %v is not an *Error matching ErrSyntax", c.expr, err)
			continue
		}
		if e.Pos != c.pos || !strings.Contains(e.Msg, c.msg) || e.Expr != c.expr {
			t.Errorf("Compile(%q): %v; want at %d: %s", c.expr, err, c.pos, c.msg)
		}
	}
}

func TestErrorText(t *testing.T) {
	_, err := Compile("de ad g")
	if want := `pattern "de ad g": at 6: 'g' is not a hex digit (text goes in quotes: 'GET')`; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

// TestEngines: each way of searching (a literal, an anchor and checks,
// Shift-And, every offset, the DFA, the simulated NFA) is chosen where
// it should be and agrees with a slow matcher over the parsed pattern.
func TestEngines(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct{ expr, engine string }{
		{"'abc'", "literal"},
		{"61", "literal"},
		{"'ab' . 'c'", "anchor"},
		{"[61 62] 'b' [61-63]", "anchor"},
		{"00 . . [01 02]", "anchor"},
		{"`ab`", "shift"},
		{"[61 62]{64}", "shift"},
		{"\\l{2} [61 62]", "shift"},
		{"[61 62]{65}", "every offset"},
		{"'a' 62* 'c'", "dfa"},
		{"('ab'|'b'){2,3}", "dfa"},
		{"61 [61 62]* 62 .{14} 63", "nfa"},
	} {
		p, err := Compile(c.expr)
		if err != nil {
			t.Fatal(err)
		}
		got := "?"
		switch e := p.eng.(type) {
		case *fixed:
			switch {
			case len(e.lit) == len(e.sets):
				got = "literal"
			case e.lit != nil:
				got = "anchor"
			case e.shift != nil:
				got = "shift"
			default:
				got = "every offset"
			}
		case *automaton:
			got = "dfa"
			if e.dfa == nil {
				got = "nfa"
			}
		}
		if got != c.engine {
			t.Errorf("Compile(%q) searches with %s, want %s", c.expr, got, c.engine)
		}
		n, _ := parse(c.expr)
		engines := []engine{p.eng}
		if a, ok := p.eng.(*automaton); ok && a.dfa != nil {
			nfa := *a
			nfa.dfa = nil
			engines = append(engines, &nfa)
		}
		hits := 0
		for i := 0; i < 3000; i++ {
			in := make([]byte, r.IntN(100))
			alpha := "abc\x00\x01\x02"
			if i%2 == 0 {
				alpha = "ab"
			}
			for j := range in {
				in[j] = alpha[r.IntN(len(alpha))]
				if r.IntN(200) == 0 {
					in[j] = byte(r.IntN(256))
				}
			}
			want := refMatch(n, in)
			if want {
				hits++
			}
			for _, e := range engines {
				if got := e.match(in); got != want {
					t.Fatalf("Compile(%q) (%T, dfa %v).Match(%q) = %v, want %v", c.expr, e, got != want, in, got, want)
				}
			}
		}
		if hits == 0 || hits == 3000 {
			t.Errorf("Compile(%q): %d of 3000 random inputs match; the test says little", c.expr, hits)
		}
	}
}

// TestShortInputs: inputs shorter than the pattern, and empty ones,
// match nothing.
func TestShortInputs(t *testing.T) {
	for _, expr := range []string{"'abc'", "'a' . 'c'", "`abc`", "[61 62]{65}", "'a' 62* 'c'"} {
		p, err := Compile(expr)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range []string{"", "a", "ab", "bc"} {
			if p.Match([]byte(in)) {
				t.Errorf("Compile(%q).Match(%q) = true", expr, in)
			}
		}
	}
}

func TestString(t *testing.T) {
	const expr = "de ad # comment\n`be ef`"
	if p, err := Compile(expr); err != nil || p.String() != expr {
		t.Errorf("Compile(%q).String() = %q, %v", expr, p, err)
	}
}

// TestAppendMetronRecord: the bytes are Metron's own for its sample
// packet (REALPACKET), from its timestamp and frame.
func TestAppendMetronRecord(t *testing.T) {
	frame := metronPacket[MetronRecordLen:]
	ts := int64(0x56eafb0d)*1e9 + 0x092309*1e3 + 999 // below a microsecond is dropped
	got := AppendMetronRecord(nil, ts, frame)
	if !bytes.Equal(got, metronPacket) {
		t.Fatalf("AppendMetronRecord:\n%x\nwant Metron's\n%x", got, metronPacket)
	}
	buf := make([]byte, 0, 2048)
	if n := testing.AllocsPerRun(100, func() { buf = AppendMetronRecord(buf[:0], ts, frame) }); n != 0 {
		t.Errorf("AppendMetronRecord into a buffer with room: %v allocations", n)
	}
}

func samplePackets(t testing.TB) []pcap.Record {
	_, recs, err := pcap.ReadFile(filepath.Join(testenv.Pcaps(t), "metron-example.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestMetronSample: on every frame of Metron's sample capture, each
// pattern keeps the frames its Go regexp (written by hand, over the
// frame read as Latin-1) keeps; and on Metron's records, a pattern
// over the pcap header keeps every packet, as it did in Metron.
func TestMetronSample(t *testing.T) {
	recs := samplePackets(t)
	for _, c := range []struct{ expr, re string }{
		{"'GET '", `GET `},
		{"`host:` 20", `[hH][oO][sS][tT]: `},
		{"'HTTP/1.' [30 31] 20 \\d\\d\\d", `HTTP/1\.[01] [0-9]{3}`},
		{"08 00 45 . . . . . . . . 06", `\x08\x00\x45[\x00-\xff]{8}\x06`},
		{"'Content-' ('Type' | 'Length')", `Content-(?:Type|Length)`},
		{"\\d+ '.' \\d+ '.' \\d+ '.' \\d+", `[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+`},
		{"00 35 . . . . . . ^&80", `\x00\x35[\x00-\xff]{6}[\x00-\x7f]`},
		{"`<html` .* `</html>`", `(?i:<html)[\x00-\xff]*(?i:</html>)`},
		{"0d 0a 0d 0a", `\r\n\r\n`},
	} {
		p, err := Compile(c.expr)
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile("(?s)" + c.re)
		kept := 0
		for i, r := range recs {
			want := re.MatchString(latin1(r.Data))
			if got := p.Match(r.Data); got != want {
				t.Errorf("%q on frame %d: %v, regexp %v", c.expr, i+1, got, want)
			}
			if want {
				kept++
			}
		}
		t.Logf("%-45q keeps %3d of %d frames", c.expr, kept, len(recs))
		if kept == 0 {
			t.Errorf("%q keeps no frame: the test says little", c.expr)
		}
	}

	p, _ := Compile("d4 c3 b2 a1")
	var buf []byte
	frames, records := 0, 0
	for _, r := range recs {
		if p.Match(r.Data) {
			frames++
		}
		buf = AppendMetronRecord(buf[:0], r.Timestamp, r.Data)
		if p.Match(buf) {
			records++
		}
	}
	if frames != 0 || records != len(recs) {
		t.Errorf("pcap magic: in %d frames and %d Metron records of %d; want 0 and all", frames, records, len(recs))
	}
}

// TestMatchAllocates: Match allocates nothing, with every engine.
func TestMatchAllocates(t *testing.T) {
	recs := samplePackets(t)
	for _, expr := range []string{"'GET '", "'HTTP/1.' [30 31]", "`host:`", "[61 62]{65}", "'a' 62* 'c'", "61 [61 62]* 62 .{14} 63"} {
		p, err := Compile(expr)
		if err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(10, func() {
			for _, r := range recs {
				p.Match(r.Data)
			}
		}); n != 0 {
			t.Errorf("%q: %v allocations for %d packets", expr, n, len(recs))
		}
	}
}
