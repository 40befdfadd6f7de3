package query

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/filter"
	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/packet"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// synth makes n UDP frames from port src, one every step ns from t0,
// each frame's payload starting with its index (so frames differ).
func synth(n int, t0, step int64, src uint16) []pcap.Record {
	recs := make([]pcap.Record, n)
	for i := range recs {
		f := packet.UDPFrame(60+i%40, src, 9000)
		f[42], f[43] = byte(i>>8), byte(i)
		recs[i] = pcap.Record{Timestamp: t0 + int64(i)*step, OrigLen: uint32(len(f)), Data: f}
	}
	return recs
}

// checkNoLeaks fails the test if goroutines or file descriptors remain
// after it beyond those there before.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	g0, fd0 := runtime.NumGoroutine(), openFDs(t)
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > g0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if g := runtime.NumGoroutine(); g > g0 {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines left (were %d):\n%s", g, g0, buf[:runtime.Stack(buf, true)])
		}
		if fd := openFDs(t); fd > fd0 {
			t.Errorf("%d file descriptors open, were %d", fd, fd0)
		}
	})
}

func openFDs(t *testing.T) int {
	fds, ok := testenv.OpenFDs()
	if !ok {
		t.Skip("no /proc/self/fd")
	}
	return len(fds)
}

// TestBadInput: a corrupt capture, one cut short at its end, one cut
// short in its header, a dangling link and an unreadable directory are
// each counted and named, every other file is searched, and the query
// says ErrIncomplete; a malformed filter, a missing path, a directory
// without captures and bad limits are errors before anything is read.
func TestBadInput(t *testing.T) {
	checkNoLeaks(t)
	dir := t.TempDir()
	good := pcaptest.WriteCapture(t, filepath.Join(dir, "good.pcap"), pcaptest.File{}, synth(100, 1e18, 1000, 1))
	// Corrupt part way: a record header claiming 1 GB, after 50 good
	// records.
	corrupt := pcaptest.WriteCapture(t, filepath.Join(dir, "corrupt.pcap"), pcaptest.File{}, synth(100, 1e18+500, 1000, 2))
	b, _ := os.ReadFile(filepath.Join(dir, "corrupt.pcap"))
	off := 24
	for i := 0; i < 50; i++ {
		off += 16 + len(corrupt[i].Data)
	}
	copy(b[off+8:], []byte{0, 0, 0, 0x40})
	os.WriteFile(filepath.Join(dir, "corrupt.pcap"), b, 0o644)
	// Cut short in its last record, as a capture being written.
	pcaptest.WriteCapture(t, filepath.Join(dir, "cut.pcap.zst"), pcaptest.File{Compression: pcap.CompressZstd}, synth(100, 1e18+700, 1000, 3))
	pcaptest.WriteCapture(t, filepath.Join(dir, "cutplain.pcap"), pcaptest.File{}, synth(100, 1e18+900, 1000, 4))
	st, _ := os.Stat(filepath.Join(dir, "cutplain.pcap"))
	os.Truncate(filepath.Join(dir, "cutplain.pcap"), st.Size()-5)
	zst, _ := os.ReadFile(filepath.Join(dir, "cut.pcap.zst"))
	os.WriteFile(filepath.Join(dir, "cut.pcap.zst"), zst[:len(zst)*2/3], 0o644)
	// A header cut short, a pcapng magic over garbage, a dangling link.
	os.WriteFile(filepath.Join(dir, "header.pcap"), []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0}, 0o644)
	os.WriteFile(filepath.Join(dir, "garbage.pcapng"), append([]byte{0x0a, 0x0d, 0x0d, 0x0a}, bytes.Repeat([]byte{0xff}, 64)...), 0o644)
	os.Symlink(filepath.Join(dir, "nowhere.pcap"), filepath.Join(dir, "dangling.pcap"))

	ctx := context.Background()
	recs, stats, err := collect(ctx, Spec{Paths: []string{dir}})
	if !errors.Is(err, ErrIncomplete) {
		t.Fatalf("err %v, want ErrIncomplete", err)
	}
	failed := map[string]bool{}
	for _, f := range stats.Failed {
		failed[filepath.Base(f.Path)] = true
	}
	truncated := map[string]bool{}
	for _, f := range stats.Truncated {
		truncated[filepath.Base(f.Path)] = true
	}
	if len(failed) != 3 || !failed["corrupt.pcap"] || !failed["garbage.pcapng"] || !failed["dangling.pcap"] {
		t.Errorf("failed: %v", stats.Failed)
	}
	if len(truncated) != 3 || !truncated["cut.pcap.zst"] || !truncated["cutplain.pcap"] || !truncated["header.pcap"] {
		t.Errorf("truncated: %v", stats.Truncated)
	}
	// Every good record, the corrupt file's first 50, the cut files'
	// whole records.
	n := 0
	for _, r := range recs {
		switch binary16(r.Data[34:]) {
		case 1:
			n++
		case 2:
			if binary16(r.Data[42:]) >= 50 {
				t.Errorf("record %d of the corrupt file emitted", binary16(r.Data[42:]))
			}
		}
	}
	if n != len(good) || stats.Matched != int64(len(recs)) {
		t.Errorf("%d of %d good records, %d matched", n, len(good), stats.Matched)
	}
	if stats.Captures != 7 || stats.Scanned != 7 {
		t.Errorf("captures %d scanned %d", stats.Captures, stats.Scanned)
	}

	// Errors before anything is read.
	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "notes.txt"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(empty, ".x.pcap.0123456789abcdef.inprogress"), []byte{0xd4, 0xc3, 0xb2, 0xa1}, 0o644)
	for name, c := range map[string]struct {
		spec Spec
		want error
	}{
		"malformed filter": {Spec{Paths: []string{dir}, Filter: "tcp and"}, filter.ErrCompile},
		"vlan in filter":   {Spec{Paths: []string{dir}, Filter: "vlan 10", MatchVLAN: true}, filter.ErrMatchVLAN},
		"missing path":     {Spec{Paths: []string{filepath.Join(dir, "nope")}}, fs.ErrNotExist},
		"no captures":      {Spec{Paths: []string{empty}}, ErrNoCaptures},
		"no paths":         {Spec{}, ErrSpec},
		"negative limit":   {Spec{Paths: []string{dir}, MaxPackets: -1}, ErrSpec},
		"start after end":  {Spec{Paths: []string{dir}, Start: time.Unix(2, 0), End: time.Unix(1, 0)}, ErrSpec},
	} {
		called := false
		st, err := Run(ctx, c.spec, func(pcap.Record) error { called = true; return nil })
		if !errors.Is(err, c.want) || called {
			t.Errorf("%s: %v (emitted %v), want %v", name, err, called, c.want)
		}
		if name == "no captures" && len(st.Skipped) != 2 {
			t.Errorf("no captures: skipped %v", st.Skipped)
		}
	}
}

func binary16(b []byte) int { return int(b[0])<<8 | int(b[1]) }

// TestLimitsAndStops: MaxPackets and MaxBytes stop exactly where they
// say, an emit error and a cancelled context stop the query and come
// back, and none leaves a goroutine or a file open.
func TestLimitsAndStops(t *testing.T) {
	checkNoLeaks(t)
	dir := t.TempDir()
	var all []pcap.Record
	for i := range 6 {
		all = append(all, pcaptest.WriteCapture(t, filepath.Join(dir, "f"+string(rune('a'+i))+".pcap"), pcaptest.File{}, synth(5000, 1e18+int64(i)*333, 2000, uint16(i)))...)
	}
	ctx := context.Background()
	full, st, err := collect(ctx, Spec{Paths: []string{dir}, Workers: 2})
	if err != nil || len(full) != len(all) || st.Limited {
		t.Fatalf("full: %d of %d, %v, %+v", len(full), len(all), err, st)
	}
	for i := 1; i < len(full); i++ {
		if full[i].Timestamp < full[i-1].Timestamp {
			t.Fatalf("out of order at %d", i)
		}
	}
	got, st, err := collect(ctx, Spec{Paths: []string{dir}, MaxPackets: 777})
	if err != nil || !st.Limited || pcaptest.Diff(full[:777], got) != "" {
		t.Errorf("MaxPackets: %d, %v, %+v", len(got), err, st)
	}
	var sum int64
	k := 0
	for ; sum+int64(len(full[k].Data)) <= 100_000; k++ {
		sum += int64(len(full[k].Data))
	}
	got, st, err = collect(ctx, Spec{Paths: []string{dir}, MaxBytes: 100_000})
	if err != nil || !st.Limited || st.MatchedBytes != sum || pcaptest.Diff(full[:k], got) != "" {
		t.Errorf("MaxBytes: %d records %d bytes, want %d %d, %v", len(got), st.MatchedBytes, k, sum, err)
	}
	// Exactly as many as there are: not limited.
	if _, st, _ := collect(ctx, Spec{Paths: []string{dir}, MaxBytes: 1 << 40}); st.Limited {
		t.Errorf("MaxBytes above the total: limited")
	}
	stop := errors.New("stop")
	n := 0
	_, err = Run(ctx, Spec{Paths: []string{dir}}, func(pcap.Record) error {
		if n++; n == 1000 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Errorf("emit error: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	n = 0
	_, err = Run(cctx, Spec{Paths: []string{dir}}, func(pcap.Record) error {
		if n++; n == 1000 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestReadAhead: files that follow each other in time, with a second
// partition's longer files overlapping them, read ahead of the merge
// under budgets from none to more than the store, give Workers 1's
// answer (which never reads ahead); a query stopped or cancelled while
// readers wait for the budget ends with nothing left running.
func TestReadAhead(t *testing.T) {
	checkNoLeaks(t)
	dir := t.TempDir()
	const step = 1000
	for i := range 40 {
		pcaptest.WriteCapture(t, filepath.Join(dir, fmt.Sprintf("a%02d.pcap", i)), pcaptest.File{}, synth(3000, 1e18+int64(i)*3000*step, step, uint16(i)))
	}
	for i := range 3 {
		pcaptest.WriteCapture(t, filepath.Join(dir, fmt.Sprintf("b%d.pcap", i)), pcaptest.File{}, synth(20000, 1e18+int64(i)*40000*step+7, 2*step, uint16(100+i)))
	}
	ctx := context.Background()
	want, _, err := collect(ctx, Spec{Paths: []string{dir}, Workers: 1})
	if err != nil || len(want) != 40*3000+3*20000 {
		t.Fatalf("workers 1: %d records, %v", len(want), err)
	}
	defer func(v int64) { readAhead = v }(readAhead)
	stop := errors.New("stop")
	for _, budget := range []int64{1, 100 << 10, 1 << 20, 64 << 20} {
		readAhead = budget
		for _, workers := range []int{2, 4} {
			spec := Spec{Paths: []string{dir}, Workers: workers}
			got, _, err := collect(ctx, spec)
			if d := pcaptest.Diff(want, got); err != nil || d != "" {
				t.Fatalf("budget %d, %d workers: %v %s", budget, workers, err, d)
			}
			n := 0
			if _, err := Run(ctx, spec, func(pcap.Record) error {
				if n++; n == 5000 {
					return stop
				}
				return nil
			}); !errors.Is(err, stop) {
				t.Errorf("budget %d, %d workers, stopped: %v", budget, workers, err)
			}
			cctx, cancel := context.WithCancel(ctx)
			n = 0
			if _, err := Run(cctx, spec, func(pcap.Record) error {
				if n++; n == 5000 {
					cancel()
				}
				return nil
			}); !errors.Is(err, context.Canceled) {
				t.Errorf("budget %d, %d workers, cancelled: %v", budget, workers, err)
			}
		}
	}
}

// fakeMatcher is a payload matcher: frames containing a byte string.
type fakeMatcher struct{ sub []byte }

func (m fakeMatcher) Match(b []byte) bool { return bytes.Contains(b, m.sub) }

// TestHooks: a Pruner's "no" keeps a file closed and counted, "don't
// know" scans it; a PayloadMatcher narrows the filter's matches; Progress
// is called while the query runs and adds up; Exclude and a path named
// twice are skipped.
func TestHooks(t *testing.T) {
	checkNoLeaks(t)
	dir := t.TempDir()
	for i := range 4 {
		pcaptest.WriteCapture(t, filepath.Join(dir, "f"+string(rune('a'+i))+".pcap"), pcaptest.File{}, synth(3000, 1e18+int64(i)*1e9, 1e6, uint16(i)))
	}
	ctx := context.Background()
	var mu sync.Mutex
	asked := map[string]bool{}
	prune := func(path string) (bool, bool) {
		mu.Lock()
		asked[filepath.Base(path)] = true
		mu.Unlock()
		switch filepath.Base(path) {
		case "fa.pcap":
			return false, true // holds no match
		case "fb.pcap":
			return true, true
		}
		return false, false // cannot tell
	}
	got, st, err := collect(ctx, Spec{Paths: []string{dir}, Prune: prune, Filter: "udp"})
	if err != nil || st.Pruned != 1 || st.Scanned != 3 || len(got) != 9000 || len(asked) != 4 {
		t.Errorf("pruned: %d records, %v, %+v, asked %v", len(got), err, st, asked)
	}
	for _, r := range got {
		if binary16(r.Data[34:]) == 0 {
			t.Fatalf("a record of the pruned file")
		}
	}
	// Payload: the UDP checksum (0) and then index 258 (0x0102).
	got, st, err = collect(ctx, Spec{Paths: []string{dir}, Filter: "udp src port 2", Payload: fakeMatcher{[]byte{0, 0, 0x01, 0x02}}})
	if err != nil || len(got) != 1 || binary16(got[0].Data[34:]) != 2 || binary16(got[0].Data[42:]) != 258 {
		t.Errorf("payload: %d records, %v, %+v", len(got), err, st)
	}
	var calls []Progress
	n := 0
	st, err = Run(ctx, Spec{Paths: []string{dir, filepath.Join(dir, "fc.pcap")}, Exclude: []string{filepath.Join(dir, "fd.pcap")}, ProgressEvery: time.Millisecond,
		Progress: func(p Progress) { calls = append(calls, p) }},
		func(pcap.Record) error {
			if n++; n%100 == 0 {
				time.Sleep(100 * time.Microsecond) // slow enough for a few progress calls
			}
			return nil
		})
	if err != nil || st.Matched != 9000 || len(calls) == 0 {
		t.Fatalf("progress: %v, %+v, %d calls", err, st, len(calls))
	}
	last := calls[len(calls)-1]
	if last.Files != 3 || last.Bytes <= 0 || last.BytesDone > last.Bytes || last.Matched > 9000 {
		t.Errorf("progress %+v", last)
	}
	if c := st.SkipCounts(); c[SkipExcluded] != 1 || c[SkipDuplicate] != 1 {
		t.Errorf("skips %v", st.Skipped)
	}
	if st.FileBytes != last.Bytes {
		// Every byte of every file is read by the end.
		t.Errorf("read %d bytes of %d", st.FileBytes, last.Bytes)
	}
}

// TestUnreadableCapturesNamed: a file that is a capture by its name, its
// sidecar index or its first bytes, and cannot be read whole, is a
// failure (or cut short) and the answer is incomplete: a pcap whose first
// 4 bytes are corrupt, a .pcap.gz that is not gzip, a .pcap.xz, an
// unnamed file with a sidecar. A file that is clearly none of these is
// skipped as not a capture, and so are dead letters, sidecars and hidden
// files. Every good record is emitted.
func TestUnreadableCapturesNamed(t *testing.T) {
	checkNoLeaks(t)
	dir := t.TempDir()
	good := pcaptest.WriteCapture(t, filepath.Join(dir, "good.pcap"), pcaptest.File{}, synth(100, 1e18, 1000, 1))
	good = append(good, pcaptest.WriteCapture(t, filepath.Join(dir, "good.pcapng.zst"), pcaptest.File{Format: pcap.FormatPcapNG, Compression: pcap.CompressZstd}, synth(50, 1e18+7, 1000, 2))...)
	b, _ := os.ReadFile(filepath.Join(dir, "good.pcap"))
	bad4 := append([]byte{0, 0, 0, 0}, b[4:]...)
	files := map[string][]byte{
		"bad4.pcap":                           bad4,
		"upper/BAD.PCAP":                      bad4,
		"notgz.pcap.gz":                       []byte("not gzip at all\n"),
		"old.pcap.xz":                         {0xfd, '7', 'z', 'X', 'Z', 0},
		"indexed.bin":                         []byte("garbage with a sidecar"),
		".indexed.bin.idx":                    []byte("x"),
		"cut.cap":                             b[:len(b)-9],
		"README.txt":                          []byte("lab captures\n"),
		"store.pcap.txt.notes":                []byte("notes\n"),
		"deadletter.jsonl":                    []byte("{}\n"),
		".x.pcap.0123456789abcdef.inprogress": bad4,
	}
	for name, data := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	recs, st, err := collect(context.Background(), Spec{Paths: []string{dir}})
	if !errors.Is(err, ErrIncomplete) {
		t.Fatalf("err %v, want ErrIncomplete", err)
	}
	got := map[string]string{}
	for _, f := range st.Failed {
		got[f.Path] = "failed"
	}
	for _, f := range st.Truncated {
		got[f.Path] = "cut"
	}
	for _, s := range st.Skipped {
		got[s.Path] = s.Reason
	}
	want := map[string]string{
		"bad4.pcap": "failed", "upper/BAD.PCAP": "failed", "notgz.pcap.gz": "failed", "old.pcap.xz": "failed",
		"indexed.bin": "failed", "cut.cap": "cut",
		"README.txt": SkipNotCapture, "store.pcap.txt.notes": SkipNotCapture, "deadletter.jsonl": SkipSidecar,
		".indexed.bin.idx": SkipIndex, ".x.pcap.0123456789abcdef.inprogress": SkipHidden,
	}
	for name, w := range want {
		if g := got[filepath.Join(dir, name)]; g != w {
			t.Errorf("%s: %q, want %q", name, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("accounted for %v, want %v", got, want)
	}
	if n := len(recs) - (len(good) + 99); n != 0 {
		t.Errorf("%d records emitted, want every good one and the cut file's 99 whole ones", len(recs))
	}

	// Walk and Sniff, as pcapstore index uses them, say the same.
	found, _, err := Walk([]string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		rel, _ := filepath.Rel(dir, f.Path)
		err := Sniff(f)
		if notCapture := errors.Is(err, ErrNotCapture); notCapture != (want[rel] == SkipNotCapture) || err != nil && !notCapture {
			t.Errorf("Sniff %s: %v", rel, err)
		}
	}
	// A file named in the paths is a capture, whatever it holds.
	if _, _, err := collect(context.Background(), Spec{Paths: []string{filepath.Join(dir, "README.txt")}}); !errors.Is(err, ErrIncomplete) {
		t.Errorf("README.txt named: %v, want ErrIncomplete", err)
	}
}

// TestRunToRandom: over random stores — files that overlap in time or
// follow each other, with ties, records out of order, batches cut small —
// and random limits, RunTo writes what Run through an Output writes, and
// counts the same.
func TestRunToRandom(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(1, seed))
	for round := range 150 {
		dir := t.TempDir()
		files := 1 + rng.IntN(6)
		for f := range files {
			recs := synth(1+rng.IntN(3000), 1e18+rng.Int64N(4)*int64(rng.IntN(3000))*1000, int64(1+rng.IntN(3))*1000, uint16(f))
			for range rng.IntN(3) { // some records back in time
				i := rng.IntN(len(recs))
				recs[i].Timestamp -= rng.Int64N(5e6)
			}
			pcaptest.WriteCapture(t, filepath.Join(dir, fmt.Sprintf("f%d.pcap", f)), pcaptest.File{}, recs)
		}
		spec := Spec{Paths: []string{dir}, Workers: 1 + rng.IntN(3)}
		switch rng.IntN(4) {
		case 1:
			spec.MaxPackets = 1 + rng.Int64N(4000)
		case 2:
			spec.MaxBytes = 1 + rng.Int64N(300_000)
		case 3:
			spec.Filter = "udp src port 1 or udp src port 3"
		}
		if err := sameAsRunTo(context.Background(), spec); err != nil {
			t.Fatalf("seed %d, round %d (%d files, %+v): %v", seed, round, files, spec, err)
		}
	}
}
