package serve

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/query"
)

func TestParseSteno(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339Nano, s); return t }
	for _, c := range []struct {
		in, expr   string
		start, end time.Time
		err        string
	}{
		{in: "", expr: ""},
		{in: "host 1.2.3.4 and port 80", expr: "host 1.2.3.4 and port 80"},
		{in: "tcp and after 3h ago", expr: "tcp", start: now.Add(-3 * time.Hour)},
		{in: "after 3h ago and tcp", expr: "tcp", start: now.Add(-3 * time.Hour)},
		{in: "after 2012-11-03T11:05:00Z && before 2012-11-03T12:00:00Z", expr: "",
			start: at("2012-11-03T11:05:00Z"), end: at("2012-11-03T12:00:00Z").Add(-time.Nanosecond)},
		{in: "(tcp or udp) and before 45m ago and after 1h30m ago", expr: "(tcp or udp)",
			start: now.Add(-90 * time.Minute), end: now.Add(-45 * time.Minute).Add(-time.Nanosecond)},
		{in: "after 5h ago and tcp and after 1h ago", expr: "tcp", start: now.Add(-time.Hour)}, // the later wins
		{in: "tcp or udp and after 1h ago", err: "ambiguous"},
		{in: "(tcp and after 1h ago)", err: "top level"},
		{in: "tcp and after yesterday", err: `"yesterday"`},
		{in: "tcp and after", err: "give a time"},
		{in: "after 3h", err: `"3h"`},
		{in: "after 1h ago and before 2h ago", err: "is not before"},
	} {
		r, err := ParseSteno(c.in, now)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, query.ErrSpec) {
				t.Errorf("%q: error %v, want one with %q wrapping ErrSpec", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if r.Expr != c.expr || !r.Start.Equal(c.start) || !r.End.Equal(c.end) {
			t.Errorf("%q: %q %v–%v, want %q %v–%v", c.in, r.Expr, r.Start, r.End, c.expr, c.start, c.end)
		}
	}
}

// FuzzSteno: ParseSteno never panics, what it leaves is an expression
// without time terms (read again, it is the same and adds no time), and
// a range it gives is never backwards.
func FuzzSteno(f *testing.F) {
	for _, s := range []string{"tcp and after 3h ago", "(a) and before 2012-11-03T11:05:00Z", "after 1s ago && x", "before before"} {
		f.Add(s)
	}
	now := time.Unix(1e9, 0)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseSteno(s, now)
		if err != nil {
			return
		}
		if !r.Start.IsZero() && !r.End.IsZero() && r.Start.After(r.End) {
			t.Fatalf("%q: %v after %v", s, r.Start, r.End)
		}
		again, err := ParseSteno(r.Expr, now)
		if err != nil || again.Expr != r.Expr || !again.Start.IsZero() || !again.End.IsZero() {
			t.Fatalf("%q → %q → %q %v %v %v", s, r.Expr, again.Expr, again.Start, again.End, err)
		}
	})
}
