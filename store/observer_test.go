package store

import (
	"fmt"
	"slices"
	"testing"
)

// recorder is an Observer that notes what it sees.
type recorder struct{ events []string }

func (r *recorder) Stored(ts int64, data []byte, origLen uint32) {
	r.events = append(r.events, fmt.Sprintf("stored %d %d/%d", ts, len(data), origLen))
}
func (r *recorder) Published(f Finalized) {
	r.events = append(r.events, fmt.Sprintf("published %d packets %d-%d", f.Packets, f.First, f.Last))
}
func (r *recorder) Dropped() { r.events = append(r.events, "dropped") }

// TestObserver: an Observer sees each record as stored (microseconds,
// cut to SnapLen, the wire length kept), the file published before the
// record that rotated it is stored in the next, and the open file
// dropped by Abort; a failed record is not seen.
func TestObserver(t *testing.T) {
	w, err := NewWriter(Spec{Dir: t.TempDir(), Template: "{seq}.pcap", MaxPackets: 2, SnapLen: 50}, Vars{})
	if err != nil {
		t.Fatal(err)
	}
	var r recorder
	w.Observe(&r)
	for i, size := range []int{60, 45, 60} {
		if _, err := w.Write(t0+int64(i)*1001, frame(i, size), 100); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Write(-1, frame(9, 10), 10); err == nil {
		t.Fatal("a negative time was written")
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(t0, frame(0, 44), 0); err != nil {
		t.Fatal(err)
	}
	fin, err := w.Finalize()
	if err != nil {
		t.Fatal(err)
	}
	us := t0 - t0%1000
	want := []string{
		fmt.Sprintf("stored %d 50/100", us),
		fmt.Sprintf("stored %d 45/100", us+1000),
		fmt.Sprintf("published 2 packets %d-%d", us, us+1000),
		fmt.Sprintf("stored %d 50/100", us+2002-2002%1000),
		"dropped",
		fmt.Sprintf("stored %d 44/44", us),
		fmt.Sprintf("published 1 packets %d-%d", fin.First, fin.Last),
	}
	if !slices.Equal(r.events, want) {
		t.Errorf("observed\n%q\nwant\n%q", r.events, want)
	}
	w.Observe(nil)
	if _, err := w.Write(t0, frame(0, 10), 0); err != nil || len(r.events) != len(want) {
		t.Errorf("seen after Observe(nil): %v %q", err, r.events[len(want):])
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
}
