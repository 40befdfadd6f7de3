package query

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/index"
	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// TestIndexConstraints: one Constraints per given address and port, each
// with the time range and protocol; the range and protocol alone when no
// address or port is given; nothing when the query constrains nothing an
// index knows (an expression's fields are not read).
func TestIndexConstraints(t *testing.T) {
	t0, t1 := time.Unix(100, 0), time.Unix(200, 0)
	a, b := addr("10.0.0.1"), addr("2001:db8::2")
	for _, c := range []struct {
		name       string
		start, end time.Time
		f          *Fixed
		want       []index.Constraints
	}{
		{"expression, no time", time.Time{}, time.Time{}, nil, nil},
		{"expression, from", t0, time.Time{}, nil, []index.Constraints{{From: t0}}},
		{"expression, range", t0, t1, nil, []index.Constraints{{From: t0, To: t1}}},
		{"fixed, nothing", time.Time{}, time.Time{}, &Fixed{}, nil},
		{"fixed, include-reverse alone", time.Time{}, time.Time{}, &Fixed{IncludeReverse: true}, nil},
		{"fixed, protocol", time.Time{}, time.Time{}, &Fixed{Protocol: 6}, []index.Constraints{{Protocols: []uint8{6}}}},
		{"fixed, protocol until", time.Time{}, t1, &Fixed{Protocol: 17}, []index.Constraints{{To: t1, Protocols: []uint8{17}}}},
		{"fixed, source", time.Time{}, time.Time{}, &Fixed{SrcAddr: a}, []index.Constraints{{Hosts: []netip.Addr{a}}}},
		{"fixed, every field", t0, t1, &Fixed{SrcAddr: a, DstAddr: b, SrcPort: 53, DstPort: 443, Protocol: 17, IncludeReverse: true},
			[]index.Constraints{
				{From: t0, To: t1, Hosts: []netip.Addr{a}, Protocols: []uint8{17}},
				{From: t0, To: t1, Hosts: []netip.Addr{b}, Protocols: []uint8{17}},
				{From: t0, To: t1, Ports: []uint16{53}, Protocols: []uint8{17}},
				{From: t0, To: t1, Ports: []uint16{443}, Protocols: []uint8{17}},
			}},
		{"fixed, destination port", time.Time{}, time.Time{}, &Fixed{DstPort: 80}, []index.Constraints{{Ports: []uint16{80}}}},
	} {
		got := indexConstraints(c.start, c.end, c.f)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
		if p := IndexPruner(c.start, c.end, c.f); (p == nil) != (c.want == nil) {
			t.Errorf("%s: IndexPruner nil %v, want nil %v", c.name, p == nil, c.want == nil)
		}
	}
}

// TestIndexPruner: over indexed captures, the pruner keeps closed the
// files that hold no packet the query keeps, and only those (tcpdump
// with the fixed query's expression, over the time range, is the
// oracle); a capture without a usable index is scanned.
func TestIndexPruner(t *testing.T) {
	bin := testenv.RequireTool(t, "tcpdump")
	ctx := context.Background()
	dir := t.TempDir()
	sec := int64(time.Second)
	flow := func(t0 int64, src, dst string, proto uint8, sport, dport uint16) []pcap.Record {
		var recs []pcap.Record
		for i := range 10 {
			l4 := udp(sport, dport, []byte("payload"))
			if proto == 6 {
				l4 = tcp(sport, dport)
			}
			f := ether(0x0800, ip4(addr(src), addr(dst), proto, l4))
			recs = append(recs, pcap.Record{Timestamp: t0 + int64(i)*sec, OrigLen: uint32(len(f)), Data: f})
		}
		return recs
	}
	// dns: 10.0.0.1:53 → 10.0.0.2:5000 (UDP) from 100 s to 109 s;
	// web: 10.0.0.3:80 → 10.0.0.4:6000 (TCP) from 200 s to 209 s;
	// bare: as dns, without an index; junk: as dns, its index garbage.
	files := map[string][]pcap.Record{
		"dns.pcap":  flow(100*sec, "10.0.0.1", "10.0.0.2", 17, 53, 5000),
		"web.pcap":  flow(200*sec, "10.0.0.3", "10.0.0.4", 6, 80, 6000),
		"bare.pcap": flow(100*sec, "10.0.0.1", "10.0.0.2", 17, 53, 5000),
		"junk.pcap": flow(100*sec, "10.0.0.1", "10.0.0.2", 17, 53, 5000),
	}
	for name, recs := range files {
		path := filepath.Join(dir, name)
		pcaptest.WriteCapture(t, path, pcaptest.File{}, recs)
		switch name {
		case "bare.pcap":
		case "junk.pcap":
			if err := os.WriteFile(index.SidecarPath(path), []byte("not an index"), 0o644); err != nil {
				t.Fatal(err)
			}
		default:
			ix, err := index.BuildFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := ix.Save(path); err != nil {
				t.Fatal(err)
			}
		}
	}
	at := func(s int64) time.Time { return time.Unix(s, 0) }
	type answer struct{ mayMatch, known bool }
	yes, no, unknown := answer{true, true}, answer{false, true}, answer{false, false}
	for _, c := range []struct {
		name       string
		start, end time.Time
		f          *Fixed
		dns, web   answer
	}{
		{"a host of one", time.Time{}, time.Time{}, &Fixed{SrcAddr: addr("10.0.0.1")}, yes, no},
		{"a host as destination", time.Time{}, time.Time{}, &Fixed{DstAddr: addr("10.0.0.4")}, no, yes},
		{"a host in reverse", time.Time{}, time.Time{}, &Fixed{SrcAddr: addr("10.0.0.2"), IncludeReverse: true}, yes, no},
		{"a port", time.Time{}, time.Time{}, &Fixed{DstPort: 6000}, no, yes},
		{"a protocol", time.Time{}, time.Time{}, &Fixed{Protocol: 6}, no, yes},
		{"a protocol neither has", time.Time{}, time.Time{}, &Fixed{Protocol: 1}, no, no},
		{"hosts of both", time.Time{}, time.Time{}, &Fixed{SrcAddr: addr("10.0.0.1"), DstAddr: addr("10.0.0.4")}, no, no},
		{"a time after dns", at(150), time.Time{}, nil, no, yes},
		{"a time before web", time.Time{}, at(150), nil, yes, no},
		{"the last second of dns", at(109), at(109), nil, yes, no},
		{"time and host", at(150), time.Time{}, &Fixed{SrcAddr: addr("10.0.0.1")}, no, no},
		{"time and port", at(100), at(300), &Fixed{SrcPort: 80}, no, yes},
	} {
		p := IndexPruner(c.start, c.end, c.f)
		if p == nil {
			t.Fatalf("%s: no pruner", c.name)
		}
		expr := ""
		if c.f != nil {
			expr = c.f.Expr()
		}
		var from, to int64
		if !c.start.IsZero() {
			from = c.start.UnixNano()
		}
		if !c.end.IsZero() {
			to = c.end.UnixNano()
		}
		for name, want := range map[string]answer{"dns.pcap": c.dns, "web.pcap": c.web, "bare.pcap": unknown, "junk.pcap": unknown} {
			path := filepath.Join(dir, name)
			mayMatch, known := p(path)
			if (answer{mayMatch, known}) != want {
				t.Errorf("%s: %s: mayMatch %v known %v, want %+v", c.name, name, mayMatch, known, want)
			}
			kept, err := pcaptest.Tcpdump(ctx, bin, []string{path}, expr)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(inRange(kept, from, to)); want.known && (n > 0) != want.mayMatch {
				t.Errorf("%s: %s: tcpdump keeps %d packets, the index says mayMatch %v", c.name, name, n, want.mayMatch)
			}
		}
	}
}
