package store

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestRetain(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(t *testing.T) string {
		dir := t.TempDir()
		// a.pcap oldest .. d.pcap newest, 100 B each, one hidden temp
		// file older than all, and one in a subdirectory.
		for i, name := range []string{"a.pcap", "b.pcap", "sub/c.pcap", "d.pcap", ".e.pcap.00.inprogress", "deadletter.jsonl"} {
			p := filepath.Join(dir, name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, make([]byte, 100), 0o644)
			mod := base.Add(time.Duration(i) * time.Hour)
			if i >= 4 { // older than every capture: must still stay
				mod = base.Add(-time.Hour)
			}
			os.Chtimes(p, mod, mod)
		}
		return dir
	}
	for _, c := range []struct {
		name string
		r    Retention
		want []string
	}{
		{"off", Retention{}, nil},
		{"bytes", Retention{MaxBytes: 250}, []string{"a.pcap", "b.pcap"}},
		{"bytes exact", Retention{MaxBytes: 400}, nil},
		{"age", Retention{MaxAge: 150 * time.Minute, Now: func() time.Time { return base.Add(4 * time.Hour) }},
			[]string{"a.pcap", "b.pcap"}},
		{"free space", Retention{MinFreePct: 10}, []string{"a.pcap", "b.pcap", "sub/c.pcap"}},
		// A file Keep spares stays, and counts: younger ones go instead.
		{"bytes, oldest kept", Retention{MaxBytes: 250, Keep: keepA}, []string{"b.pcap", "sub/c.pcap"}},
		{"age, oldest kept", Retention{MaxAge: 150 * time.Minute, Now: func() time.Time { return base.Add(4 * time.Hour) }, Keep: keepA},
			[]string{"b.pcap"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := mk(t)
			// A filesystem 2 % free with all four files, each file
			// freeing 3 %: three must go to reach 10 %.
			c.r.FreePercent = func(string) (float64, error) {
				left := 0
				for _, n := range []string{"a.pcap", "b.pcap", "sub/c.pcap", "d.pcap"} {
					if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
						left++
					}
				}
				return 2 + 3*float64(4-left), nil
			}
			deleted, err := Retain(dir, c.r)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range deleted {
				rel, _ := filepath.Rel(dir, p)
				got = append(got, rel)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("deleted %v, want %v", got, c.want)
			}
			for _, keep := range []string{".e.pcap.00.inprogress", "deadletter.jsonl"} {
				if _, err := os.Stat(filepath.Join(dir, keep)); err != nil {
					t.Errorf("%s was deleted: %v", keep, err)
				}
			}
			for _, p := range got {
				if _, err := os.Stat(filepath.Join(dir, p)); !os.IsNotExist(err) {
					t.Errorf("%s still there", p)
				}
			}
		})
	}
}

// TestRetainHiddenDirectories: retention deletes only finalized files, so
// never one in a hidden directory, which no Writer makes (a template's
// elements are visible names) and the walker does not enter, as
// Recover, index.Clean and queries do not.
func TestRetainHiddenDirectories(t *testing.T) {
	dir := t.TempDir()
	old := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, name := range []string{"a.pcap", ".hidden/b.pcap", "sub/.deeper/c.pcap"} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, make([]byte, 100), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, old, old)
	}
	deleted, err := Retain(dir, Retention{MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(dir, "a.pcap")}; !slices.Equal(deleted, want) {
		t.Errorf("deleted %v, want %v", deleted, want)
	}
}

// keepA spares a.pcap.
func keepA(path string) bool { return filepath.Base(path) == "a.pcap" }
