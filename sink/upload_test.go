package sink

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// TestSpooledHiddenDirectories: the spool uploads only finalized files,
// so never one in a hidden directory, which no store.Writer makes; nor a
// dead letter, a temporary file or a sidecar.
func TestSpooledHiddenDirectories(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.pcap", "sub/b.pcap", ".hidden/c.pcap", "sub/.deeper/d.pcap",
		".e.pcap.0123456789abcdef.inprogress", ".a.pcap.idx", "deadletter.jsonl", "dead.log"} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := spooled(dir, filepath.Join(dir, "dead.log"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a.pcap"), filepath.Join(dir, "sub/b.pcap")}
	if !slices.Equal(got, want) {
		t.Errorf("spooled %v, want %v", got, want)
	}
}

// TestSpooledWalkError: a spool directory that cannot be listed is an
// error (newSink fails to start, as Recover does), not files silently
// never uploaded; the files found are still listed.
func TestSpooledWalkError(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.pcap"), nil, 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	testenv.UnlistableDir(t, filepath.Join(dir, "sub"))
	got, err := spooled(dir, filepath.Join(dir, "deadletter.jsonl"))
	if !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Errorf("spooled: %v, want the walk's error (ENAMETOOLONG)", err)
	}
	if want := []string{filepath.Join(dir, "a.pcap")}; !slices.Equal(got, want) {
		t.Errorf("spooled %v, want %v", got, want)
	}
}
