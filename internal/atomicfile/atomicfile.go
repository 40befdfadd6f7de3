// Package atomicfile publishes files whole. A file is written under a
// hidden temporary name in the directory of its final name (so that
// publishing it is one step on one filesystem), fsynced and closed, then
// given its final name — a rename that replaces what was there
// (Replace), or a hard link that never does (Link, then Unlink of the
// temporary name) — and the directory fsynced, so that the name, after a
// crash too, holds the old file or the new one, whole, never a part.
//
// It is the one sequence for store's capture files, index's sidecars and
// the sink's journal. It sits below all three (store and index both use
// it, and index imports store, so it cannot live in index; it knows
// nothing of captures, so it does not belong to store's API either).
//
// It owns the temporary names WriteFile makes (.<name>.<8 hex
// digits>.tmp) and removes them only when asked (RemoveTemps); it never
// decides which files to keep. Its callers name their own temporary
// files for Create.
package atomicfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Create creates tmp for writing; it fails if tmp exists (fs.ErrExist).
func Create(tmp string) (*os.File, error) {
	return os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
}

// Replace renames the fsynced file tmp over path and fsyncs path's
// directory.
func Replace(tmp, path string) error {
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// Link gives the fsynced file tmp the name path as well, never replacing
// anything: an error matching fs.ErrExist if path names another file. A
// path that is tmp's own link already (a crash between a Link and its
// Unlink) counts as linked. Unlink completes it.
func Link(tmp, path string) error {
	err := os.Link(tmp, path)
	if errors.Is(err, fs.ErrExist) && sameFile(tmp, path) {
		return nil
	}
	return err
}

func sameFile(a, b string) bool {
	fa, err := os.Lstat(a)
	if err != nil {
		return false
	}
	fb, err := os.Lstat(b)
	return err == nil && os.SameFile(fa, fb)
}

// Unlink removes the temporary name tmp (after Link, or to drop the
// file) and fsyncs its directory, even if the removal failed; it returns
// the first error.
func Unlink(tmp string) error {
	err := os.Remove(tmp)
	if serr := SyncDir(filepath.Dir(tmp)); err == nil {
		err = serr
	}
	return err
}

// SyncDir makes a directory's entries (links, renames, removals) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// MkdirAll creates dir and its missing parents, fsyncing the parent of
// each directory it creates.
func MkdirAll(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s: not a directory", dir)
		}
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := MkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return err
	}
	return SyncDir(filepath.Dir(dir))
}

// WriteFile's temporary names: .<name>.<tagLen hex digits>.tmp beside
// path (for a hidden name .<name>, the same without a second dot).
const (
	tempSuffix = ".tmp"
	tagLen     = 8
)

// WriteFile writes data to path whole: through a temporary file beside
// it (Create), fsynced, renamed over path, the directory fsynced
// (Replace). After a crash path is the old file or the new one, and a
// temporary file may be left: RemoveTemps removes it.
func WriteFile(path string, data []byte) error {
	dir, name := filepath.Split(path)
	var tag [tagLen / 2]byte
	rand.Read(tag[:])
	if !strings.HasPrefix(name, ".") {
		name = "." + name
	}
	tmp := filepath.Join(dir, name+"."+hex.EncodeToString(tag[:])+tempSuffix)
	f, err := Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = Replace(tmp, path)
	}
	if err != nil {
		os.Remove(tmp) // gone already if renamed
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// TempOf returns the hidden name (.<name>) a temporary name of
// WriteFile's stands for, and whether name is one.
func TempOf(name string) (string, bool) {
	s, ok := strings.CutSuffix(name, tempSuffix)
	if !ok || !strings.HasPrefix(s, ".") || len(s) < tagLen+1 || s[len(s)-tagLen-1] != '.' {
		return "", false
	}
	for _, c := range []byte(s[len(s)-tagLen:]) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", false
		}
	}
	return s[:len(s)-tagLen-1], true
}

// RemoveTemps removes the temporary files a crash left from WriteFile
// writing path. Run it when nothing writes path.
func RemoveTemps(path string) error {
	dir, name := filepath.Split(path)
	if !strings.HasPrefix(name, ".") {
		name = "." + name
	}
	found, err := filepath.Glob(filepath.Join(dir, name+".*"+tempSuffix))
	if err != nil {
		return fmt.Errorf("remove temporary files of %s: %w", path, err)
	}
	var errs []error
	for _, p := range found {
		if base, ok := TempOf(filepath.Base(p)); !ok || base != name {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
