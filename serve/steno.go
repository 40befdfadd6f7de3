package serve

import (
	"fmt"
	"strings"
	"time"

	"github.com/fastcapa-go/fastcapa/query"
)

// ParseSteno reads a query in Stenographer's form: a tcpdump expression
// with "after TIME" and "before TIME" terms joined to it with "and",
// TIME an RFC 3339 time (2012-11-03T11:05:00Z) or a duration ago ("3h
// ago", "1h30m ago", relative to now). after keeps packets at or after
// its time, before those strictly before it; several of each narrow the
// range. Stenographer's other terms (host, net, port, ip proto, tcp,
// udp, icmp, and/&&, or/||, parentheses) are tcpdump's own, and so is
// every other expression. The time terms must be at the top level, and
// the rest of the query must not mix in a top-level "or"
// ("(tcp or udp) and after 3h ago" says what it means). Errors wrap
// query.ErrSpec.
func ParseSteno(q string, now time.Time) (r query.Request, err error) {
	toks := strings.Fields(q)
	var out []string
	timed, skipAnd, depth := false, false, 0
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		word := strings.ToLower(t)
		if skipAnd {
			skipAnd = false
			if isAnd(word) {
				continue
			}
		}
		if word != "before" && word != "after" {
			depth += strings.Count(t, "(") - strings.Count(t, ")")
			out = append(out, t)
			continue
		}
		if depth != 0 {
			return r, fmt.Errorf("%w: %q: before and after go at the top level of the query, joined with and", query.ErrSpec, word)
		}
		at, used, err := stenoTime(toks[i+1:], now)
		if err != nil {
			return r, fmt.Errorf("%w: %s: %v", query.ErrSpec, word, err)
		}
		i += used
		timed = true
		if word == "after" {
			if r.Start.IsZero() || at.After(r.Start) {
				r.Start = at
			}
		} else if end := at.Add(-time.Nanosecond); r.End.IsZero() || end.Before(r.End) {
			r.End = end
		}
		// Drop the "and" that joined the term to the rest.
		if n := len(out); n > 0 && isAnd(strings.ToLower(out[n-1])) {
			out = out[:n-1]
		} else {
			skipAnd = true
		}
	}
	if timed {
		depth = 0
		for _, t := range out {
			w := strings.ToLower(t)
			if depth == 0 && (w == "or" || w == "||") {
				return r, fmt.Errorf("%w: a top-level or with before/after is ambiguous: put the rest in parentheses, as (tcp or udp) and after 3h ago", query.ErrSpec)
			}
			depth += strings.Count(t, "(") - strings.Count(t, ")")
		}
	}
	if !r.Start.IsZero() && !r.End.IsZero() && r.Start.After(r.End) {
		return r, fmt.Errorf("%w: after %s is not before %s", query.ErrSpec, r.Start.Format(time.RFC3339Nano), r.End.Add(time.Nanosecond).Format(time.RFC3339Nano))
	}
	r.Expr = strings.Join(out, " ")
	return r, nil
}

func isAnd(w string) bool { return w == "and" || w == "&&" }

// stenoTime reads the time at the start of toks: an RFC 3339 time, or a
// duration followed by "ago". It returns how many tokens it read.
func stenoTime(toks []string, now time.Time) (time.Time, int, error) {
	if len(toks) == 0 {
		return time.Time{}, 0, fmt.Errorf("give a time: an RFC 3339 time (2012-11-03T11:05:00Z) or a duration ago (3h ago)")
	}
	if t, err := time.Parse(time.RFC3339Nano, toks[0]); err == nil {
		return t, 1, nil
	}
	if d, err := time.ParseDuration(toks[0]); err == nil && d >= 0 && len(toks) > 1 && strings.EqualFold(toks[1], "ago") {
		return now.Add(-d), 2, nil
	}
	return time.Time{}, 0, fmt.Errorf("%q: give an RFC 3339 time (2012-11-03T11:05:00Z) or a duration ago (3h ago)", toks[0])
}
