package store

import (
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/fastcapa-go/fastcapa/internal/atomicfile"
)

// Kind is what an entry of a store directory is, by its name and type:
// the one rule for which files are finished captures, for recovery,
// retention, index cleaning, a sink's upload spool, queries and
// pcapstore index.
type Kind uint8

const (
	// Other is a visible entry that is neither a regular file, a
	// symbolic link nor a directory (a FIFO, a socket, a device).
	Other Kind = iota
	// Capture is a finished capture: a visible regular file that is not
	// a Sidecar or a DeadLetter. A Writer publishes only such names.
	Capture
	// Link is a visible symbolic link (not to be confused with a
	// Writer's hard link): no Writer makes one, so it is never a
	// finished capture of the store; a query follows it.
	Link
	// Temp is a Writer's temporary file, .<base>.<tag>.inprogress or
	// .<base>.<tag>.pipe.inprogress (Piped); Of is <base>, the final
	// name ({end} unresolved) it will be published as.
	Temp
	// Rewrite is Recover's unfinished rewrite of a Temp,
	// .<base>.<tag>.recovering.
	Rewrite
	// AtomicTemp is a temporary file of atomicfile.WriteFile (a sidecar's
	// or the sink's journal's), .<name>.<8 hex digits>.tmp; Of is the
	// hidden name .<name> it replaces.
	AtomicTemp
	// Sidecar is an index sidecar: .<capture>.idx, Of the capture's name
	// (SidecarPath), or any other name ending in .idx (Of empty).
	Sidecar
	// DeadLetter is a dead-letter file: a visible name ending in .jsonl.
	DeadLetter
	// Hidden is any other hidden entry that is not a directory (the
	// sink's journal .pcapstore-offsets.json).
	Hidden
	// HiddenDir is a hidden directory: Walk does not enter it. No Writer
	// makes one (a Template's elements are visible names).
	HiddenDir
	// Dir is a visible directory: Walk enters it.
	Dir
)

var kindNames = [...]string{Other: "other", Capture: "capture", Link: "link", Temp: "temporary file",
	Rewrite: "unfinished rewrite", AtomicTemp: "temporary file", Sidecar: "sidecar index",
	DeadLetter: "dead letter", Hidden: "hidden file", HiddenDir: "hidden directory", Dir: "directory"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Entry is one entry under a walked directory.
type Entry struct {
	Path string      // the walked directory joined with the entry's path
	Kind Kind        // by the entry's name and type (Classify)
	Type fs.FileMode // the entry's type bits (fs.DirEntry.Type): not followed
	// Of is what a Temp, AtomicTemp or Sidecar stands for (see each).
	Of    string
	Piped bool // a Temp written through PipeCmd
	// Err is set for an entry that could not be read: a directory that
	// cannot be listed (its entries are not walked). Kind and Type are
	// then those of the entry itself.
	Err error
}

// Classify says what an entry named name of type typ (fs.FileMode's
// type bits) is. Names are the rule: a hidden name is never a capture,
// and a directory's kind depends on its name alone.
func Classify(name string, typ fs.FileMode) Entry {
	e := Entry{Type: typ}
	hidden := strings.HasPrefix(name, ".")
	switch {
	case typ.IsDir() && hidden:
		e.Kind = HiddenDir
	case typ.IsDir():
		e.Kind = Dir
	case strings.HasSuffix(name, sidecarSuffix):
		e.Kind = Sidecar
		e.Of, _ = captureOf(name)
	case hidden:
		e.Kind = Hidden
		if base, piped, ok := parseTempName(name); ok {
			e.Kind, e.Of, e.Piped = Temp, base, piped
		} else if parseRecoverName(name) {
			e.Kind = Rewrite
		} else if of, ok := atomicfile.TempOf(name); ok {
			e.Kind, e.Of = AtomicTemp, of
		}
	case strings.HasSuffix(name, deadLetterSuffix):
		e.Kind = DeadLetter
	case typ.IsRegular():
		e.Kind = Capture
	case typ&fs.ModeSymlink != 0:
		e.Kind = Link
	default:
		e.Kind = Other
	}
	return e
}

// deadLetterSuffix ends a dead-letter file's name (the sink's
// deadletter.jsonl, one JSON object a line).
const deadLetterSuffix = ".jsonl"

// Sidecars. The index of <dir>/<name> is <dir>/.<name>.idx (package
// index writes it): hidden, so that nothing that looks for captures takes
// it for one, and named after its capture, so that it is found without a
// catalogue.
const sidecarSuffix = ".idx"

// SidecarPath is the path of the sidecar index of the capture at path.
func SidecarPath(capture string) string {
	dir, name := filepath.Split(capture)
	return filepath.Join(dir, "."+name+sidecarSuffix)
}

// captureOf returns the capture name a sidecar name stands for.
func captureOf(name string) (string, bool) {
	if len(name) <= 1+len(sidecarSuffix) || name[0] != '.' || !strings.HasSuffix(name, sidecarSuffix) {
		return "", false
	}
	c := name[1 : len(name)-len(sidecarSuffix)]
	if c == "" || strings.HasPrefix(c, ".") {
		return "", false
	}
	return c, true
}

// Walk calls fn with each entry under dir (dir itself aside), each
// directory's entries in lexical order, classified by Classify. It
// enters visible directories (Dir, not passed to fn) and never hidden
// ones (HiddenDir, passed to fn, not entered), nor follows links. An
// entry that cannot be read is passed with Err set, and the walk goes
// on unless fn returns an error. Walk returns fn's error, or dir's own
// (missing, or not listable).
func Walk(dir string, fn func(Entry) error) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if p == dir {
			return err
		}
		e := Classify(d.Name(), d.Type())
		e.Path, e.Err = p, err
		switch {
		case err != nil:
			return fn(e)
		case e.Kind == Dir:
			return nil
		case e.Kind == HiddenDir:
			if err := fn(e); err != nil {
				return err
			}
			return fs.SkipDir
		}
		return fn(e)
	})
}
