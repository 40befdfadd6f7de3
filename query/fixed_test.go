package query

import (
	"errors"
	"math/rand/v2"
	"net/netip"
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
