package records

import (
	"strings"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/packet"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// FuzzRecords: any bytes of any link type become one packet row and,
// with an IP header, one flow whose Community ID the row carries; the
// row's columns are the innermost header's, never more than the bytes
// hold, and nothing panics.
func FuzzRecords(f *testing.F) {
	for _, p := range testenv.AllPcaps(f) {
		if _, recs, _ := pcap.ReadFile(p); len(recs) > 0 {
			f.Add(uint8(0), recs[0].Data) // the first frame of every shared capture
		}
	}
	f.Add(uint8(0), packet.TCPFrame(client, server, 1, 2, syn, 7, 3))
	f.Add(uint8(0), packet.UDPFrame(60, 4789, 4789))
	links := []uint32{1, 101, 228, 229, 113, 276, 0, 108, 9, 12, 147}
	f.Fuzz(func(t *testing.T, link uint8, data []byte) {
		var flows []Flow
		tab := NewTable(Timeouts{}, func(fl *Flow) { flows = append(flows, fl.clone()) })
		d := Decode(1e18, uint32(len(data)), links[int(link)%len(links)], data, "f", 1)
		cid := tab.Add(&d)
		var r Packet
		r.fill(&d, new(packetVals), new(addrNames), cid)
		if int(r.CapLen) != len(data) || r.Length < r.CapLen {
			t.Fatalf("lengths %d/%d of %d bytes", r.CapLen, r.Length, len(data))
		}
		l := d.Inner()
		if (l == nil) != (cid == "") || (l == nil) != (r.Src == nil) {
			t.Fatalf("IP header %v, Community ID %q, src %v", l != nil, cid, r.Src)
		}
		if l == nil {
			return
		}
		if l.Version != 4 && l.Version != 6 || l.Version == 4 && !l.Src.Is4() || l.Version == 6 && !l.Src.Is6() {
			t.Fatalf("version %d with %s", l.Version, l.Src)
		}
		if !strings.HasPrefix(cid, "1:") || len(cid) != 30 {
			t.Fatalf("Community ID %q", cid)
		}
		tab.Flush()
		if len(flows) != 1 || flows[0].CommunityID != cid || flows[0].OrigPackets+flows[0].RespPackets != 1 {
			t.Fatalf("flows %+v", flows)
		}
	})
}
