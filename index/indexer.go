package index

import (
	"fmt"

	"github.com/fastcapa-go/fastcapa/store"
)

// Indexer is a store.Observer (store.Writer.Observe) that writes the
// sidecar index of each file the Writer publishes, built from the
// records exactly as the Writer stored them (times at the file's
// precision, data cut to its snapshot length), when the file is
// published. Failed, if set, is called when a sidecar cannot be written:
// queries then scan that file whole. The zero Indexer is ready; one
// serves one Writer.
type Indexer struct {
	Failed func(capture string, err error)
	b      Builder
}

var _ store.Observer = (*Indexer)(nil)

// Stored adds a stored record (an Ethernet frame) to the open file's
// index.
func (x *Indexer) Stored(tsNanos int64, data []byte, _ uint32) { x.b.Add(tsNanos, data) }

// Published saves the index of f and starts the next file's afresh.
func (x *Indexer) Published(f store.Finalized) {
	ix, n := x.b.Index(), x.b.Packets()
	x.b.Reset()
	var err error
	if n != f.Packets {
		err = fmt.Errorf("indexed %d packets of its %d", n, f.Packets)
	} else {
		err = ix.Save(f.Path)
	}
	if err != nil && x.Failed != nil {
		x.Failed(f.Path, err)
	}
}

// Dropped forgets the open file's records.
func (x *Indexer) Dropped() { x.b.Reset() }
