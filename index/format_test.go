package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/store"
)

// sampleIndexes cover each summary kind: empty, exact lists, a Bloom
// filter and a port bitmap, a full filter.
func sampleIndexes(t testing.TB) map[string]*Index {
	return map[string]*Index{
		"empty":        (&Builder{}).Index(),
		"exact":        buildAll(genFile(21, 200, 30, 10, 40)),
		"exact v6":     buildAll(genFile(22, 300, 0, 40, 10)),
		"bloom bitmap": buildAll(genFile(23, 6000, 2000, 500, 6000)),
		"filter full":  buildAll(genFile(24, 20000, 30000, 0, 100)),
	}
}

// TestFormatRoundTrip: an index read back encodes to the same bytes and
// answers the same.
func TestFormatRoundTrip(t *testing.T) {
	probe := genFile(25, 300, 100, 50, 100)
	for name, ix := range sampleIndexes(t) {
		ix.CaptureSize, ix.CaptureModTime = 12345, 678
		a, _ := ix.MarshalBinary()
		if len(a) != ix.Stats().Bytes {
			t.Errorf("%s: %d bytes, Stats says %d", name, len(a), ix.Stats().Bytes)
		}
		back := roundTrip(t, ix)
		if b, _ := back.MarshalBinary(); !bytes.Equal(a, b) {
			t.Errorf("%s: encodes differently read back", name)
		}
		if back.First != ix.First || back.Last != ix.Last || back.Packets != ix.Packets || back.CaptureSize != 12345 || back.CaptureModTime != 678 {
			t.Errorf("%s: header fields differ read back", name)
		}
		for _, p := range probe {
			for _, a := range p.want.addrs {
				q := Constraints{Hosts: []netip.Addr{a}}
				if ix.MayMatch(q) != back.MayMatch(q) {
					t.Fatalf("%s: %s answered differently read back", name, a)
				}
			}
		}
		t.Logf("%-12s %6d bytes %+v", name, len(a), ix.Stats())
	}
}

// TestFormatCorrupt: every byte flipped (all bits, or the lowest one),
// every truncation and an extension are ErrFormat, never a panic or a
// wrong index.
func TestFormatCorrupt(t *testing.T) {
	for name, ix := range sampleIndexes(t) {
		if name == "filter full" && testing.Short() {
			continue
		}
		good, _ := ix.MarshalBinary()
		b := slices.Clone(good)
		var x Index
		for i := range b {
			for _, m := range []byte{0xff, 0x01} {
				b[i] ^= m
				if err := x.UnmarshalBinary(b); !errors.Is(err, ErrFormat) {
					t.Fatalf("%s: byte %d ^ %#x: %v", name, i, m, err)
				}
				b[i] ^= m
			}
		}
		for n := range len(good) {
			if err := x.UnmarshalBinary(good[:n]); !errors.Is(err, ErrFormat) {
				t.Fatalf("%s: cut to %d bytes: %v", name, n, err)
			}
		}
		if err := x.UnmarshalBinary(append(slices.Clone(good), 0)); !errors.Is(err, ErrFormat) {
			t.Fatalf("%s: a byte appended: %v", name, err)
		}
	}
}

// reseal rewrites the length and checksum of an index file edited in
// place, so that its other checks are reached.
func reseal(b []byte) []byte {
	binary.LittleEndian.PutUint32(b[12:], uint32(len(b)))
	body := b[:len(b)-trailerLen]
	binary.LittleEndian.PutUint32(b[len(body):], crc32.Checksum(body, castagnoli))
	return b
}

// TestFormatInvalid: foreign files and consistent-looking but invalid
// contents are refused with a message that says what is wrong.
func TestFormatInvalid(t *testing.T) {
	good, _ := buildAll(genFile(26, 200, 30, 10, 40)).MarshalBinary()
	metron, err := os.ReadFile(filepath.Join(sharedDir(t), "metron-example.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(fn func(b []byte)) []byte {
		b := slices.Clone(good)
		fn(b)
		return reseal(b)
	}
	for _, c := range []struct {
		name string
		b    []byte
		msg  string
	}{
		{"empty", nil, "not an index file"},
		{"pcap", metron, "not an index file"},
		{"text", []byte("FCAPAID"), "not an index file"},
		{"version 2", edit(func(b []byte) { b[8] = 2 }), "version 2"},
		{"flags", edit(func(b []byte) { b[10] = 1 }), "flags"},
		{"port kind", edit(func(b []byte) { b[88] = 7 }), "port summary kind 7"},
		{"address kind", edit(func(b []byte) { b[89] = 2 }), "address summary kind 2"},
		{"ports not ascending", edit(func(b []byte) {
			b[headerLen], b[headerLen+1], b[headerLen+2], b[headerLen+3] = 9, 0, 8, 0
		}), "not ascending"},
		{"times reversed", edit(func(b []byte) { binary.LittleEndian.PutUint64(b[32:], 1<<62) }), "after the last"},
		{"address count", edit(func(b []byte) { b[104]++ }), "header says"},
		{"checksum", func() []byte { b := slices.Clone(good); b[len(b)-1] ^= 1; return b }(), "checksum"},
		{"length", func() []byte { b := slices.Clone(good); b[12]++; return b }(), "header says"},
	} {
		var x Index
		err := x.UnmarshalBinary(c.b)
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want ErrFormat saying %q", c.name, err, c.msg)
		}
	}
}

func sharedDir(t testing.TB) string { return filepath.Dir(metronPath(t)) }

// TestSaveLoad: Save writes a hidden sidecar beside its capture,
// atomically (no temporary file left), bound to the capture; Load
// reads it back while the capture is unchanged and refuses it once the
// capture changes; a missing sidecar is fs.ErrNotExist, a corrupt one
// ErrFormat.
func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	capture := filepath.Join(dir, "a.pcap")
	data, err := os.ReadFile(metronPath(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(capture, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(capture); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no sidecar: %v", err)
	}
	ix, err := BuildFile(capture)
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Save(capture); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, dir); !slices.Equal(got, []string{".a.pcap.idx", "a.pcap"}) {
		t.Fatalf("directory holds %v", got)
	}
	back, err := Load(capture)
	if err != nil {
		t.Fatal(err)
	}
	if !sameIndex(ix, back) {
		t.Error("Load differs from what Save wrote")
	}
	// Saved again (a rebuild): replaced, still one file.
	if err := ix.Save(capture); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, dir); len(got) != 2 {
		t.Fatalf("directory holds %v", got)
	}

	// A Builder's index is bound at Save.
	var b Builder
	b.Add(1, data[40:100])
	other := filepath.Join(dir, "b.pcap")
	os.WriteFile(other, data[:100], 0o644)
	bix := b.Index()
	if err := bix.Save(other); err != nil {
		t.Fatal(err)
	}
	if bix.CaptureSize != 100 {
		t.Errorf("bound to %d bytes", bix.CaptureSize)
	}
	// A bound index is not saved for another file.
	if err := ix.Save(other); !errors.Is(err, ErrStale) {
		t.Errorf("saving a's index for b: %v", err)
	}

	// The capture changes: mtime, then size.
	later := time.Now().Add(time.Hour)
	os.Chtimes(capture, later, later)
	if _, err := Load(capture); !errors.Is(err, ErrStale) {
		t.Errorf("capture touched: %v", err)
	}
	f, _ := os.OpenFile(capture, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte{0})
	f.Close()
	if _, err := Load(capture); !errors.Is(err, ErrStale) {
		t.Errorf("capture grew: %v", err)
	}

	// A corrupt sidecar.
	side := SidecarPath(other)
	sb, _ := os.ReadFile(side)
	sb[len(sb)/2] ^= 0x10
	os.WriteFile(side, sb, 0o644)
	if _, err := Load(other); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), side) {
		t.Errorf("corrupt sidecar: %v", err)
	}
	// An unbound index written by hand is stale for any capture.
	if err := (&Builder{}).Index().WriteFile(side); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(other); !errors.Is(err, ErrStale) {
		t.Errorf("unbound sidecar: %v", err)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestSidecarNames: the sidecar and its temporary files are hidden,
// named after the capture, and what Clean takes for its own; store's
// temporary files are not.
func TestSidecarNames(t *testing.T) {
	if got := SidecarPath("/d/x/a.pcap.gz"); got != "/d/x/.a.pcap.gz.idx" {
		t.Errorf("SidecarPath: %s", got)
	}
	if got := SidecarPath("a.pcap"); got != ".a.pcap.idx" {
		t.Errorf("SidecarPath: %s", got)
	}
	for name, want := range map[string]bool{
		".a.pcap.idx.0123abcd.tmp":                   true,
		".a.pcap.idx.0123abcd.tmpx":                  false,
		".a.pcap.idx.0123ABCD.tmp":                   false,
		".a.pcap.0123abcd.tmp":                       false,
		"a.pcap.idx.0123abcd.tmp":                    false,
		"..idx.0123abcd.tmp":                         false,
		".a.pcap.0123456789abcdef.inprogress":        false,
		".a.pcap.0123456789abcdef.pipe.inprogress":   false,
		".a.pcap.idx.0123456789abcdef.recovering":    false,
		".pcap_t_1_0_u.idx.deadbeef.tmp":             true,
		".20240301/pcap-0-1-2.pcap.idx.deadbeef.tmp": true,
	} {
		if got := isTempName(name); got != want {
			t.Errorf("isTempName(%q) = %v", name, got)
		}
	}
}

// TestClean: Clean removes leftover temporary files and sidecars whose
// capture is gone, in subdirectories too, and nothing else.
func TestClean(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "20240301")
	hidden := filepath.Join(dir, ".spool")
	os.MkdirAll(sub, 0o755)
	os.MkdirAll(hidden, 0o755)
	files := map[string]bool{ // path: removed
		"a.pcap":                              false,
		".a.pcap.idx":                         false,
		".gone.pcap.idx":                      true,
		".a.pcap.idx.0123abcd.tmp":            true,
		".b.pcap.0123456789abcdef.inprogress": false,
		".other":                              false,
		"deadletter.jsonl":                    false,
		"20240301/c.pcap.zst":                 false,
		"20240301/.c.pcap.zst.idx":            false,
		"20240301/.d.pcap.idx":                true,
		"20240301/.d.pcap.idx.ffffffff.tmp":   true,
		".spool/.e.pcap.idx":                  false,
	}
	for p := range files {
		if err := os.WriteFile(filepath.Join(dir, p), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := Clean(dir)
	if err != nil {
		t.Fatal(err)
	}
	for p, gone := range files {
		_, err := os.Stat(filepath.Join(dir, p))
		if exists := err == nil; exists == gone {
			t.Errorf("%s: exists %v", p, exists)
		}
		if slices.Contains(removed, filepath.Join(dir, p)) != gone {
			t.Errorf("%s: listed %v", p, !gone)
		}
	}
	if _, err := Clean(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing directory: %v", err)
	}
}

// TestStoreLeavesSidecars: the naming is safe with store as it is:
// Recover takes neither a sidecar nor its temporary file for a capture,
// and Retain never deletes them (so a sidecar outlives its capture
// until Clean, or until the sink removes it with its capture).
func TestStoreLeavesSidecars(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"a.pcap", ".a.pcap.idx", ".a.pcap.idx.0123abcd.tmp"} {
		os.WriteFile(filepath.Join(dir, p), []byte("not a capture"), 0o644)
	}
	rec, disc, err := store.Recover(dir)
	if err != nil || len(rec) != 0 || len(disc) != 0 {
		t.Fatalf("Recover: %v %v %v", rec, disc, err)
	}
	old := time.Now().Add(-48 * time.Hour)
	for _, p := range listDir(t, dir) {
		os.Chtimes(filepath.Join(dir, p), old, old)
	}
	deleted, err := store.Retain(dir, store.Retention{MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(deleted, []string{filepath.Join(dir, "a.pcap")}) {
		t.Errorf("Retain deleted %v", deleted)
	}
	if got := listDir(t, dir); !slices.Equal(got, []string{".a.pcap.idx", ".a.pcap.idx.0123abcd.tmp"}) {
		t.Errorf("left %v", got)
	}
	removed, _ := Clean(dir)
	if len(removed) != 2 {
		t.Errorf("Clean removed %v", removed)
	}
}
