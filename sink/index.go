package sink

import (
	"github.com/fastcapa-go/fastcapa/index"
	"github.com/fastcapa-go/fastcapa/store"
)

// A local target writes a sidecar index beside each finalized file
// (package index: .<name>.idx), so that pcapstore query opens only the
// files that can match. Each output's store.Writer is observed by an
// index.Indexer, which sees each packet as the file stores it and writes
// the sidecar when the file is published. A sidecar that cannot be
// written is counted and logged, never a reason to hold back a commit:
// queries then scan that file whole.

// indexer is the observer of a local target's writer.
func (s *Sink) indexer(t *target) *index.Indexer {
	return &index.Indexer{Failed: func(path string, err error) {
		t.indexErrors.Add(1)
		s.log.Warn("no index for a finalized file: queries will scan it whole", "target", t.spec.Name,
			"path", path, "error", err)
	}}
}

// indexRecovered removes sidecars whose capture is gone and indexes the
// files Recover published.
func (s *Sink) indexRecovered(t *target, recovered []store.Finalized) {
	if _, err := index.Clean(t.spec.Store.Dir); err != nil {
		s.log.Warn("cleaning index sidecars", "target", t.spec.Name, "error", err)
	}
	for _, f := range recovered {
		ix, err := index.BuildFile(f.Path)
		if err == nil {
			err = ix.Save(f.Path)
		}
		if err != nil {
			t.indexErrors.Add(1)
			s.log.Warn("no index for a recovered file", "target", t.spec.Name, "path", f.Path, "error", err)
		}
	}
}
