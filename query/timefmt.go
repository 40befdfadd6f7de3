package query

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseTime reads a start or end time as Metron's pcap_query does: epoch
// milliseconds when layout is "" (Metron's default), else a
// java.text.SimpleDateFormat pattern (-df). It supports the pattern
// letters y (yyyy, or yy: 2000–2099), M (MM; names are not supported), d,
// H, m, s, S (milliseconds, a number, as Java reads it), Z and X (a zone
// offset: +hhmm, +hh:mm, +hh, Z, UTC, GMT), and literal text ('quoted',
// two quotes for a quote, or any character that is not a letter). Without a zone
// in the pattern the time is in loc (Metron: the JVM's zone; here the
// caller's, time.Local for the command). Fields not in the pattern are
// Java's defaults: 1970-01-01 00:00:00.000.
//
// Unlike Java's lenient default, values out of range (month 13, 31 April,
// hour 24) and text left over are errors. A number abutting another
// numeric field takes exactly its pattern's width (yyyyMMdd); otherwise it
// takes all the digits there are.
func ParseTime(s, layout string, loc *time.Location) (time.Time, error) {
	if layout == "" {
		ms, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: time %q: give epoch milliseconds, or a date format (-df) to read it with", ErrSpec, s)
		}
		return time.UnixMilli(ms), nil
	}
	toks, err := parseLayout(layout)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: date format %q: %v", ErrSpec, layout, err)
	}
	t, err := parseWith(s, toks, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: time %q does not match date format %q: %v", ErrSpec, s, layout, err)
	}
	return t, nil
}

// layoutTok is a pattern letter run (letter != 0, count letters) or
// literal text.
type layoutTok struct {
	letter byte
	count  int
	lit    string
}

func (t layoutTok) numeric() bool { return strings.IndexByte("yMdHmsS", t.letter) >= 0 }

func parseLayout(layout string) ([]layoutTok, error) {
	var toks []layoutTok
	for i := 0; i < len(layout); {
		c := layout[i]
		switch {
		case c == '\'':
			// Quoted text; two quotes, inside or outside, are one quote.
			if i+1 < len(layout) && layout[i+1] == '\'' {
				toks = append(toks, layoutTok{lit: "'"})
				i += 2
				continue
			}
			var lit strings.Builder
			j := i + 1
			for ; j < len(layout); j++ {
				if layout[j] == '\'' {
					if j+1 < len(layout) && layout[j+1] == '\'' {
						lit.WriteByte('\'')
						j++
						continue
					}
					break
				}
				lit.WriteByte(layout[j])
			}
			if j == len(layout) {
				return nil, fmt.Errorf("unterminated quote")
			}
			toks = append(toks, layoutTok{lit: lit.String()})
			i = j + 1
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(layout) && layout[j] == c {
				j++
			}
			n := j - i
			switch {
			case strings.IndexByte("yMdHmsSZX", c) < 0:
				return nil, fmt.Errorf("pattern letter %q is not supported: use yyyy MM dd HH mm ss SSS Z", c)
			case c == 'M' && n > 2:
				return nil, fmt.Errorf("month names (MMM) are not supported: use MM")
			}
			toks = append(toks, layoutTok{letter: c, count: n})
			i = j
		default:
			toks = append(toks, layoutTok{lit: string(c)})
			i++
		}
	}
	return toks, nil
}

func parseWith(s string, toks []layoutTok, loc *time.Location) (time.Time, error) {
	year, month, day := 1970, 1, 1
	var hour, minute, sec, ms int
	var zone *time.Location
	for k, t := range toks {
		if t.letter == 0 {
			if !strings.HasPrefix(s, t.lit) {
				return time.Time{}, fmt.Errorf("expected %q at %q", t.lit, s)
			}
			s = s[len(t.lit):]
			continue
		}
		if t.letter == 'Z' || t.letter == 'X' {
			z, rest, err := parseZone(s)
			if err != nil {
				return time.Time{}, err
			}
			zone, s = z, rest
			continue
		}
		width := 0 // all the digits there are
		if k+1 < len(toks) && toks[k+1].numeric() {
			width = t.count
		}
		n, rest, err := digits(s, width)
		if err != nil {
			return time.Time{}, fmt.Errorf("%c: %v", t.letter, err)
		}
		if t.letter == 'y' && t.count == 2 && len(s)-len(rest) == 2 {
			n += 2000
		}
		s = rest
		switch t.letter {
		case 'y':
			year = n
		case 'M':
			month = n
		case 'd':
			day = n
		case 'H':
			hour = n
		case 'm':
			minute = n
		case 's':
			sec = n
		case 'S':
			ms = n
		}
	}
	if s != "" {
		return time.Time{}, fmt.Errorf("text %q left over", s)
	}
	if zone == nil {
		zone = loc
	}
	if zone == nil {
		zone = time.Local
	}
	switch {
	case month < 1 || month > 12:
		return time.Time{}, fmt.Errorf("month %d", month)
	case day < 1 || day > daysIn(year, month):
		return time.Time{}, fmt.Errorf("day %d of month %d", day, month)
	case hour > 23 || minute > 59 || sec > 59 || ms > 999:
		return time.Time{}, fmt.Errorf("time %02d:%02d:%02d.%03d", hour, minute, sec, ms)
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, ms*1e6, zone), nil
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// digits reads a decimal number of exactly width digits, or of all the
// digits there are (at least one, at most 9) when width is 0.
func digits(s string, width int) (int, string, error) {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' && (width == 0 && n < 9 || n < width) {
		n++
	}
	if n == 0 || width > 0 && n < width {
		return 0, s, fmt.Errorf("expected a number at %q", s)
	}
	v, _ := strconv.Atoi(s[:n])
	return v, s[n:], nil
}

// parseZone reads +hhmm, +hh:mm, +hh (or -), Z, UTC or GMT (optionally
// followed by an offset).
func parseZone(s string) (*time.Location, string, error) {
	for _, name := range []string{"UTC", "GMT"} {
		if strings.HasPrefix(s, name) {
			s = s[len(name):]
			if s == "" || s[0] != '+' && s[0] != '-' {
				return time.UTC, s, nil
			}
		}
	}
	if strings.HasPrefix(s, "Z") {
		return time.UTC, s[1:], nil
	}
	if s == "" || s[0] != '+' && s[0] != '-' {
		return nil, s, fmt.Errorf("expected a zone offset such as +0100 at %q", s)
	}
	sign := 1
	if s[0] == '-' {
		sign = -1
	}
	rest := s[1:]
	h, rest, err := digits(rest, 2)
	if err != nil {
		return nil, s, fmt.Errorf("zone offset: %v", err)
	}
	var m int
	switch {
	case strings.HasPrefix(rest, ":"):
		if m, rest, err = digits(rest[1:], 2); err != nil {
			return nil, s, fmt.Errorf("zone offset: %v", err)
		}
	case len(rest) >= 2 && rest[0] >= '0' && rest[0] <= '9':
		m, rest, _ = digits(rest, 2)
	}
	if h > 23 || m > 59 {
		return nil, s, fmt.Errorf("zone offset %s", s[:len(s)-len(rest)])
	}
	off := sign * (h*3600 + m*60)
	return time.FixedZone(s[:len(s)-len(rest)], off), rest, nil
}
