package store

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// tokKind is one piece of a parsed name template.
type tokKind uint8

const (
	tokLit       tokKind = iota
	tokTopic             // {topic}
	tokPartition         // {partition}
	tokUUID              // {uuid}
	tokSeq               // {seq}
	tokTS                // {ts}: first packet, epoch ns (Metron)
	tokStartNS           // {start_ns}: the same
	tokStart             // {start}: first packet, epoch s (FMADIO)
	tokEnd               // {end}: latest packet, epoch s, known at Finalize
	tokHHMMSS            // {hhmmss}: first packet, local time
	tokYear              // %Y
	tokMonth             // %m
	tokDay               // %d
	tokHour              // %H
	tokMinute            // %M
	tokSecond            // %S
	tokYearDay           // %j
)

var varNames = map[string]tokKind{
	"topic":     tokTopic,
	"partition": tokPartition,
	"uuid":      tokUUID,
	"seq":       tokSeq,
	"ts":        tokTS,
	"start_ns":  tokStartNS,
	"start":     tokStart,
	"end":       tokEnd,
	"hhmmss":    tokHHMMSS,
}

var strftimeVerbs = map[byte]tokKind{
	'Y': tokYear,
	'm': tokMonth,
	'd': tokDay,
	'H': tokHour,
	'M': tokMinute,
	'S': tokSecond,
	'j': tokYearDay,
}

// perFile reports whether a token changes from one file of a Writer to
// the next (see Spec.Template for how far each one goes).
func (k tokKind) perFile() bool {
	switch k {
	case tokUUID, tokSeq, tokTS, tokStartNS, tokStart, tokEnd, tokHHMMSS, tokSecond:
		return true
	}
	return false
}

type token struct {
	kind tokKind
	lit  string
}

// template is a parsed Spec.Template: one token list per path element,
// the last one the file's base name.
type template struct {
	elems  [][]token
	uses   map[tokKind]bool
	hasEnd bool
}

// endMark stands for {end} in a temporary file's name, where the latest
// packet time is not known yet. Recover replaces it.
const endMark = "{end}"

// parseTemplate checks a template's syntax and the rules that do not
// depend on the stream's Vars.
func parseTemplate(s string) (*template, error) {
	if s == "" {
		return nil, fmt.Errorf("empty: give a file name such as \"pcap_{topic}_{ts}_{partition}_{uuid}\"")
	}
	if strings.HasPrefix(s, "/") {
		return nil, fmt.Errorf("%q is absolute: it is relative to Dir", s)
	}
	t := &template{uses: map[tokKind]bool{}}
	parts := strings.Split(s, "/")
	for i, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("%q has an empty path element", s)
		}
		if strings.HasPrefix(p, ".") {
			return nil, fmt.Errorf("%q: element %q starts with '.': hidden names are the writer's temporary files, and \"..\" leaves Dir", s, p)
		}
		toks, err := parseElem(p)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		for _, tk := range toks {
			t.uses[tk.kind] = true
			if tk.kind == tokEnd {
				if i != len(parts)-1 {
					return nil, fmt.Errorf("%q: {end} is known only when the file is finalized, so it may appear only in the file's base name, not in a directory", s)
				}
				t.hasEnd = true
			}
		}
		t.elems = append(t.elems, toks)
	}
	unique := false
	for k := range t.uses {
		unique = unique || k.perFile()
	}
	if !unique {
		return nil, fmt.Errorf("%q gives every file the same name: add {uuid} (never collides), {seq}, or a packet time ({ts}, {start_ns}, {start}, {end}, {hhmmss}, %%S)", s)
	}
	return t, nil
}

func parseElem(p string) ([]token, error) {
	var toks []token
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			toks = append(toks, token{kind: tokLit, lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '{':
			j := strings.IndexByte(p[i:], '}')
			if j < 0 {
				return nil, fmt.Errorf("unclosed '{' at %q", p[i:])
			}
			name := p[i+1 : i+j]
			k, ok := varNames[name]
			if !ok {
				return nil, fmt.Errorf("unknown variable {%s}: use {topic} {partition} {uuid} {seq} {ts} {start} {end} {start_ns} {hhmmss}", name)
			}
			flush()
			toks = append(toks, token{kind: k})
			i += j
		case '}':
			return nil, fmt.Errorf("'}' without '{' in %q", p)
		case '%':
			if i+1 == len(p) {
				return nil, fmt.Errorf("'%%' at the end of %q: write %%%% for a literal '%%'", p)
			}
			i++
			if p[i] == '%' {
				lit.WriteByte('%')
				continue
			}
			k, ok := strftimeVerbs[p[i]]
			if !ok {
				return nil, fmt.Errorf("unsupported strftime verb %%%c: use %%Y %%m %%d %%H %%M %%S %%j %%%%", p[i])
			}
			flush()
			toks = append(toks, token{kind: k})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return toks, nil
}

// nameVars are the values of one file's name.
type nameVars struct {
	topic     string
	partition int32
	uuid      string
	seq       int64
	first     int64     // first record's timestamp, ns
	local     time.Time // first in the Spec's Location
	end       string    // {end}: endMark until Finalize
}

// expand returns the file's path elements, the last its base name.
func (t *template) expand(v *nameVars) []string {
	out := make([]string, len(t.elems))
	var b []byte
	for i, toks := range t.elems {
		b = b[:0]
		for _, tk := range toks {
			b = appendToken(b, tk, v)
		}
		out[i] = string(b)
	}
	return out
}

func appendToken(b []byte, tk token, v *nameVars) []byte {
	switch tk.kind {
	case tokLit:
		return append(b, tk.lit...)
	case tokTopic:
		return append(b, v.topic...)
	case tokPartition:
		return strconv.AppendInt(b, int64(v.partition), 10)
	case tokUUID:
		return append(b, v.uuid...)
	case tokSeq:
		return strconv.AppendInt(b, v.seq, 10)
	case tokTS, tokStartNS:
		return strconv.AppendInt(b, v.first, 10)
	case tokStart:
		return strconv.AppendInt(b, v.first/1e9, 10)
	case tokEnd:
		return append(b, v.end...)
	case tokHHMMSS:
		b = pad(b, v.local.Hour(), 2)
		b = pad(b, v.local.Minute(), 2)
		return pad(b, v.local.Second(), 2)
	case tokYear:
		return pad(b, v.local.Year(), 4)
	case tokMonth:
		return pad(b, int(v.local.Month()), 2)
	case tokDay:
		return pad(b, v.local.Day(), 2)
	case tokHour:
		return pad(b, v.local.Hour(), 2)
	case tokMinute:
		return pad(b, v.local.Minute(), 2)
	case tokSecond:
		return pad(b, v.local.Second(), 2)
	case tokYearDay:
		return pad(b, v.local.YearDay(), 3)
	}
	panic("store: unknown template token")
}

// pad appends n in decimal, zero-padded to width digits.
func pad(b []byte, n, width int) []byte {
	s := strconv.Itoa(n)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// checkElems checks an expanded name (suffix appended): every element a
// plain, visible name, the base not one Recover would take for a
// temporary file, and short enough for its temporary name (piped: a
// PipeCmd's).
func checkElems(elems []string, piped bool) error {
	for _, e := range elems {
		if e == "" || strings.HasPrefix(e, ".") || strings.ContainsAny(e, "/\x00") {
			return fmt.Errorf("path element %q: empty, hidden or containing '/'", e)
		}
		if len(e) > maxNameLen {
			return fmt.Errorf("path element %q: %d bytes, over %d", e, len(e), maxNameLen)
		}
	}
	base := elems[len(elems)-1]
	if strings.HasSuffix(base, tempSuffix) {
		return fmt.Errorf("base name %q ends in %q, the temporary files' suffix", base, tempSuffix)
	}
	if k := Classify(base, 0).Kind; k != Capture {
		// Recovery, retention, the spool and queries would pass it by.
		return fmt.Errorf("base name %q is a %s's name, not a capture's (Classify)", base, k)
	}
	if len(base)+tempOverhead(piped) > maxNameLen {
		return fmt.Errorf("base name %q: too long for its temporary name (%d bytes at most)", base, maxNameLen-tempOverhead(piped))
	}
	return nil
}

// maxNameLen is NAME_MAX on Linux and most other systems.
const maxNameLen = 255
