package query

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/fastcapa-go/fastcapa/pcap"
)

// Batching: a file's reader hands the merger its matches in batches of
// at most batchRecords records or about the scanner's batch limit in
// captured bytes, and holds a CPU token for at most chunkRecords records
// at a time.
const (
	batchRecords = 1024
	chunkRecords = 4096
	// fileQueue is how many batches a file's reader may always have
	// ready beyond the one the merger holds and the one it fills.
	fileQueue = 2
	// Beyond those, the readers of the next files the merger has not
	// reached may queue up to aheadBatches more each, while the batches
	// queued so hold less than readAhead bytes a worker after the first,
	// and maxReadAhead in all (scanner.send says which readers).
	aheadBatches = 64
	maxReadAhead = 64 << 20
	// The batch limit is batchBudget shared by the batches of the files
	// under way, between minBatch and maxBatch: 256 KiB a batch while a
	// few dozen files overlap in time, less when hundreds do.
	batchBudget = 64 << 20
	minBatch    = 16 << 10
	maxBatch    = 256 << 10
)

// readAhead is the read-ahead budget a worker after the first adds, up to
// maxReadAhead: about a file of the benchmark store (22 MiB), which is what
// it takes for the next file's reader to keep a second CPU busy while
// this one is read (docs/BENCHMARKS.md). A variable for tests.
var readAhead int64 = 24 << 20

// batchLimit is the bytes a batch may hold when files readers are under
// way.
func batchLimit(files int) int64 {
	return min(max(batchBudget/int64(max(files, 1)*(fileQueue+2)), minBatch), maxBatch)
}

// item is one matched record in a batch; its bytes are data[off:off+n].
// When the scanner encodes (scanner.enc), the record as the output
// writes it, header and all, starts at data[enc].
type item struct {
	ts   int64  // the record's timestamp
	key  int64  // merge key: the greatest timestamp in the file so far
	orig uint32 // length on the wire
	off  int32
	n    int32
	enc  int32
}

// batch is some of one file's matches, in file order. err, on a file's
// last batch, is why the file ended early (after items).
type batch struct {
	items []item
	data  []byte
	err   error
	ahead int64 // bytes taken from the read-ahead budget (scanner.ahead)
}

var batchPool = sync.Pool{New: func() any {
	return &batch{items: make([]item, 0, batchRecords), data: make([]byte, 0, minBatch)}
}}

// maxRecordGuess is room a batch keeps beyond its limit for the record
// that passes it (a longer one grows it).
const maxRecordGuess = 16 << 10

// freeBatches is how many empty batches a query keeps for its readers
// (scanner.free): with reading ahead, many batches are under way at
// once, and memory the query has touched already is cheaper to fill
// than new memory (which a garbage collection may hand back from the
// pool to the system between two batches).
const freeBatches = 32

// getBatch is an empty batch: one the query used before, else the
// pool's.
func (s *scanner) getBatch() *batch {
	select {
	case b := <-s.free:
		return b
	default:
		return batchPool.Get().(*batch)
	}
}

// putBatch gives an emptied batch back to the query, else the pool.
func (s *scanner) putBatch(b *batch) {
	if cap(b.data) > 2*maxBatch+maxRecordGuess {
		return // grown by a jumbo record: let it go
	}
	b.items, b.data, b.err, b.ahead = b.items[:0], b.data[:0], nil, 0
	select {
	case s.free <- b:
	default:
		batchPool.Put(b)
	}
}

func (b *batch) full(limit int64) bool {
	return len(b.items) == batchRecords || int64(len(b.data)) >= limit
}

func (b *batch) add(rec pcap.Record, key int64) {
	b.items = append(b.items, item{ts: rec.Timestamp, key: key, orig: rec.OrigLen, off: int32(len(b.data)), n: int32(len(rec.Data))})
	b.data = append(b.data, rec.Data...)
}

// addEncoded adds rec as enc writes it: the merge then writes runs of
// records without touching each.
func (b *batch) addEncoded(rec pcap.Record, key int64, enc *pcap.Encoder) {
	start := int32(len(b.data))
	b.data = enc.AppendRecord(b.data, rec)
	b.items = append(b.items, item{ts: rec.Timestamp, key: key, orig: rec.OrigLen,
		off: start + pcap.RecordHeaderLen, n: int32(len(rec.Data)), enc: start})
}

// encodedEnd is where the encoded record items[i] ends.
func (b *batch) encodedEnd(i int) int32 {
	if i+1 < len(b.items) {
		return b.items[i+1].enc
	}
	return int32(len(b.data))
}

// scanner is what the readers of one query share.
type scanner struct {
	ctx    context.Context
	c      *compiled
	spec   *Spec
	tokens chan struct{} // CPU tokens: Workers of them
	wg     sync.WaitGroup
	read   *progressCounters
	limit  atomic.Int64  // batch limit (batchLimit), set by the merger
	enc    *pcap.Encoder // if set, batches hold records encoded (addEncoded)
	free   chan *batch   // empty batches (getBatch, putBatch)

	// The read-ahead budget: bytes of the batches queued beyond
	// fileQueue, across files. A reader that may not queue waits on room,
	// which the merger signals each time it takes a batch or reaches
	// another file, and a reader when it ends.
	mu         sync.Mutex
	room       sync.Cond
	ahead      int64   // bytes queued beyond fileQueue
	aheadMax   int64   // what ahead may reach
	aheadFiles int     // how many files may read ahead at once
	files      []*file // the files in merge order
	next       int     // files[next] is the first the merger has not reached
}

// newScanner is a scanner for workers readers at a time, until ctx ends.
func newScanner(ctx context.Context, c *compiled, spec *Spec, files []*file, read *progressCounters) *scanner {
	s := &scanner{ctx: ctx, c: c, spec: spec, tokens: make(chan struct{}, c.workers), read: read,
		free: make(chan *batch, freeBatches), files: files, aheadFiles: c.workers - 1,
		aheadMax: min(int64(c.workers-1)*readAhead, maxReadAhead)}
	s.room.L = &s.mu
	s.limit.Store(maxBatch)
	context.AfterFunc(ctx, func() { s.took(nil) })
	return s
}

// match reports whether a record is one the query wants. The file's
// counters are its reader's own.
func (s *scanner) match(f *file, rec *pcap.Record) bool {
	if rec.LinkType != pcap.LinkTypeEthernet {
		f.otherLinkType++
		return false
	}
	if rec.Timestamp < s.c.start || rec.Timestamp > s.c.end {
		return false
	}
	if s.c.filter != nil && !s.c.filter.Match(rec.Data, rec.OrigLen) {
		return false
	}
	return s.spec.Payload == nil || s.spec.Payload.Match(rec.Data)
}

// launch starts f's reader.
func (s *scanner) launch(f *file) {
	f.ch = make(chan *batch, fileQueue+aheadBatches)
	s.wg.Add(1)
	go s.scan(f)
}

// scan reads f and sends its matches on f.ch, which it closes at the end
// of the file, at an error (sent as the last batch's err) or when the
// query is cancelled. It holds a CPU token only while it reads and
// matches, never while it waits to send, so the merger, which may be
// waiting for any file, can always be served: a reader waiting for a
// token waits only for readers that are working.
func (s *scanner) scan(f *file) {
	defer s.wg.Done()
	defer s.ended(f)
	defer close(f.ch)
	defer s.read.filesDone.Add(1)
	c, fd, err := openCapture(s.ctx, f.Found, &s.read.bytes)
	if err != nil {
		if err == ErrNotCapture { // changed since the probe
			err = pcap.ErrFormat
		}
		f.complete = true
		s.send(f, &batch{err: err})
		return
	}
	defer fd.Close()
	defer c.Close()
	key := f.first
	// A stream (another server's answer) waits on the network, not on
	// this machine's CPUs: it takes no token, so it never keeps a local
	// file from being read.
	tokens := s.tokens
	if f.Stream {
		tokens = nil
	}
	for {
		if tokens != nil {
			select {
			case tokens <- struct{}{}:
			case <-s.ctx.Done():
				return
			}
		}
		b := s.getBatch()
		limit := s.limit.Load()
		if int64(cap(b.data)) < limit+maxRecordGuess {
			// Room for the whole batch at once: growing it record by
			// record copies it over and over.
			b.data = make([]byte, 0, limit+maxRecordGuess)
		}
		var end bool
		for range chunkRecords {
			rec, err := c.Next()
			if err != nil {
				if err != io.EOF {
					b.err = err
				}
				end = true
				break
			}
			f.packets++
			key = max(key, rec.Timestamp)
			if s.match(f, &rec) {
				if s.enc != nil {
					b.addEncoded(rec, key, s.enc)
				} else {
					b.add(rec, key)
				}
				if b.full(limit) {
					break
				}
			}
		}
		if tokens != nil {
			<-tokens
		}
		f.complete = end
		if len(b.items) == 0 && b.err == nil {
			s.putBatch(b)
		} else if !s.send(f, b) {
			return
		}
		if end {
			return
		}
	}
}

// send hands b to the merger, unless the query is cancelled: at once
// while f has fewer than fileQueue batches queued, else once f may read
// ahead (mayReadAhead) and the batch fits in the budget, or the merger
// has taken enough of f's batches. A reader whose file the merger waits
// for has none queued, so it never waits here.
func (s *scanner) send(f *file, b *batch) bool {
	if len(f.ch) >= fileQueue { // only this reader sends: len only shrinks
		size := int64(cap(b.data)) + int64(cap(b.items))*int64(unsafe.Sizeof(item{}))
		s.mu.Lock()
		for len(f.ch) >= fileQueue && !(len(f.ch) < cap(f.ch) && s.ahead+size <= s.aheadMax && s.mayReadAhead(f)) {
			if s.ctx.Err() != nil {
				s.mu.Unlock()
				s.putBatch(b)
				return false
			}
			s.room.Wait()
		}
		if len(f.ch) >= fileQueue {
			b.ahead = size
			s.ahead += size
		}
		s.mu.Unlock()
	}
	select {
	case f.ch <- b:
		return true
	case <-s.ctx.Done():
		s.putBatch(b)
		return false
	}
}

// mayReadAhead reports whether f's reader may take from the read-ahead
// budget: f is one of the first aheadFiles files the merger has not
// reached whose readers have not ended. Files the merger holds do not
// read ahead: it takes their batches as it needs them, and a later file
// read ahead would hold the budget the next one needs. The caller holds
// s.mu.
func (s *scanner) mayReadAhead(f *file) bool {
	if f.order < s.next {
		return false
	}
	reading := 0
	for _, g := range s.files[s.next:f.order] {
		if !g.ended {
			reading++
		}
	}
	return reading < s.aheadFiles
}

// reached tells the readers the merger reached files[next].
func (s *scanner) reached(next int) {
	s.mu.Lock()
	s.next = next
	s.mu.Unlock()
	s.room.Broadcast()
}

// ended tells the readers f's reader has ended.
func (s *scanner) ended(f *file) {
	s.mu.Lock()
	f.ended = true
	s.mu.Unlock()
	s.room.Broadcast()
}

// took tells the readers the merger took b from its file's queue: the
// budget it held is free, and its reader may queue another. It wakes
// them at the query's end too (took(nil)).
func (s *scanner) took(b *batch) {
	s.mu.Lock()
	if b != nil {
		s.ahead -= b.ahead
		b.ahead = 0
	}
	s.mu.Unlock()
	s.room.Broadcast()
}
