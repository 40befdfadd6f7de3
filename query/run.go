package query

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fastcapa-go/fastcapa/pcap"
)

// progressCounters are the counters Progress reads while Run works: each
// updated once per read buffer, file, batch or thousand records, not per
// record.
type progressCounters struct {
	bytes     atomic.Int64
	filesDone atomic.Int64
	matched   atomic.Int64
}

// Run runs the query and calls emit with each matching record, one at a
// time from the calling goroutine. The record's Data is valid only until
// emit returns. An error from emit stops the query and is returned.
//
// Order: Run sorts the captures by their first record's time, ties by
// the order Paths lists them and directories in lexical order, and emits
// exactly what
//
//	mergecap -w - FILES | tcpdump -r - -w - FILTER
//
// writes, with FILES in reverse of Run's order (mergecap gives a tie to
// the file named last), and each file read as tcpdump -r reads it
// (package pcap's read rule). So when every file is in time order, as
// capture files are, the output is in time order; a file whose records
// go back in time keeps its own order and makes Stats.OutOfOrder. Memory
// is bounded by the files that overlap in time, never by the result
// size (docs/ARCHITECTURE.md, "Merge order and memory", says how).
//
// Errors: a Spec that is invalid (ErrSpec, or filter's errors), a path
// that does not exist, paths without any capture (ErrNoCaptures), emit's
// error, the context's error, or, once every other file was searched,
// ErrIncomplete when some captures could not be read whole (Stats.Failed
// and Stats.Truncated). Stats is filled in every case.
func Run(ctx context.Context, spec Spec, emit func(pcap.Record) error) (Stats, error) {
	return run(ctx, spec, emit, nil)
}

// RunTo is Run(ctx, spec, out.Write), faster for an Output of one
// capture: the readers format each record as out writes it, and the
// merge writes runs of them at once (out.Write takes records one by
// one, each on the merge's one goroutine). The bytes written are the
// same. Pages are written record by record, as Run does.
func RunTo(ctx context.Context, spec Spec, out *Output) (Stats, error) {
	enc, ok := out.encoder()
	if !ok {
		return Run(ctx, spec, out.Write)
	}
	return run(ctx, spec, nil, &encodedOut{enc: enc, write: out.writeEncoded})
}

// encodedOut is where the merge writes runs of encoded records.
type encodedOut struct {
	enc   pcap.Encoder
	write func([]byte) error
}

func run(ctx context.Context, spec Spec, emit func(pcap.Record) error, raw *encodedOut) (Stats, error) {
	var st Stats
	c, err := spec.compile()
	if err != nil {
		return st, err
	}
	files, err := walk(spec.Paths, spec.Exclude, &st)
	if err != nil {
		return st, err
	}
	for _, src := range spec.Sources {
		files = append(files, &file{Found: src, err: src.Err})
	}
	probeAll(files, c.workers, spec.Prune)
	var todo []*file
	var total int64
	for _, f := range files {
		switch {
		case f.skip != "":
			st.Skipped = append(st.Skipped, Skip{f.Path, f.skip})
			continue
		case f.pruned:
			st.Pruned++
		case f.err != nil:
			st.Scanned++
			st.fileError(f, f.err)
		case f.empty:
			st.Scanned++
			st.Empty++
		default:
			todo = append(todo, f)
			total += f.Size
		}
		st.Captures++
	}
	if st.Captures == 0 {
		return st, fmt.Errorf("%w in %s", ErrNoCaptures, strings.Join(spec.Paths, ", "))
	}
	slices.SortStableFunc(todo, func(a, b *file) int { return cmp.Compare(a.first, b.first) })
	for i, f := range todo {
		f.order = i
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var pc progressCounters
	s := newScanner(ctx, c, &spec, todo, &pc)
	if raw != nil {
		s.enc = &raw.enc
	}
	if spec.Progress != nil {
		stop := reportProgress(spec.Progress, c.every, len(todo), total, &pc)
		defer stop()
	}

	m := merger{s: s, st: &st, todo: todo, ahead: 2 * c.workers, emit: emit, raw: raw, spec: &spec, pc: &pc}
	runErr := m.run()
	cancel()
	s.wg.Wait()
	m.finish()
	if runErr != nil {
		return st, runErr
	}
	if n := len(st.Failed) + len(st.Truncated); n > 0 {
		return st, fmt.Errorf("%w: %d of %d", ErrIncomplete, n, st.Captures)
	}
	return st, nil
}

// fileError records a capture's failure: cut short at its end, or any
// other.
func (st *Stats) fileError(f *file, err error) {
	if truncated(err) {
		st.Truncated = append(st.Truncated, FileError{f.Path, err})
	} else {
		st.Failed = append(st.Failed, FileError{f.Path, err})
	}
}

// reportProgress calls fn every period until the returned stop is called.
func reportProgress(fn func(Progress), every time.Duration, files int, total int64, pc *progressCounters) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fn(Progress{Files: files, FilesDone: int(pc.filesDone.Load()), Bytes: total, BytesDone: pc.bytes.Load(), Matched: pc.matched.Load()})
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// cursor is the merger's place in one file: the batch it holds and the
// next record in it.
type cursor struct {
	f *file
	b *batch
	i int
}

func (c *cursor) key() int64 { return c.b.items[c.i].key }

// merger emits the files' matches in merge order.
type merger struct {
	s        *scanner
	st       *Stats
	spec     *Spec
	pc       *progressCounters
	emit     func(pcap.Record) error
	raw      *encodedOut // instead of emit: runs of encoded records
	todo     []*file     // in merge order
	next     int         // todo[next] is the next file to add to the heap
	launched int         // todo[:launched] have readers
	ahead    int         // readers started beyond the next file
	heap     []*cursor   // min-heap by (key, file order)
}

// less orders cursors by key, then by file order.
func (m *merger) less(a, b *cursor) bool {
	ka, kb := a.key(), b.key()
	return ka < kb || ka == kb && a.f.order < b.f.order
}

func (m *merger) down(i int) {
	h := m.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		j := l
		if r := l + 1; r < len(h) && m.less(h[r], h[l]) {
			j = r
		}
		if !m.less(h[j], h[i]) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

func (m *merger) push(c *cursor) {
	m.heap = append(m.heap, c)
	for i := len(m.heap) - 1; i > 0; {
		p := (i - 1) / 2
		if !m.less(m.heap[i], m.heap[p]) {
			break
		}
		m.heap[i], m.heap[p] = m.heap[p], m.heap[i]
		i = p
	}
}

func (m *merger) popTop() {
	n := len(m.heap) - 1
	m.heap[0] = m.heap[n]
	m.heap[n] = nil
	m.heap = m.heap[:n]
	m.down(0)
}

// recv returns f's next batch with records, nil at its end. Errors sent
// alone are recorded on the way.
func (m *merger) recv(f *file) (*batch, error) {
	for {
		select {
		case b, ok := <-f.ch:
			if !ok {
				return nil, nil
			}
			m.pc.matched.Store(m.st.Matched)
			m.s.took(b)
			if len(b.items) > 0 {
				return b, nil
			}
			m.st.fileError(f, b.err)
			m.s.putBatch(b)
		case <-m.s.ctx.Done():
			return nil, m.s.ctx.Err()
		}
	}
}

// run merges until every file is done, a limit is reached, or an error.
func (m *merger) run() error {
	st := m.st
	var last int64 = math.MinInt64
	for {
		// Add every file whose first record is placed before the next
		// record to emit. Files under way come first on a tie: they are
		// earlier in the order.
		for m.next < len(m.todo) && (len(m.heap) == 0 || m.todo[m.next].first < m.heap[0].key()) {
			for m.launched < min(len(m.todo), m.next+1+m.ahead) {
				m.s.launch(m.todo[m.launched])
				m.launched++
			}
			f := m.todo[m.next]
			m.next++
			m.s.reached(m.next)
			b, err := m.recv(f)
			if err != nil {
				return err
			}
			if b != nil {
				m.push(&cursor{f: f, b: b})
				m.s.limit.Store(batchLimit(len(m.heap) + m.ahead))
			}
		}
		if len(m.heap) == 0 {
			return nil
		}
		cur := m.heap[0]
		if m.raw != nil {
			done, err := m.writeRun(cur, &last)
			if err != nil || done {
				return err
			}
		} else if done, err := m.emitOne(cur, &last); err != nil || done {
			return err
		}
		if cur.i == len(cur.b.items) {
			if cur.b.err != nil {
				st.fileError(cur.f, cur.b.err)
			}
			m.s.putBatch(cur.b)
			cur.b = nil
			b, err := m.recv(cur.f)
			if err != nil {
				return err
			}
			if b == nil {
				m.popTop()
				continue
			}
			cur.b, cur.i = b, 0
		}
		m.down(0)
	}
}

// emitOne emits the record at cur, unless a limit stops the merge
// (done).
func (m *merger) emitOne(cur *cursor, last *int64) (done bool, err error) {
	st, spec := m.st, m.spec
	it := cur.b.items[cur.i]
	if spec.MaxPackets > 0 && st.Matched >= spec.MaxPackets || spec.MaxBytes > 0 && st.MatchedBytes+int64(it.n) > spec.MaxBytes {
		st.Limited = true
		return true, nil
	}
	end := it.off + it.n
	if err := m.emit(pcap.Record{Timestamp: it.ts, OrigLen: it.orig, Data: cur.b.data[it.off:end:end], LinkType: pcap.LinkTypeEthernet}); err != nil {
		return true, err
	}
	st.Matched++
	st.MatchedBytes += int64(it.n)
	if it.ts < *last {
		st.OutOfOrder++
	}
	*last = it.ts
	if st.Matched&1023 == 0 {
		m.pc.matched.Store(st.Matched)
	}
	if spec.MaxPackets > 0 && st.Matched == spec.MaxPackets {
		// Stop here rather than wait for a record that would not be
		// emitted anyway.
		st.Limited = true
		return true, nil
	}
	cur.i++
	return false, nil
}

// writeRun writes, at once, the records of cur's batch that come before
// any other file's next record in merge order, and before the next file
// joins the merge (the whole batch when files do not overlap in time),
// each counted as emitOne counts it, and stops at a limit as emitOne
// does (done).
func (m *merger) writeRun(cur *cursor, last *int64) (done bool, err error) {
	st, spec := m.st, m.spec
	// The cursor that comes next in the heap: cur's records run until
	// one would sort after it.
	nextKey, nextOrder := int64(math.MaxInt64), math.MaxInt
	if len(m.heap) > 1 {
		nx := m.heap[1]
		if len(m.heap) > 2 && m.less(m.heap[2], nx) {
			nx = m.heap[2]
		}
		nextKey, nextOrder = nx.key(), nx.f.order
	}
	// A file not yet in the heap joins it before a record whose key is
	// after its first record (run's rule).
	pending := int64(math.MaxInt64)
	if m.next < len(m.todo) {
		pending = m.todo[m.next].first
	}
	items, from, j := cur.b.items, cur.i, cur.i
	for ; j < len(items); j++ {
		it := &items[j]
		if j > from && (it.key > nextKey || it.key == nextKey && cur.f.order > nextOrder || it.key > pending) {
			break
		}
		if spec.MaxPackets > 0 && st.Matched >= spec.MaxPackets || spec.MaxBytes > 0 && st.MatchedBytes+int64(it.n) > spec.MaxBytes {
			st.Limited, done = true, true
			break
		}
		st.Matched++
		st.MatchedBytes += int64(it.n)
		if it.ts < *last {
			st.OutOfOrder++
		}
		*last = it.ts
		if spec.MaxPackets > 0 && st.Matched == spec.MaxPackets {
			st.Limited, done = true, true
			j++
			break
		}
	}
	if j > from {
		if err := m.raw.write(cur.b.data[items[from].enc:cur.b.encodedEnd(j-1)]); err != nil {
			return true, err
		}
	}
	m.pc.matched.Store(st.Matched)
	cur.i = j
	return done, nil
}

// finish accounts for every file once the readers are gone. A file's
// error the merge did not reach (it stopped early: a limit, an error) is
// left out: it lies after every record emitted in merge order, as the
// unread rest of the files does, so the records emitted are complete up
// to where the query stopped.
func (m *merger) finish() {
	st := m.st
	for _, f := range m.todo[:m.launched] {
		for b := range f.ch {
			m.s.putBatch(b)
		}
		st.Packets += f.packets
		st.OtherLinkType += f.otherLinkType
		if f.complete {
			st.Scanned++
		} else {
			st.Unread++
		}
	}
	st.Unread += len(m.todo) - m.launched
	st.FileBytes = m.pc.bytes.Load()
	m.pc.matched.Store(st.Matched)
}
