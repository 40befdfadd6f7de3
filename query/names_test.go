package query

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/packet"
	"github.com/fastcapa-go/fastcapa/pcap"
)

func TestNameEnd(t *testing.T) {
	for _, c := range []struct {
		name string
		end  int64 // seconds; 0: not a name that says
	}{
		{"1431031896-1431032021.pcap", 1431032021},
		{"/data/x/1431031896-1431032021.pcapng.zst", 1431032021},
		{"1431031896-1431032021.pcap.gz", 1431032021},
		{"1431031896-1431032021.pcap.1", 0}, // a collision suffix: not FMADIO's form
		{"1431032021-1431031896.pcap", 0},   // ends before it starts
		{"pcap_pcap_1431031896723375000_0_0b4c.pcap", 0},
		{"x1431031896-1431032021.pcap", 0},
	} {
		end, ok := NameEnd(c.name)
		if ok != (c.end != 0) || ok && !end.Equal(time.Unix(c.end, 999_999_999)) {
			t.Errorf("%s: %v %v, want end %d", c.name, end, ok, c.end)
		}
	}
}

// TestNamePruner: over files named as the sink names them with the
// template "{start}-{end}.pcap", a query from a time on opens none of the
// files that end before it, and answers as the same query unpruned.
func TestNamePruner(t *testing.T) {
	dir := t.TempDir()
	base := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC).UnixNano()
	for i := range 6 {
		var recs []pcap.Record
		for j := range 50 {
			ts := base + int64(i)*int64(time.Minute) + int64(j)*int64(time.Second)
			recs = append(recs, pcap.Record{Timestamp: ts, Data: packet.UDPFrame(60, uint16(j), 53)})
		}
		name := fmt.Sprintf("%d-%d.pcap", recs[0].Timestamp/1e9, recs[len(recs)-1].Timestamp/1e9)
		pcaptest.WriteCapture(t, filepath.Join(dir, name), pcaptest.File{}, recs)
	}
	start := time.Unix(0, base+3*int64(time.Minute)+10*int64(time.Second))
	spec := Spec{Paths: []string{dir}, Start: start}
	want, _, err := collect(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	spec.Prune = NamePruner(start, nil)
	got, st, err := collect(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pruned != 3 {
		t.Errorf("%d files pruned by name, want 3 (those ending before %v)", st.Pruned, start)
	}
	if len(got) != len(want) || len(got) != 40+2*50 {
		t.Fatalf("%d packets pruned, %d unpruned, want %d", len(got), len(want), 40+2*50)
	}
	for i := range want {
		if got[i].Timestamp != want[i].Timestamp {
			t.Fatalf("packet %d differs", i)
		}
	}
}
