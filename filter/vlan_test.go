package filter

import (
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// The concrete case: in various_gre.pcap, 10.172.64.7 only ever talks
// inside VLAN 1213. Plain "host 10.172.64.7" keeps none of its frames,
// as tcpdump keeps none; MatchVLAN keeps them all, as tcpdump keeps them
// for "vlan and host 10.172.64.7".
func TestMatchVLANFindsTaggedHost(t *testing.T) {
	bin := testenv.RequireTool(t, "tcpdump")
	path := filepath.Join(testenv.Pcaps(t), "tcpdump-tests", "various_gre.pcap")
	c, err := readCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := New(Spec{Expr: "host 10.172.64.7"})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := New(Spec{Expr: "host 10.172.64.7", MatchVLAN: true})
	if err != nil {
		t.Fatal(err)
	}
	var gotPlain, gotInner []pcap.Record
	for _, r := range c.recs {
		if plain.Match(r.Data, r.OrigLen) {
			gotPlain = append(gotPlain, r)
		}
		if inner.Match(r.Data, r.OrigLen) {
			gotInner = append(gotInner, r)
		}
	}
	ctx := context.Background()
	wantPlain, err := pcaptest.Tcpdump(ctx, bin, []string{path}, "host 10.172.64.7")
	if err != nil {
		t.Fatal(err)
	}
	wantTagged, err := pcaptest.Tcpdump(ctx, bin, []string{path}, "vlan and host 10.172.64.7")
	if err != nil {
		t.Fatal(err)
	}
	if len(gotPlain) != 0 || len(wantPlain) != 0 {
		t.Errorf("plain: we keep %d frames, tcpdump %d; want 0", len(gotPlain), len(wantPlain))
	}
	if len(gotInner) == 0 {
		t.Fatal("MatchVLAN keeps no frame")
	}
	if d := pcaptest.Diff(wantTagged, gotInner); d != "" {
		t.Errorf("MatchVLAN against tcpdump 'vlan and host 10.172.64.7': %s", d)
	}
	for _, r := range gotInner {
		if binary.BigEndian.Uint16(r.Data[12:]) != 0x8100 {
			t.Errorf("MatchVLAN keeps an untagged frame (ts %d)", r.Timestamp)
		}
	}
	t.Logf("host 10.172.64.7 in %d frames: plain keeps %d, MatchVLAN %d (all 802.1Q-tagged)", len(c.recs), len(gotPlain), len(gotInner))
}

// isTag reports whether a VLAN tag type (as libpcap's "vlan" takes
// them) is at off.
func isTag(data []byte, off int) bool {
	if off+2 > len(data) {
		return false
	}
	switch binary.BigEndian.Uint16(data[off:]) {
	case 0x8100, 0x88a8, 0x9100:
		return true
	}
	return false
}

// stripTags removes up to two leading VLAN tags. ok is false when the
// frame does not hold its tags and the EtherType after them.
func stripTags(data []byte) (out []byte, ok bool) {
	n := 0
	for n < 2 && isTag(data, 12+4*n) {
		n++
	}
	if len(data) < 14+4*n {
		return nil, false
	}
	return append(append([]byte{}, data[:12]...), data[12+4*n:]...), true
}

// The meaning of MatchVLAN, checked independently of VLANExpr: on every
// frame that holds its tags and the EtherType after them, a MatchVLAN
// filter decides as tcpdump decides for the plain expression on the same
// frame with its first two tags cut out (wire length unchanged). The
// frames are the shared captures that hold VLAN frames and the derived
// tagged capture (0 to 3 tags, 802.1Q, 802.1ad, 0x9100, cut short).
// Expressions reading raw "ether[...]" bytes are left out: those index
// the frame as captured, by design.
func TestMatchVLANIsInnerPacket(t *testing.T) {
	bin := testenv.RequireTool(t, "tcpdump")
	start := time.Now()
	dir := t.TempDir()
	shared := sharedCaptures(t)
	var src []pcap.Record
	for _, c := range shared {
		for _, r := range c.recs {
			if isTag(r.Data, 12) {
				src = append(src, c.recs...)
				break
			}
		}
	}
	tagged := taggedCapture(t, dir, taggedSources(t, shared))
	src = append(src, tagged.recs...)

	var orig, stripped []pcap.Record
	short := 0
	for _, r := range src {
		s, ok := stripTags(r.Data)
		if !ok {
			short++
			continue
		}
		orig = append(orig, r)
		stripped = append(stripped, pcap.Record{Timestamp: r.Timestamp, OrigLen: r.OrigLen, Data: s})
	}
	path := filepath.Join(dir, "stripped.pcap")
	pcaptest.WriteLinkType(t, path, pcap.LinkTypeEthernet, stripped)
	exprs := []string{
		"tcp", "udp port 53", "host 10.21.11.94", "host 10.172.64.7", "not ip", "ip6", "icmp6", "arp",
		"ether broadcast", "ether multicast", "len > 100", "tcp[13] & 2 != 0", "ip[2:2] / (ip[9] - 6) > 0",
		"icmp or (udp and not port 53)", "not tcp and not udp", "ip proto 47", "isis or stp",
	}
	parallel(4, len(exprs), func(i int) {
		e := exprs[i]
		f, err := New(Spec{Expr: e, MatchVLAN: true})
		if err != nil {
			t.Error(err)
			return
		}
		want, err := pcaptest.Tcpdump(context.Background(), bin, []string{path}, e)
		if err != nil {
			t.Error(err)
			return
		}
		// tcpdump wrote stripped frames; compare by timestamp and wire
		// length, which stripping keeps, and the stripped bytes.
		var got []pcap.Record
		for j, r := range orig {
			if f.Match(r.Data, r.OrigLen) {
				got = append(got, stripped[j])
			}
		}
		if d := pcaptest.Diff(want, got); d != "" {
			t.Errorf("%q: MatchVLAN on tagged frames against tcpdump on them untagged: %s", e, d)
		}
	})
	t.Logf("%d frames (%d left out: tags or EtherType not captured), %d expressions, %s", len(orig), short, len(exprs), time.Since(start).Round(time.Millisecond))
}

// MatchVLAN refuses an expression that moves libpcap's offsets itself,
// and only those: an expression holding the probe's own EtherType, or
// a 0xfeed compared at another offset, is not mistaken for one.
func TestMatchVLANRefusesShifts(t *testing.T) {
	for _, e := range []string{"vlan", "vlan 100 and tcp", "tcp or vlan", "not vlan", "mpls", "mpls 5 and ip", "pppoes", "pppoes and ip", "geneve", "geneve and tcp"} {
		_, err := New(Spec{Expr: e, MatchVLAN: true})
		if !errors.Is(err, ErrMatchVLAN) {
			t.Errorf("%q with MatchVLAN: %v, want ErrMatchVLAN", e, err)
		}
		if _, err := New(Spec{Expr: e}); err != nil {
			t.Errorf("%q without MatchVLAN: %v", e, err)
		}
	}
	for _, e := range []string{"tcp", "ether proto 0xfeed", "ip[0:2] = 0xfeed", "ether[12:2] = 0xfeed", "ether proto 0xfeed or ip", "udp port 65261"} {
		if _, err := New(Spec{Expr: e, MatchVLAN: true}); err != nil {
			t.Errorf("%q with MatchVLAN: %v", e, err)
		}
	}
	if _, err := New(Spec{Expr: "tcp", LinkType: dltRaw, MatchVLAN: true}); !errors.Is(err, ErrMatchVLAN) {
		t.Errorf("MatchVLAN on raw IP: %v, want ErrMatchVLAN", err)
	}
	if _, err := New(Spec{Expr: "tcp port", MatchVLAN: true}); !errors.Is(err, ErrCompile) || err.Error() != `filter "tcp port": can't parse filter expression: syntax error` {
		t.Errorf("syntax error with MatchVLAN: %v", err)
	}
	f, err := New(Spec{Expr: " ", MatchVLAN: true})
	if err != nil || !f.Match(nil, 0) {
		t.Errorf("blank expression with MatchVLAN: %v, want every packet", err)
	}
}
