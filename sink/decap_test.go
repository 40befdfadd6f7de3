package sink

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/fastcapa-go/fastcapa/index"
	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/store"
)

// FuzzKeeps: a decap target's match, which writes an Ethernet header
// over the 14 bytes before an inner IP packet and puts them back, leaves
// any frame byte for byte as it was, and answers what the filter answers
// on a copy of the innermost packet presented as fc_inner_enter presents
// it (built here by copying, from index.Inner's answer). Seeds: the
// crafted frames of the decapsulation tests.
func FuzzKeeps(f *testing.F) {
	for _, fr := range pcaptest.DecapFrames() {
		f.Add(fr, uint16(0))
	}
	ts, err := newTargets([]Target{{Store: store.Spec{Dir: f.TempDir(), Template: "{seq}.pcap"},
		Filter: "tcp port 80 or udp or ether broadcast or vlan or greater 100", Decap: true}})
	if err != nil {
		f.Fatal(err)
	}
	t0 := ts[0]
	f.Fuzz(func(t *testing.T, data []byte, extra uint16) {
		origLen := uint32(len(data)) + uint32(extra) // a frame cut short, or whole
		before := bytes.Clone(data)
		got := t0.keeps(data, origLen)
		if !bytes.Equal(data, before) {
			t.Fatalf("the frame changed:\n%x\n%x", before, data)
		}
		presented, wire := data, origLen
		switch off, kind, _ := index.Inner(data); kind {
		case index.InnerEthernet:
			presented, wire = data[off:], origLen-uint32(off)
		case index.InnerIPv4, index.InnerIPv6:
			et := uint16(0x0800)
			if kind == index.InnerIPv6 {
				et = 0x86dd
			}
			presented = append(binary.BigEndian.AppendUint16(bytes.Clone(data[:12]), et), data[off:]...)
			wire = origLen - uint32(off) + 14
		}
		if want := t0.match.Match(presented, wire); got != want {
			t.Fatalf("keeps %v, the filter on the presented copy %v", got, want)
		}
	})
}
