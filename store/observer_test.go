package store

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
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

// TestBeforePublish: the hook runs once per file, in Write's rotation,
// Tick and Finalize, when the file is whole under its temporary name
// (Recover would publish every record of it) and its final name does
// not exist yet; the observer's Published comes after.
func TestBeforePublish(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(Spec{Dir: dir, Template: "{seq}.pcap", MaxPackets: 2, MaxSpan: time.Second}, Vars{})
	if err != nil {
		t.Fatal(err)
	}
	var r recorder
	w.Observe(&r)
	w.BeforePublish(func() {
		r.events = append(r.events, "synced")
		final, temps := 0, 0
		Walk(dir, func(e Entry) error {
			switch e.Kind {
			case Capture:
				final++
			case Temp:
				temps++
			}
			return nil
		})
		want := len(slices.DeleteFunc(slices.Clone(r.events), func(s string) bool { return s != "synced" })) - 1
		if final != want || temps != 1 {
			t.Errorf("at the hook: %d files under a final name (want %d, the earlier ones) and %d temporary", final, want, temps)
		}
	})
	t0 := time.Unix(1700000000, 0)
	for i := range 3 { // the third rotates the first file
		if _, err := w.Write(t0.UnixNano()+int64(i), make([]byte, 60), 60); err != nil {
			t.Fatal(err)
		}
	}
	w.Tick(time.Now()) // a record since the last tick: not idle yet
	if fins, err := w.Tick(time.Now().Add(time.Hour)); err != nil || len(fins) != 1 { // the second, by age
		t.Fatalf("tick: %v, %v", fins, err)
	}
	w.Write(t0.UnixNano()+10, make([]byte, 60), 60)
	if fin, err := w.Finalize(); err != nil || fin == nil {
		t.Fatalf("finalize: %v, %v", fin, err)
	}
	var order []string
	for _, e := range r.events {
		if e == "synced" || strings.HasPrefix(e, "published") {
			order = append(order, strings.Fields(e)[0])
		}
	}
	if want := []string{"synced", "published", "synced", "published", "synced", "published"}; !slices.Equal(order, want) {
		t.Errorf("events %v, want %v", order, want)
	}
}
