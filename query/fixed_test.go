package query

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/filter"
	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/packet"
	"github.com/fastcapa-go/fastcapa/pcap"
)

func TestFixedExpr(t *testing.T) {
	for _, c := range []struct {
		f    Fixed
		want string
	}{
		{Fixed{}, ""},
		{Fixed{IncludeReverse: true}, ""},
		{Fixed{Protocol: 6}, "(ip proto 6 or ip6 proto 6)"},
		{Fixed{Protocol: 6, IncludeReverse: true}, "(ip proto 6 or ip6 proto 6)"},
		{Fixed{SrcAddr: addr("10.0.0.1")}, "ip src host 10.0.0.1"},
		{Fixed{DstAddr: addr("2001:db8::1"), DstPort: 443}, "ip6 dst host 2001:db8::1 and (tcp dst port 443 or udp dst port 443)"},
		{Fixed{SrcAddr: addr("10.0.0.1"), SrcPort: 53, Protocol: 17, IncludeReverse: true},
			"(ip proto 17 or ip6 proto 17) and ((ip src host 10.0.0.1 and (tcp src port 53 or udp src port 53)) or (ip dst host 10.0.0.1 and (tcp dst port 53 or udp dst port 53)))"},
	} {
		if got := c.f.Expr(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.f, got, c.want)
		}
		if _, err := filter.New(filter.Spec{Expr: c.f.Expr(), MatchVLAN: true}); err != nil {
			t.Errorf("%+v: %v", c.f, err)
		}
	}
}

// metronModel is Metron's FixedPcapFilter.test written directly over
// package packet's summary of a frame, with the departures Fixed's doc
// lists (IPv6 too; an address matches any IP packet): the protocol must
// match; then the forward test or, with include-reverse, the swapped one.
// Addresses come from the IP header; ports only from TCP and UDP.
func metronModel(f Fixed, s packet.Summary) bool {
	ip := s.Src.IsValid()
	if f.Protocol != 0 && (!ip || s.Proto != f.Protocol) {
		return false
	}
	ports := ip && (s.Proto == packet.ProtoTCP || s.Proto == packet.ProtoUDP)
	test := func(src, dst netip.Addr, sp, dp uint16) bool {
		return (!f.SrcAddr.IsValid() || ip && src == f.SrcAddr) &&
			(!f.DstAddr.IsValid() || ip && dst == f.DstAddr) &&
			(f.SrcPort == 0 || ports && sp == f.SrcPort) &&
			(f.DstPort == 0 || ports && dp == f.DstPort)
	}
	return test(s.Src, s.Dst, s.SrcPort, s.DstPort) ||
		f.IncludeReverse && test(s.Dst, s.Src, s.DstPort, s.SrcPort)
}

// modelComparable reports whether a frame is one the model and libpcap
// read alike: decoded whole, at most two VLAN tags (MatchVLAN's reach),
// and no IPv6 extension header before the transport (libpcap's "ip6
// proto" and "tcp port" read the first next-header only; package packet
// skips extension headers).
func modelComparable(frame []byte, s packet.Summary) bool {
	if s.Truncated || len(s.VLANs) > 2 {
		return false
	}
	if s.EtherType == 0x86dd && s.Src.IsValid() {
		off := 14 + 4*len(s.VLANs) + 6
		return off < len(frame) && frame[off] == s.Proto
	}
	return true
}

// TestFixedAgainstMetronModel checks Fixed's translation of Metron's
// semantics without tcpdump: for fixed queries made from the shared
// captures' own addresses, ports and protocols (random subsets, with and
// without include-reverse), the filter compiled from Expr with MatchVLAN
// keeps a frame exactly when metronModel does, on every frame of the
// shared captures, also under one and two VLAN tags, that both read
// alike.
func TestFixedAgainstMetronModel(t *testing.T) {
	var frames []pcap.Record
	for _, p := range testenv.AllPcaps(t) {
		for _, r := range pcaptest.ReadAll(t, p) {
			frames = append(frames, r, tagged(r, 0x8100, 7), tagged(r, 0x88a8, 8, 0x8100, 9))
		}
	}
	var sums []packet.Summary
	var ipIdx []int
	for i, r := range frames {
		s := packet.Decode(r.Data)
		sums = append(sums, s)
		if s.Src.IsValid() {
			ipIdx = append(ipIdx, i)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	queries, compared, kept := 0, 0, 0
	for range 200 {
		s := sums[ipIdx[rng.IntN(len(ipIdx))]]
		var f Fixed
		bits := rng.IntN(32)
		if bits&1 != 0 {
			f.SrcAddr = s.Src
		}
		if bits&2 != 0 {
			f.DstAddr = s.Dst
		}
		if bits&4 != 0 && s.SrcPort != 0 {
			f.SrcPort = s.SrcPort
		}
		if bits&8 != 0 && s.DstPort != 0 {
			f.DstPort = s.DstPort
		}
		if bits&16 != 0 {
			f.Protocol = s.Proto
		}
		if f.Protocol == 0 && bits&16 != 0 {
			continue // protocol 0 cannot be asked for
		}
		f.IncludeReverse = rng.IntN(2) == 0
		flt, err := filter.New(filter.Spec{Expr: f.Expr(), MatchVLAN: true})
		if err != nil {
			t.Fatalf("%+v: %q: %v", f, f.Expr(), err)
		}
		queries++
		for i, r := range frames {
			if !modelComparable(r.Data, sums[i]) {
				continue
			}
			want := metronModel(f, sums[i])
			got := f.Expr() == "" || flt.Match(r.Data, r.OrigLen)
			if got != want {
				t.Fatalf("%+v (%q): frame %s: filter %v, model %v", f, f.Expr(), sums[i], got, want)
			}
			compared++
			if got {
				kept++
			}
		}
	}
	t.Logf("%d fixed queries × %d frames: %d comparisons, %d kept", queries, len(frames), compared, kept)
}

func TestParseTime(t *testing.T) {
	plus1 := time.FixedZone("", 3600)
	for _, c := range []struct {
		s, layout string
		want      time.Time
	}{
		{"1700000000123", "", time.UnixMilli(1700000000123)},
		{"-1000", "", time.UnixMilli(-1000)},
		{"20240131", "yyyyMMdd", time.Date(2024, 1, 31, 0, 0, 0, 0, time.UTC)},
		{"2024013112345678", "yyyyMMddHHmmssSS", time.Date(2024, 1, 31, 12, 34, 56, 78e6, time.UTC)},
		{"2024-01-31 12:34:56.789 +0100", "yyyy-MM-dd HH:mm:ss.SSS Z", time.Date(2024, 1, 31, 12, 34, 56, 789e6, plus1)},
		{"2024-01-31 12:34:56.5", "yyyy-MM-dd HH:mm:ss.SSS", time.Date(2024, 1, 31, 12, 34, 56, 5e6, time.UTC)},
		{"2024-01-31T12:34:56Z", "yyyy-MM-dd'T'HH:mm:ssX", time.Date(2024, 1, 31, 12, 34, 56, 0, time.UTC)},
		{"2024-01-31T12:34:56+01:00", "yyyy-MM-dd'T'HH:mm:ssXXX", time.Date(2024, 1, 31, 12, 34, 56, 0, plus1)},
		{"31/01/24 9:05", "dd/MM/yy H:mm", time.Date(2024, 1, 31, 9, 5, 0, 0, time.UTC)},
		{"it's 2024", "'it''s' yyyy", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"1970-01-01 00:00:00 GMT", "yyyy-MM-dd HH:mm:ss Z", time.Unix(0, 0)},
	} {
		got, err := ParseTime(c.s, c.layout, time.UTC)
		if err != nil {
			t.Errorf("%q %q: %v", c.s, c.layout, err)
			continue
		}
		if !got.Equal(c.want) {
			t.Errorf("%q %q: %v, want %v", c.s, c.layout, got, c.want)
		}
	}
	// Without a zone in the pattern, the time is in loc.
	got, err := ParseTime("2024-01-31 00:00", "yyyy-MM-dd HH:mm", plus1)
	if err != nil || !got.Equal(time.Date(2024, 1, 30, 23, 0, 0, 0, time.UTC)) {
		t.Errorf("in loc: %v %v", got, err)
	}
	for _, c := range []struct{ s, layout string }{
		{"yesterday", ""},
		{"2024-02-30", "yyyy-MM-dd"},
		{"2024-13-01", "yyyy-MM-dd"},
		{"2024-01-01 24:00", "yyyy-MM-dd HH:mm"},
		{"2024-01-01x", "yyyy-MM-dd"},
		{"2024-Jan-01", "yyyy-MMM-dd"},
		{"Mon 2024", "EEE yyyy"},
		{"2024", "'yyyy"},
		{"2024-01-01 +1", "yyyy-MM-dd Z"},
	} {
		if _, err := ParseTime(c.s, c.layout, time.UTC); !errors.Is(err, ErrSpec) {
			t.Errorf("%q %q: %v, want ErrSpec", c.s, c.layout, err)
		}
	}
}

func TestParseFields(t *testing.T) {
	for s, want := range map[string]uint8{"6": 6, "tcp": 6, "UDP": 17, "255": 255, "icmp6": 58} {
		if p, err := ParseProtocol(s); err != nil || p != want {
			t.Errorf("protocol %q: %d %v", s, p, err)
		}
	}
	for _, s := range []string{"0", "256", "-1", "tcpx", ""} {
		if _, err := ParseProtocol(s); !errors.Is(err, ErrSpec) {
			t.Errorf("protocol %q accepted", s)
		}
	}
	if p, err := ParsePort("443"); err != nil || p != 443 {
		t.Errorf("port: %d %v", p, err)
	}
	for _, s := range []string{"0", "65536", "http", ""} {
		if _, err := ParsePort(s); !errors.Is(err, ErrSpec) {
			t.Errorf("port %q accepted", s)
		}
	}
	if a, err := ParseAddr("::ffff:10.0.0.1"); err != nil || !a.Is6() {
		t.Errorf("mapped: %v %v", a, err)
	}
	for _, s := range []string{"10.0.0.256", "fe80::1%eth0", "host", "10.0.0.0/8"} {
		if _, err := ParseAddr(s); !errors.Is(err, ErrSpec) {
			t.Errorf("address %q accepted", s)
		}
	}
}

// TestParseFixed: Metron's fields as text become a Fixed; the first
// field that cannot be read, in FixedFields' order, is the error.
func TestParseFixed(t *testing.T) {
	for _, c := range []struct {
		ff      FixedFields
		want    Fixed
		wantErr string // a part of the error; "" for none
	}{
		{FixedFields{}, Fixed{}, ""},
		{FixedFields{IncludeReverse: true}, Fixed{IncludeReverse: true}, ""},
		{FixedFields{SrcAddr: "10.0.0.1", DstAddr: "2001:db8::1", SrcPort: "53", DstPort: "443", Protocol: "udp", IncludeReverse: true},
			Fixed{SrcAddr: addr("10.0.0.1"), DstAddr: addr("2001:db8::1"), SrcPort: 53, DstPort: 443, Protocol: 17, IncludeReverse: true}, ""},
		{FixedFields{DstAddr: "::ffff:10.0.0.1", Protocol: "47"}, Fixed{DstAddr: addr("::ffff:10.0.0.1"), Protocol: 47}, ""},
		{FixedFields{SrcAddr: "10.0.0.300"}, Fixed{}, `address "10.0.0.300"`},
		{FixedFields{DstAddr: "fe80::1%eth0"}, Fixed{}, `address "fe80::1%eth0"`},
		{FixedFields{SrcPort: "0"}, Fixed{}, `port "0"`},
		{FixedFields{DstPort: "http"}, Fixed{}, `port "http"`},
		{FixedFields{Protocol: "tcpx"}, Fixed{}, `protocol "tcpx"`},
		// Several bad fields: the first in FixedFields' order is named.
		{FixedFields{SrcAddr: "a", DstAddr: "b", SrcPort: "c", DstPort: "d", Protocol: "e"}, Fixed{}, `address "a"`},
		{FixedFields{DstAddr: "b", SrcPort: "c", DstPort: "d", Protocol: "e"}, Fixed{}, `address "b"`},
		{FixedFields{DstPort: "d", Protocol: "e"}, Fixed{}, `port "d"`},
		{FixedFields{SrcAddr: "10.0.0.1", Protocol: "e"}, Fixed{}, `protocol "e"`},
	} {
		got, err := ParseFixed(c.ff)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%+v: %v", c.ff, err)
		case c.wantErr != "" && (!errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%+v: error %v, want ErrSpec naming %s", c.ff, err, c.wantErr)
		case got != c.want:
			t.Errorf("%+v: %+v, want %+v", c.ff, got, c.want)
		}
	}
}

// TestFixedMatchers: without tunnels the fixed query is its tcpdump
// expression and the pattern the payload matcher; with tunnels it is a
// Tunnels matcher (and the pattern with it), with no expression. Each
// pair keeps, of frames with one IP header, what the expression and
// the pattern keep together.
func TestFixedMatchers(t *testing.T) {
	// Frames from port 53 but every third; the marker the pattern looks
	// for in every second.
	pat := fakeMatcher{sub: []byte("DNSX")}
	var frames []pcap.Record
	for i := range 200 {
		src := uint16(53)
		if i%3 == 0 {
			src = uint16(5000 + i)
		}
		f := packet.UDPFrame(60, src, 9000)
		if i%2 == 0 {
			copy(f[44:], "DNSX")
		}
		frames = append(frames, pcap.Record{OrigLen: uint32(len(f)), Data: f})
	}
	dns := Fixed{DstPort: 53, Protocol: 17, IncludeReverse: true}
	for _, c := range []struct {
		f           Fixed
		tunnels     bool
		pattern     PayloadMatcher
		wantFilter  string
		wantPayload PayloadMatcher
	}{
		{Fixed{}, false, nil, "", nil},
		{dns, false, nil, dns.Expr(), nil},
		{dns, false, pat, dns.Expr(), pat},
		{Fixed{}, true, nil, "", Tunnels{}},
		{dns, true, nil, "", Tunnels{Fixed: dns}},
		{dns, true, pat, "", AllOf{Tunnels{Fixed: dns}, pat}},
	} {
		filt, payload := c.f.Matchers(c.tunnels, c.pattern)
		if filt != c.wantFilter || !reflect.DeepEqual(payload, c.wantPayload) {
			t.Errorf("%+v tunnels %v pattern %v: %q %#v, want %q %#v", c.f, c.tunnels, c.pattern, filt, payload, c.wantFilter, c.wantPayload)
			continue
		}
		// What the pair keeps, against the expression (libpcap) and
		// the pattern on the same frames.
		want, err := filter.New(filter.Spec{Expr: c.f.Expr(), LinkType: filter.LinkTypeEthernet})
		if err != nil {
			t.Fatal(err)
		}
		var got *filter.Filter
		if filt != "" {
			if got, err = filter.New(filter.Spec{Expr: filt, LinkType: filter.LinkTypeEthernet}); err != nil {
				t.Fatal(err)
			}
		}
		kept := 0
		for i, r := range frames {
			wantKeep := want.Match(r.Data, r.OrigLen) && (c.pattern == nil || c.pattern.Match(r.Data))
			gotKeep := (got == nil || got.Match(r.Data, r.OrigLen)) && (payload == nil || payload.Match(r.Data))
			if gotKeep != wantKeep {
				t.Errorf("%+v tunnels %v pattern %v: frame %d kept %v, want %v", c.f, c.tunnels, c.pattern, i, gotKeep, wantKeep)
				break
			}
			if gotKeep {
				kept++
			}
		}
		if want := map[bool]int{false: 133, true: 66}[c.pattern != nil]; c.f != (Fixed{}) && kept != want {
			t.Errorf("%+v tunnels %v pattern %v: kept %d of 200, want %d", c.f, c.tunnels, c.pattern, kept, want)
		}
	}
}
