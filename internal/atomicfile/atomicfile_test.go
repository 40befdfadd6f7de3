package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestLink: Link never replaces another file, takes a name that is
// already the file's own link for done, and Unlink leaves the final name.
func TestLink(t *testing.T) {
	dir := t.TempDir()
	tmp, final, other := filepath.Join(dir, ".a.tmp"), filepath.Join(dir, "a"), filepath.Join(dir, "b")
	f, err := Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("new")
	f.Close()
	if _, err := Create(tmp); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Create over an existing file: %v", err)
	}
	os.WriteFile(other, []byte("old"), 0o644)
	if err := Link(tmp, other); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Link over another file: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(other); string(b) != "old" {
		t.Errorf("Link replaced %s", other)
	}
	for range 2 { // the second time: a crash between link and unlink
		if err := Link(tmp, final); err != nil {
			t.Fatal(err)
		}
	}
	if err := Unlink(tmp); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(final); err != nil || string(b) != "new" {
		t.Errorf("%s: %q, %v", final, b, err)
	}
	if _, err := os.Lstat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary name left: %v", err)
	}
}

// TestWriteFile: WriteFile replaces the file whole and leaves no
// temporary file; TempOf knows its temporary names, and RemoveTemps
// removes a crash's leftovers of that file only.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "j.json")
	for _, data := range []string{"one", "two"} {
		if err := WriteFile(path, []byte(data)); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(path); string(b) != data {
			t.Errorf("%s holds %q, want %q", path, b, data)
		}
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Errorf("%d entries, want the file alone", len(es))
	}
	for name, want := range map[string]string{
		".j.json.0123abcd.tmp": ".j.json", ".j.json.0123ABCD.tmp": "", "j.json.0123abcd.tmp": "",
		".j.json.0123abc.tmp": "", ".j.json.0123abcd.tmpx": "", ".0123abcd.tmp": "",
	} {
		if got, _ := TempOf(name); got != want {
			t.Errorf("TempOf(%q) = %q, want %q", name, got, want)
		}
	}
	for _, n := range []string{".j.json.0123abcd.tmp", ".k.json.0123abcd.tmp"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	if err := RemoveTemps(path); err != nil {
		t.Fatal(err)
	}
	for n, want := range map[string]bool{".j.json.0123abcd.tmp": false, ".k.json.0123abcd.tmp": true, "j.json": true} {
		if _, err := os.Lstat(filepath.Join(dir, n)); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", n, err == nil, want)
		}
	}
}
