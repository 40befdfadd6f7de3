package index

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
)

// TestInnerMatchesTshark: for every frame of every shared capture and of
// the crafted frames (pcaptest.DecapFrames), Inner finds the innermost
// packet tshark's decode gives by dpdk/decap.h's rule
// (pcaptest.Decapsulated: tshark's positions, never our decoder), where
// fastcapa's fc_parse finds it too (dpdk's TestParseMatchesTshark); the
// frames where the rule and tshark differ on purpose are those of
// pcaptest.DecapDisagreements, each met.
func TestInnerMatchesTshark(t *testing.T) {
	var frames, inner, bad int
	var w InnerWalker // reused across every frame, as the sink does
	seen := map[string]bool{}
	for _, file := range pcaptest.DecapFiles(t, t.TempDir()) {
		name, recs := filepath.Base(file), pcaptest.ReadAll(t, file)
		for i, want := range pcaptest.Decapsulated(t, file) {
			frames++
			if want.Kind != pcaptest.InnerNone {
				inner++
			}
			off, kind, layers := Inner(recs[i].Data)
			key := fmt.Sprintf("%s#%d", name, i+1)
			if o, k, l := w.Inner(recs[i].Data); o != off || k != kind || l != layers {
				t.Errorf("%s: an InnerWalker finds kind %d at %d, %d layers; Inner kind %d at %d, %d layers", key, k, o, l, kind, off, layers)
			}
			if off == want.Off && int(kind) == want.Kind && layers == want.Layers {
				continue
			}
			if why, ok := pcaptest.DecapDisagreements[key]; ok {
				t.Logf("%s: Inner kind %d at %d, %d layers; tshark %s: %s", key, kind, off, layers, want, why)
				seen[key] = true
				continue
			}
			if bad++; bad <= 30 {
				t.Errorf("%s: Inner kind %d at %d, %d layers; tshark %s", key, kind, off, layers, want)
			}
		}
	}
	for key := range pcaptest.DecapDisagreements {
		if !seen[key] {
			t.Errorf("%s: listed as a disagreement, but Inner and tshark agree (or it is gone)", key)
		}
	}
	if bad > 0 {
		t.Errorf("%d frames differ", bad)
	}
	if inner < 100 {
		t.Errorf("only %d of %d frames have an inner packet: the input does not test decapsulation", inner, frames)
	}
	t.Logf("%d frames, %d with an inner packet", frames, inner)
}

// TestInnerCrafted: the rule's cases by construction, with the offsets
// worked out by hand.
func TestInnerCrafted(t *testing.T) {
	var w InnerWalker // reused across frames, as the sink does
	tcp := pcaptest.IPv4(6, pcaptest.IP4A, pcaptest.IP4B, pcaptest.TCP(40000, 80), 0)
	outer := func(proto byte, payload []byte) []byte {
		return pcaptest.Cat(pcaptest.Eth(0x0800), pcaptest.IPv4(proto, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2}, payload, 0))
	}
	for _, c := range []struct {
		name   string
		frame  []byte
		off    int
		kind   InnerKind
		layers int
	}{
		{"plain", pcaptest.Cat(pcaptest.Eth(0x0800), tcp), 0, InnerNone, 0},
		{"vlan", pcaptest.Cat(pcaptest.Eth(0x8100), pcaptest.Tag(0x0800), tcp), 18, InnerIPv4, 1},
		{"qinq", pcaptest.Cat(pcaptest.Eth(0x88a8), pcaptest.Tag(0x8100), pcaptest.Tag(0x0800), tcp), 22, InnerIPv4, 2},
		{"vlan arp", pcaptest.Cat(pcaptest.Eth(0x8100), pcaptest.Tag(0x0806), make([]byte, 28)), 0, InnerNone, 0},
		{"0x9200 is not walked", pcaptest.Cat(pcaptest.Eth(0x9200), pcaptest.Tag(0x0800), tcp), 0, InnerNone, 0},
		{"ip in ip", outer(4, tcp), 34, InnerIPv4, 1},
		{"vxlan", outer(17, pcaptest.UDP(50000, 4789, pcaptest.Cat(pcaptest.VXLAN(), pcaptest.Eth(0x0800), tcp))), 50, InnerEthernet, 1},
		{"vxlan 8472", outer(17, pcaptest.UDP(50000, 8472, pcaptest.Cat(pcaptest.VXLAN(), pcaptest.Eth(0x0800), tcp))), 50, InnerEthernet, 1},
		{"vxlan by its source port is not", outer(17, pcaptest.UDP(4789, 50000, pcaptest.Cat(pcaptest.VXLAN(), pcaptest.Eth(0x0800), tcp))), 0, InnerNone, 0},
		{"gre mpls", outer(47, pcaptest.Cat(pcaptest.GRE(0, 0x8847, 0), pcaptest.MPLS(true), tcp)), 42, InnerIPv4, 2},
		{"gre v1", outer(47, pcaptest.Cat(pcaptest.GRE(0x2001, 0x880b, 4), make([]byte, 8))), 0, InnerNone, 0},
		{"ip in ip cut short", outer(4, tcp)[:14+20], 0, InnerNone, 0}, // no inner header
		{"mpls pseudowire", pcaptest.Cat(pcaptest.Eth(0x8847), pcaptest.MPLS(true), make([]byte, 4), pcaptest.Eth(0x0800), tcp), 0, InnerNone, 0},
		{"too short", pcaptest.MACA, 0, InnerNone, 0},
	} {
		off, kind, layers := Inner(c.frame)
		if o, k, l := w.Inner(c.frame); o != off || k != kind || l != layers {
			t.Errorf("%s: an InnerWalker finds kind %d at %d, %d layers; Inner kind %d at %d, %d layers", c.name, k, o, l, kind, off, layers)
		}
		if off != c.off || kind != c.kind || layers != c.layers {
			t.Errorf("%s: kind %d at %d, %d layers; want kind %d at %d, %d layers", c.name, kind, off, layers, c.kind, c.off, c.layers)
		}
	}
	// Nine VLAN tags: the ninth is past the bound, the walk ends at the
	// eighth, before any IP header.
	nine := pcaptest.Eth(0x8100)
	for range 8 {
		nine = pcaptest.Cat(nine, pcaptest.Tag(0x8100))
	}
	nine = pcaptest.Cat(nine, pcaptest.Tag(0x0800), tcp)
	if _, kind, _ := Inner(nine); kind != InnerNone {
		t.Errorf("nine VLAN tags: kind %d, want none (at most %d removals)", kind, maxInnerLayers)
	}
	if n := testing.AllocsPerRun(100, func() { Inner(nine); w.Inner(nine) }); n != 0 {
		t.Errorf("Inner allocates %v times", n)
	}
}

// BenchmarkInner is Inner on a VXLAN frame, as a function (its walk's
// state cleared each call) and through a reused InnerWalker.
func BenchmarkInner(b *testing.B) {
	tcp := pcaptest.IPv4(6, pcaptest.IP4A, pcaptest.IP4B, pcaptest.TCP(40000, 80), 0)
	frame := pcaptest.Cat(pcaptest.Eth(0x0800), pcaptest.IPv4(17, []byte{192, 0, 2, 1}, []byte{192, 0, 2, 2},
		pcaptest.UDP(50000, 4789, pcaptest.Cat(pcaptest.VXLAN(), pcaptest.Eth(0x0800), tcp)), 0))
	b.Run("func", func(b *testing.B) {
		for range b.N {
			Inner(frame)
		}
	})
	b.Run("walker", func(b *testing.B) {
		var w InnerWalker
		for range b.N {
			w.Inner(frame)
		}
	})
}

// FuzzInner: on any bytes Inner stays inside the frame and reports only
// what is there: an Ethernet header whole, or an IPv4 or IPv6 header of
// its version whole, after at least one removal (so never at the
// start, and 18 bytes in at least for IP), at most 8 removals; nothing
// removed means the frame itself. A reused InnerWalker agrees. Seeds:
// the crafted frames and every 7th frame of the shared captures.
func FuzzInner(f *testing.F) {
	for _, fr := range pcaptest.DecapFrames() {
		f.Add(fr)
	}
	frames := sharedFrames(f)
	for i := 0; i < len(frames); i += 7 {
		f.Add(frames[i].rec.Data)
	}
	var w InnerWalker
	f.Fuzz(func(t *testing.T, data []byte) {
		off, kind, layers := Inner(data)
		if o, k, l := w.Inner(data); o != off || k != kind || l != layers {
			t.Fatalf("InnerWalker: kind %d at %d, %d layers; Inner: kind %d at %d, %d layers", k, o, l, kind, off, layers)
		}
		if layers < 0 || layers > maxInnerLayers {
			t.Fatalf("%d layers", layers)
		}
		var min int
		switch kind {
		case InnerNone:
			if off != 0 || layers != 0 {
				t.Fatalf("nothing removed, but off %d, %d layers", off, layers)
			}
			return
		case InnerEthernet:
			min = 14
		case InnerIPv4:
			min = 20
			if len(data) >= off+1 && data[off]>>4 != 4 {
				t.Fatalf("IPv4 at %d: version %d", off, data[off]>>4)
			}
		case InnerIPv6:
			min = 40
			if len(data) >= off+1 && data[off]>>4 != 6 {
				t.Fatalf("IPv6 at %d: version %d", off, data[off]>>4)
			}
		default:
			t.Fatalf("kind %d", kind)
		}
		if layers == 0 || off < 14+4 || off+min > len(data) {
			t.Fatalf("kind %d at %d, %d layers, in %d bytes", kind, off, layers, len(data))
		}
	})
}
