package sink

import (
	"fmt"

	"github.com/fastcapa-go/fastcapa/index"
	"github.com/fastcapa-go/fastcapa/store"
)

// A local target writes a sidecar index beside each finalized file
// (package index: .<name>.idx), so that pcapstore query opens only the
// files that can match. The builder sees each packet as the file stores
// it; the sidecar is written after the file is final. A sidecar that
// cannot be written is counted and logged, never a reason to hold back a
// commit: queries then scan that file whole.

// saveIndex writes the sidecar of a file output o just finalized, and
// starts o's builder afresh.
func (s *Sink) saveIndex(o *output, f store.Finalized) {
	ix := o.ix.Index()
	n := o.ix.Packets()
	o.ix.Reset()
	var err error
	if n != f.Packets {
		err = fmt.Errorf("indexed %d packets of its %d", n, f.Packets)
	} else {
		ix.First, ix.Last = f.First, f.Last // the stored times
		err = ix.Save(f.Path)
	}
	if err != nil {
		o.t.indexErrors.Add(1)
		s.log.Warn("no index for a finalized file: queries will scan it whole", "target", o.t.spec.Name,
			"path", f.Path, "error", err)
	}
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
