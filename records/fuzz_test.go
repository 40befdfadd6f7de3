package records

import (
	"context"
	"os"
	"path/filepath"
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

// FuzzReadFlowSpans: any bytes as a flows file are read or named as
// failed, never a panic or a hang, and only spans in the range come out.
func FuzzReadFlowSpans(f *testing.F) {
	src := f.TempDir()
	ds := NewDataset[Flow](DatasetSpec{Dir: src, Kind: "flows", Stem: "f", RowGroupRows: 3})
	for i := range 10 {
		fl := Flow{UID: "u", First: 1e18 + int64(i)*1e9, Last: 1e18 + int64(i)*2e9, OrigPackets: int64(i), RespBytes: 60 * int64(i)}
		if err := ds.Write(fl.First, fl); err != nil {
			f.Fatal(err)
		}
	}
	if err := ds.Close(); err != nil {
		f.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(src, Partition(1e18), "*.parquet"))
	if len(files) != 1 {
		f.Fatalf("%d files written", len(files))
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add(b[len(b)/2:])
	f.Add([]byte("PAR1PAR1"))
	const from, to = 1e18 + 3e9, 1e18 + 9e9
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := filepath.Join(t.TempDir(), "flows", Partition(1e18))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "x.parquet"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		rd, err := ReadFlowSpans(context.Background(), filepath.Dir(filepath.Dir(dir)), from, to, func(s FlowSpan) {
			if s.Last < from || s.First > to {
				t.Fatalf("span %+v outside the range", s)
			}
		})

		if err != nil || rd.Files != 1 {
			t.Fatalf("%+v, %v", rd, err)
		}
	})
}
