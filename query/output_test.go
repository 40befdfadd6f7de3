package query

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

func TestPageName(t *testing.T) {
	for _, c := range []struct {
		prefix string
		n      int
		want   string
	}{
		{"", 1, "page-1.pcap"},
		{"", 12, "page-12.pcap"},
		{"run1", 1, "pcap-data-run1+0001.pcap"},
		{"run1", 123, "pcap-data-run1+0123.pcap"},
		{"x", 12345, "pcap-data-x+12345.pcap"},
	} {
		if got := PageName(c.prefix, c.n); got != c.want {
			t.Errorf("PageName(%q, %d) = %q, want %q", c.prefix, c.n, got, c.want)
		}
	}
}

// TestOutput: one capture, or pages of N records named as Metron names
// them, hold what was written, in order, as tcpdump reads them back; one
// capture of nothing is a valid empty capture, pages of nothing are no
// page at all; the writer given is not closed.
func TestOutput(t *testing.T) {
	bin := testenv.RequireTool(t, "tcpdump")
	ctx := context.Background()
	for _, c := range []struct {
		name      string
		records   int
		perPage   int // 0: one capture
		prefix    string
		wantPages []string
		wantSizes []int
	}{
		{"one capture", 250, 0, "", nil, nil},
		{"one empty capture", 0, 0, "", nil, nil},
		{"pages", 250, 100, "", []string{"page-1.pcap", "page-2.pcap", "page-3.pcap"}, []int{100, 100, 50}},
		{"pages, the last full", 200, 100, "", []string{"page-1.pcap", "page-2.pcap"}, []int{100, 100}},
		{"pages of one", 3, 1, "", []string{"page-1.pcap", "page-2.pcap", "page-3.pcap"}, []int{1, 1, 1}},
		{"pages named as Metron's command", 250, 1000, "run1", []string{"pcap-data-run1+0001.pcap"}, []int{250}},
		{"no page", 0, 100, "", nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			recs := synth(c.records, 1_700_000_000_123_456_789, 1000, 53)
			var o *Output
			var f *os.File
			if c.perPage == 0 {
				var err error
				if f, err = os.Create(filepath.Join(dir, "out.pcap")); err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				o = NewOutput(f)
			} else {
				o = NewPages(dir, c.perPage, c.prefix)
			}
			for _, r := range recs {
				if err := o.Write(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}
			if c.perPage == 0 {
				if _, err := f.Stat(); err != nil {
					t.Errorf("the writer was closed: %v", err)
				}
				got, err := pcaptest.Tcpdump(ctx, bin, []string{f.Name()}, "")
				if err != nil {
					t.Fatal(err)
				}
				if d := pcaptest.Diff(recs, got); d != "" {
					t.Error(d)
				}
				return
			}
			var want []string
			for _, p := range c.wantPages {
				want = append(want, filepath.Join(dir, p))
			}
			if !slices.Equal(o.Pages(), want) {
				t.Fatalf("pages %q, want %q", o.Pages(), want)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != len(want) {
				t.Errorf("%d files in the directory, want %d pages", len(entries), len(want))
			}
			var all []pcap.Record
			for i, p := range want {
				got, err := pcaptest.Tcpdump(ctx, bin, []string{p}, "")
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != c.wantSizes[i] {
					t.Errorf("%s: %d records, want %d", p, len(got), c.wantSizes[i])
				}
				all = append(all, got...)
			}
			if d := pcaptest.Diff(recs, all); d != "" {
				t.Error(d)
			}
		})
	}
}

// TestOutputNeverOverwrites: a page that exists already is an error, and
// stays as it was.
func TestOutputNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	second := filepath.Join(dir, PageName("", 2))
	if err := os.WriteFile(second, []byte("someone's"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := NewPages(dir, 2, "")
	var err error
	for _, r := range synth(3, 0, 1, 53) {
		if err = o.Write(r); err != nil {
			break
		}
	}
	if !errors.Is(err, fs.ErrExist) {
		t.Errorf("writing over %s: %v, want fs.ErrExist", second, err)
	}
	if err := o.Close(); err != nil {
		t.Error(err)
	}
	if b, err := os.ReadFile(second); err != nil || string(b) != "someone's" {
		t.Errorf("%s: %q %v", second, b, err)
	}
	if got := o.Pages(); len(got) != 1 || got[0] != filepath.Join(dir, PageName("", 1)) {
		t.Errorf("pages %q", got)
	}
}

// TestStreamOutput: a stream sends its first record at once, later ones
// within its period while they come, writes what a plain Output writes,
// and its clock stops at Close (also when no record came).
func TestStreamOutput(t *testing.T) {
	checkNoLeaks(t)
	recs := synth(50, 1e18, 1000, 7)
	var plain bytes.Buffer
	p := NewOutput(&plain)
	for _, r := range recs {
		p.Write(r)
	}
	p.Close()

	var got bytes.Buffer
	var flushedAt []int // bytes written at each flush
	s := NewStream(&got, 5*time.Millisecond, func() error { flushedAt = append(flushedAt, got.Len()); return nil })
	for i, r := range recs {
		if err := s.Write(r); err != nil {
			t.Fatal(err)
		}
		if i == 0 && len(flushedAt) != 1 {
			t.Fatalf("the first record was not sent at once: %d flushes", len(flushedAt))
		}
		if i == 24 {
			time.Sleep(20 * time.Millisecond) // a slow stretch: the next record goes at once
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), plain.Bytes()) {
		t.Errorf("a stream wrote %d bytes, a plain Output %d", got.Len(), plain.Len())
	}
	if len(flushedAt) < 2 {
		t.Errorf("sent %d times (at %v): want the first record, and the one after the pause", len(flushedAt), flushedAt)
	}
	empty := NewStream(io.Discard, time.Millisecond, func() error { return nil })
	if err := empty.Close(); err != nil {
		t.Fatal(err)
	}
}
