package index

import (
	"bytes"
	"testing"

	"github.com/fastcapa-go/fastcapa/store"
)

// TestIndexer: each file a store.Writer observed by an Indexer publishes
// gets the sidecar a build from the file itself makes — so the index
// holds what the file stores (microsecond times, frames cut to the
// snapshot length), no more — and a file whose records the Indexer did
// not all see is reported, not indexed.
func TestIndexer(t *testing.T) {
	recs := metronFrames(t)
	w, err := store.NewWriter(store.Spec{Dir: t.TempDir(), Template: "{seq}.pcap", MaxPackets: 300, SnapLen: 40}, store.Vars{})
	if err != nil {
		t.Fatal(err)
	}
	var failed []error
	w.Observe(&Indexer{Failed: func(_ string, err error) { failed = append(failed, err) }})
	var fins []store.Finalized
	for i, r := range recs {
		rot, err := w.Write(r.Timestamp+int64(i%1000), r.Data, r.OrigLen)
		if err != nil {
			t.Fatal(err)
		}
		fins = append(fins, rot...)
	}
	fin, err := w.Finalize()
	if err != nil {
		t.Fatal(err)
	}
	fins = append(fins, *fin)
	if len(fins) < 2 || len(failed) != 0 {
		t.Fatalf("%d files, sidecars failed: %v", len(fins), failed)
	}
	for _, f := range fins {
		ix, err := Load(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		built, err := BuildFile(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := ix.MarshalBinary()
		want, _ := built.MarshalBinary()
		if !bytes.Equal(got, want) || ix.First != f.First || ix.Last != f.Last || ix.Packets != f.Packets {
			t.Errorf("%s: sidecar (%d packets, %d-%d) differs from the file's index (%d packets, %d-%d)",
				f.Path, ix.Packets, ix.First, ix.Last, built.Packets, built.First, built.Last)
		}
	}

	var x Indexer
	var path string
	x.Failed = func(p string, err error) { path = p }
	x.Stored(recs[0].Timestamp, recs[0].Data, recs[0].OrigLen)
	x.Published(store.Finalized{Path: fins[0].Path + ".other", Packets: 2})
	if path != fins[0].Path+".other" {
		t.Errorf("a file of 2 packets indexed with 1: not reported")
	}
}
