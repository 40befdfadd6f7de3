package pattern

import (
	"regexp"
	"testing"
)

// benchPatterns are packet_filter patterns of each kind, with the Go
// regexp over Latin-1 text that means the same.
var benchPatterns = []struct{ name, expr, re string }{
	{"literal", "'Content-Type: text/html'", `Content-Type: text/html`},
	{"literal_absent", "de ad be ef", `\x{de}\x{ad}\x{be}\x{ef}`},
	{"dot_and_set", "'HTTP/1.' . 20 [32-35] \\d\\d", `HTTP/1\..\x20[2-5][0-9][0-9]`},
	{"caseless", "`content-length:`", `(?i:content-length:)`},
	{"sets_only", "[47 50] [45 4f] [54 53] 20", `[GP][EO][TS] `},
	{"no_single_byte", "`host`", `(?i:host)`},
	{"alternatives", "'Content-' ('Type' | 'Length') ': '", `Content-(?:Type|Length): `},
	{"repeats", "\\d+ '.' \\d+ '.' \\d+ '.' \\d+", `[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+`},
}

// BenchmarkMatch measures one packet of Metron's sample capture (761
// frames of HTTP and DNS, 651 B on average) an op: this package
// (pattern), and Go's regexp over the frame turned into Latin-1 text
// in a reused buffer (regexp_latin1), the other way to match bytes.
func BenchmarkMatch(b *testing.B) {
	recs := samplePackets(b)
	for _, bp := range benchPatterns {
		p, err := Compile(bp.expr)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bp.name+"/pattern", func(b *testing.B) {
			b.ReportAllocs()
			kept := 0
			for i := 0; i < b.N; i++ {
				if p.Match(recs[i%len(recs)].Data) {
					kept++
				}
			}
			b.ReportMetric(float64(kept)/float64(b.N), "kept/op")
		})
		re := regexp.MustCompile("(?s)" + bp.re)
		b.Run(bp.name+"/regexp_latin1", func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 2*65536)
			kept := 0
			for i := 0; i < b.N; i++ {
				buf = buf[:0]
				for _, c := range recs[i%len(recs)].Data {
					buf = append(buf, string(rune(c))...)
				}
				if re.Match(buf) {
					kept++
				}
			}
			b.ReportMetric(float64(kept)/float64(b.N), "kept/op")
		})
	}
}

// BenchmarkMetronRecord measures matching as Metron did: the 40 bytes
// of pcap headers and the frame copied into a reused buffer, then
// searched.
func BenchmarkMetronRecord(b *testing.B) {
	recs := samplePackets(b)
	p, err := Compile("'HTTP/1.' . 20 [32-35] \\d\\d")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	buf := make([]byte, 0, 65536+MetronRecordLen)
	for i := 0; i < b.N; i++ {
		r := &recs[i%len(recs)]
		buf = AppendMetronRecord(buf[:0], r.Timestamp, r.Data)
		p.Match(buf)
	}
}

func BenchmarkCompile(b *testing.B) {
	for _, bp := range benchPatterns {
		b.Run(bp.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := Compile(bp.expr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
