package query

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/fastcapa-go/fastcapa/pcap"
)

// PageName is the name of page n (from 1) of an answer written in pages,
// as Metron names them: page-N.pcap as its REST finalizer does, or, with
// a prefix, pcap-data-PREFIX+NNNN.pcap as its command line's
// (PcapCliFinalizer) does.
func PageName(prefix string, n int) string {
	if prefix != "" {
		return fmt.Sprintf("pcap-data-%s+%04d.pcap", prefix, n)
	}
	return fmt.Sprintf("page-%d.pcap", n)
}

// Output writes the records Run emits (Write is an emit function) as a
// nanosecond Ethernet pcap with the largest snapshot length: one capture
// to a writer, or pages of a fixed number of records, each a file in a
// directory, as Metron's pcap_query writes them. An Output is used from
// one goroutine.
type Output struct {
	to      io.Writer // one capture; nil for pages
	dir     string    // pages
	perPage int
	prefix  string

	f     *os.File // the page being written
	w     *pcap.Writer
	n     int // records in the page being written
	pages []string

	// A stream's (NewStream): records go on at least every every.
	every  time.Duration
	flush  func() error
	due    atomic.Bool // set by the ticker: send at the next write
	ticker *time.Ticker
	done   chan struct{}
}

// NewOutput writes one capture to w: an empty one (the header alone)
// when no record came. Close flushes it; w is not closed.
func NewOutput(w io.Writer) *Output { return &Output{to: w} }

// NewStream writes one capture to w as NewOutput does, and sends what it
// holds on — its buffer written to w, then flush (an HTTP response's
// Flush) — at the first record and then at least every every while
// records come, so that a reader of a slow, selective answer gets each
// packet soon after it is found. Close stops its clock.
func NewStream(w io.Writer, every time.Duration, flush func() error) *Output {
	return &Output{to: w, every: every, flush: flush}
}

// sendOn sends a stream's records on when they are due.
func (o *Output) sendOn(first bool) error {
	if o.flush == nil || !first && !o.due.Load() {
		return nil
	}
	o.due.Store(false)
	if err := o.w.Flush(); err != nil {
		return err
	}
	return o.flush()
}

// tick starts a stream's clock, at its first record.
func (o *Output) tick() {
	t, done := time.NewTicker(o.every), make(chan struct{})
	o.ticker, o.done = t, done
	go func() { // its own copies: stopClock clears the Output's
		for {
			select {
			case <-t.C:
				o.due.Store(true)
			case <-done:
				return
			}
		}
	}()
}

// NewPages writes pages of perPage (≥ 1) records in dir, an existing
// directory: page n is created, named PageName(prefix, n), when its
// first record comes, never over an existing file, and closed once it
// holds perPage records or at Close. No record, no page.
func NewPages(dir string, perPage int, prefix string) *Output {
	return &Output{dir: dir, perPage: perPage, prefix: prefix}
}

// start makes the writer of the single capture, or of the next page.
func (o *Output) start() error {
	w := o.to
	if o.to == nil {
		name := filepath.Join(o.dir, PageName(o.prefix, len(o.pages)+1))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		o.f, w = f, f
		o.pages = append(o.pages, name)
		o.n = 0
	}
	var err error
	o.w, err = pcap.NewWriter(w, true, pcap.MaxSnapLen)
	if err == nil && o.flush != nil && o.ticker == nil {
		o.tick()
	}
	return err
}

// Write appends r, in a new page if the last one is full. An error
// leaves the Output to be closed.
func (o *Output) Write(r pcap.Record) error {
	first := o.w == nil
	if first {
		if err := o.start(); err != nil {
			return err
		}
	}
	if err := o.w.Write(r); err != nil {
		return err
	}
	if err := o.sendOn(first && o.to != nil); err != nil {
		return err
	}
	if o.to == nil {
		if o.n++; o.n == o.perPage {
			return o.endPage()
		}
	}
	return nil
}

// endPage flushes and closes the page being written.
func (o *Output) endPage() error {
	err := o.w.Flush()
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	o.w, o.f = nil, nil
	return err
}

// Close writes what is buffered (the header of an empty capture when no
// record came to a single capture) and closes the page being written; a
// stream's clock stops.
func (o *Output) Close() error {
	defer o.stopClock()
	if o.to == nil {
		if o.w != nil {
			return o.endPage()
		}
		return nil
	}
	if o.w == nil {
		if err := o.start(); err != nil {
			return err
		}
	}
	return o.w.Flush()
}

// stopClock stops a stream's clock, if it runs.
func (o *Output) stopClock() {
	if o.ticker != nil {
		o.ticker.Stop()
		close(o.done)
		o.ticker = nil
	}
}

// encoder is the Encoder of a single capture's records, and false for
// pages (whose records are counted into pages one by one).
func (o *Output) encoder() (pcap.Encoder, bool) {
	if o.to == nil {
		return pcap.Encoder{}, false
	}
	return pcap.NewEncoder(true, pcap.MaxSnapLen), true
}

// writeEncoded writes records the encoder formatted.
func (o *Output) writeEncoded(b []byte) error {
	first := o.w == nil
	if first {
		if err := o.start(); err != nil {
			return err
		}
	}
	if err := o.w.WriteEncoded(b); err != nil {
		return err
	}
	return o.sendOn(first)
}

// Flush writes what is buffered of a single capture, to send it on
// before more records come (a stream's first bytes); with pages, or
// before the first record, it does nothing.
func (o *Output) Flush() error {
	if o.to == nil || o.w == nil {
		return nil
	}
	return o.w.Flush()
}

// Pages are the pages created, in order.
func (o *Output) Pages() []string { return o.pages }
