package store

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// TestClassify: what each name in a store directory is, for every kind.
func TestClassify(t *testing.T) {
	const (
		reg  = fs.FileMode(0)
		dir  = fs.ModeDir
		link = fs.ModeSymlink
	)
	for _, c := range []struct {
		name  string
		typ   fs.FileMode
		kind  Kind
		of    string
		piped bool
	}{
		// Finished captures: any visible regular file but a sidecar or
		// a dead letter, whatever its extension (Metron's have none).
		{"a.pcap", reg, Capture, "", false},
		{"pcap_t_1_0_u", reg, Capture, "", false},
		{"1700000000-1700000060.pcap.zst", reg, Capture, "", false},
		{"a.pcap.inprogress", reg, Capture, "", false}, // visible: not a temporary name
		{"a.tmp", reg, Capture, "", false},
		{"a.pcap", link, Link, "", false},
		{"fifo", fs.ModeNamedPipe, Other, "", false},
		{"sock", fs.ModeSocket, Other, "", false},
		// Directories: entered when visible, never when hidden.
		{"20240301", dir, Dir, "", false},
		{"a.idx", dir, Dir, "", false},
		{".spool", dir, HiddenDir, "", false},
		{".a.pcap.0123456789abcdef.inprogress", dir, HiddenDir, "", false},
		// A Writer's temporary files, and Recover's rewrites.
		{".a.pcap.0123456789abcdef.inprogress", reg, Temp, "a.pcap", false},
		{".a.pcap.0123456789abcdef.pipe.inprogress", reg, Temp, "a.pcap", true},
		{".{end}-x.pcap.gz.0123456789abcdef.inprogress", reg, Temp, "{end}-x.pcap.gz", false},
		{".a.pcap.0123456789ABCDEF.inprogress", reg, Hidden, "", false},
		{".a.pcap.0123.inprogress", reg, Hidden, "", false},
		{"..a.pcap.0123456789abcdef.inprogress", reg, Hidden, "", false},
		{".a.pcap.0123456789abcdef.recovering", reg, Rewrite, "", false},
		{".a.pcap.idx.0123456789abcdef.recovering", reg, Rewrite, "", false},
		// atomicfile.WriteFile's temporary files (sidecars', the journal's).
		{".a.pcap.idx.0123abcd.tmp", reg, AtomicTemp, ".a.pcap.idx", false},
		{".pcap_t_1_0_u.idx.deadbeef.tmp", reg, AtomicTemp, ".pcap_t_1_0_u.idx", false},
		{".pcapstore-offsets.json.0123abcd.tmp", reg, AtomicTemp, ".pcapstore-offsets.json", false},
		{".a.pcap.0123abcd.tmp", reg, AtomicTemp, ".a.pcap", false},
		{".a.pcap.idx.0123abcd.tmpx", reg, Hidden, "", false},
		{".a.pcap.idx.0123ABCD.tmp", reg, Hidden, "", false},
		{"a.pcap.idx.0123abcd.tmp", reg, Capture, "", false},
		// Sidecars: hidden ones name their capture; any *.idx is one.
		{".a.pcap.idx", reg, Sidecar, "a.pcap", false},
		{".pcap_t_1_0_u.idx", reg, Sidecar, "pcap_t_1_0_u", false},
		{"a.pcap.idx", reg, Sidecar, "", false},
		{"..a.idx", reg, Sidecar, "", false},
		{".idx", reg, Sidecar, "", false},
		{"..idx", reg, Sidecar, "", false},
		{".a.pcap.idx", link, Sidecar, "a.pcap", false},
		// Dead letters, and other hidden files.
		{"deadletter.jsonl", reg, DeadLetter, "", false},
		{".deadletter.jsonl", reg, Hidden, "", false},
		{".pcapstore-offsets.json", reg, Hidden, "", false},
		{".other", reg, Hidden, "", false},
	} {
		e := Classify(c.name, c.typ)
		if e.Kind != c.kind || e.Of != c.of || e.Piped != c.piped || e.Type != c.typ {
			t.Errorf("Classify(%q, %v) = %v of %q piped %v; want %v of %q piped %v",
				c.name, c.typ, e.Kind, e.Of, e.Piped, c.kind, c.of, c.piped)
		}
	}
}

// TestCaptureOf: the capture a sidecar's name stands for (moved from
// package index with the sidecar's name).
func TestCaptureOf(t *testing.T) {
	for name, want := range map[string]string{
		".a.pcap.idx": "a.pcap", "a.pcap.idx": "", "..a.idx": "", ".idx": "", "..idx": "",
		".a.pcap.0123456789abcdef.inprogress": "",
	} {
		if got, _ := captureOf(name); got != want {
			t.Errorf("captureOf(%q) = %q", name, got)
		}
	}
	if got := SidecarPath("/d/x/a.pcap"); got != "/d/x/.a.pcap.idx" {
		t.Errorf("SidecarPath: %s", got)
	}
}

// TestWalk: Walk passes every entry but visible directories, in lexical
// order, enters visible directories only, and reports an entry it cannot
// read and goes on, or stops when fn says so.
func TestWalk(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.pcap", "a/c.pcap", "a/.c.pcap.idx", ".h/d.pcap", "a/.h2/e.pcap", "deadletter.jsonl",
		".f.pcap.0123456789abcdef.inprogress", "z/g.pcap"} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("b.pcap", filepath.Join(dir, "l.pcap")); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "y"), 0o755)
	testenv.UnlistableDir(t, filepath.Join(dir, "y"))
	var got []string
	err := Walk(dir, func(e Entry) error {
		rel, _ := filepath.Rel(dir, e.Path)
		if e.Err != nil {
			if !errors.Is(e.Err, syscall.ENAMETOOLONG) {
				t.Errorf("%s: %v, want ENAMETOOLONG", rel, e.Err)
			}
			got = append(got, "error")
			return nil
		}
		got = append(got, rel+" "+e.Kind.String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".f.pcap.0123456789abcdef.inprogress temporary file", ".h hidden directory",
		"a/.c.pcap.idx sidecar index", "a/.h2 hidden directory", "a/c.pcap capture",
		"b.pcap capture", "deadletter.jsonl dead letter", "l.pcap link", "error", "z/g.pcap capture"}
	if !slices.Equal(got, want) {
		t.Errorf("walked\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	stop := errors.New("stop")
	n := 0
	if err := Walk(dir, func(e Entry) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("Walk returned %v after %d entries, want fn's error after 1", err, n)
	}
	if err := Walk(filepath.Join(dir, "missing"), func(Entry) error { return nil }); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Walk of a missing directory: %v", err)
	}
}
