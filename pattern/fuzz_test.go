package pattern

import (
	"errors"
	"testing"
)

// fuzzSeeds are patterns of every form, valid and not.
var fuzzSeeds = []string{
	"de ad be ef", "2f56..14bc56420489ca38e7faf8cec3d4", "(2f56)(.){2}(14bc56)", "`metron`",
	"'GET /' . 'HTTP'", "([ff]){4}", "[^ff]", "&01", "~80", "^&80", "(dead).{2}(beef)",
	"^['0'-'9']", "[09 0a 0d 20 '0'-'9' 'a'-'z' 'A'-'Z']", "[20-7f [82 83 84 85]]", "[^~0f 01]",
	"\\d\\D\\w\\W\\s\\S\\l\\L\\u\\U\\i\\I\\t\\n\\r\\v\\f\\e", "\\t-\\r", "'a' - 'z'", "^30-39",
	"01|02|03", "'GET'|'POST'", "01 02* 03", "01 02+ 03", "01 02? 03", "01{2,3}", "01{2,*}",
	"'BEGIN:' # comment\n 20* [30-39]+", "('ab'|'c'){2} 'd'", "61 [61 62]* 62 .{14} 63",
	"de ad g", "dea", "'abc", "''", "^.", "[01", "01)", "()", "01|", "01**", "01{0}", "01{3,2}",
	"-01", "01-", "01-^02", "\\q", "&", "01?", ".{1,5000}", "'é€'", "`a\xffb`", "[[[[[[01]]]]]]",
}

// FuzzCompile: Compile never panics; what it refuses is an *Error
// matching ErrSyntax at an offset within the pattern; what it accepts
// matches any bytes as a slow matcher over the parsed pattern does.
func FuzzCompile(f *testing.F) {
	data := [][]byte{nil, metronPacket, []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")}
	for _, r := range samplePackets(f)[:20] {
		data = append(data, r.Data)
	}
	for i, s := range fuzzSeeds {
		f.Add(s, data[i%len(data)])
	}
	f.Fuzz(func(t *testing.T, expr string, data []byte) {
		if len(data) > 300 {
			data = data[:300]
		}
		p, err := Compile(expr)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrSyntax) {
				t.Fatalf("Compile(%q): %v is not an *Error matching ErrSyntax", expr, err)
			}
			if e.Expr != expr || e.Pos < 0 || e.Pos > len(expr) || e.Msg == "" {
				t.Fatalf("Compile(%q): %#v", expr, e)
			}
			return
		}
		if p.String() != expr {
			t.Fatalf("Compile(%q).String() = %q", expr, p.String())
		}
		n, err := parse(expr)
		if err != nil {
			t.Fatalf("parse(%q): %v, though Compile accepted it", expr, err)
		}
		if got, want := p.Match(data), refMatch(n, data); got != want {
			t.Fatalf("Compile(%q).Match(%x) = %v, slow matcher %v", expr, data, got, want)
		}
	})
}

// FuzzRegexp: a pattern generated from the fuzzer's bytes matches
// exactly what its Go regexp matches (see TestAgainstRegexp).
func FuzzRegexp(f *testing.F) {
	recs := samplePackets(f)
	for i := 0; i < 32; i++ {
		choices := make([]byte, 64)
		for j := range choices {
			choices[j] = byte(i*67 + j*31)
		}
		f.Add(choices, recs[i].Data[42:min(len(recs[i].Data), 120)])
	}
	f.Fuzz(func(t *testing.T, choices, data []byte) {
		if len(data) > 300 {
			data = data[:300]
		}
		oc, err := generate(&byteChooser{choices}, data)
		if err != nil {
			t.Fatal(err)
		}
		oc.check(t)
	})
}
