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
	s := &scanner{ctx: ctx, c: c, spec: &spec, tokens: make(chan struct{}, c.workers), read: &pc}
	s.limit.Store(maxBatch)
	if spec.Progress != nil {
		stop := reportProgress(spec.Progress, c.every, len(todo), total, &pc)
		defer stop()
	}

	m := merger{s: s, st: &st, todo: todo, ahead: 2 * c.workers, emit: emit, spec: &spec, pc: &pc}
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
	todo     []*file   // in merge order
	next     int       // todo[next] is the next file to add to the heap
	launched int       // todo[:launched] have readers
	ahead    int       // readers started beyond the next file
	heap     []*cursor // min-heap by (key, file order)
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
			if len(b.items) > 0 {
				return b, nil
			}
			m.st.fileError(f, b.err)
			putBatch(b)
		case <-m.s.ctx.Done():
			return nil, m.s.ctx.Err()
		}
	}
}

// run merges until every file is done, a limit is reached, or an error.
func (m *merger) run() error {
	st, spec := m.st, m.spec
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
		it := cur.b.items[cur.i]
		if spec.MaxPackets > 0 && st.Matched >= spec.MaxPackets || spec.MaxBytes > 0 && st.MatchedBytes+int64(it.n) > spec.MaxBytes {
			st.Limited = true
			return nil
		}
		end := it.off + it.n
		if err := m.emit(pcap.Record{Timestamp: it.ts, OrigLen: it.orig, Data: cur.b.data[it.off:end:end], LinkType: pcap.LinkTypeEthernet}); err != nil {
			return err
		}
		st.Matched++
		st.MatchedBytes += int64(it.n)
		if it.ts < last {
			st.OutOfOrder++
		}
		last = it.ts
		if st.Matched&1023 == 0 {
			m.pc.matched.Store(st.Matched)
		}
		if spec.MaxPackets > 0 && st.Matched == spec.MaxPackets {
			// Stop here rather than wait for a record that would not
			// be emitted anyway.
			st.Limited = true
			return nil
		}
		cur.i++
		if cur.i == len(cur.b.items) {
			if cur.b.err != nil {
				st.fileError(cur.f, cur.b.err)
			}
			putBatch(cur.b)
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

// finish accounts for every file once the readers are gone. A file's
// error the merge did not reach (it stopped early: a limit, an error) is
// left out: it lies after every record emitted in merge order, as the
// unread rest of the files does, so the records emitted are complete up
// to where the query stopped.
func (m *merger) finish() {
	st := m.st
	for _, f := range m.todo[:m.launched] {
		for b := range f.ch {
			putBatch(b)
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
