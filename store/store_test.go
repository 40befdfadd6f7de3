package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/packet"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// TestMain fails the run if the tests leave a file descriptor open.
func TestMain(m *testing.M) { testenv.RunCheckingFDs(m) }

// t0 is Metron's example timestamp, 2017-05-15T22:08:25.667571Z.
const t0 = int64(1494886105667571000)

// minute is the first minute boundary after t0.
const minute = (t0/60e9 + 1) * 60e9

const ms = int64(time.Millisecond)

// frame returns an Ethernet/IPv4/UDP frame of size bytes (at least 42)
// whose payload carries i.
func frame(i, size int) []byte {
	b := packet.UDPFrame(size, uint16(1000+i%1000), 2000)
	for j := 42; j < size; j++ {
		b[j] = byte(i + j)
	}
	if size >= 50 {
		binary.BigEndian.PutUint64(b[42:], uint64(i))
	}
	return b
}

type rec struct {
	ts   int64
	size int
	orig uint32 // 0: the frame's size
}

// data is record i's frame; size 0 makes a 0-byte record.
func (r rec) data(i int) []byte {
	if r.size == 0 {
		return nil
	}
	return frame(i, r.size)
}

// writeAll writes recs and finalizes the last file. A Write returns at
// most the file before its record.
func writeAll(t *testing.T, w *Writer, recs []rec) []Finalized {
	t.Helper()
	var files []Finalized
	done := int64(0)
	for i, r := range recs {
		rot, err := w.Write(r.ts, r.data(i), r.orig)
		if err != nil {
			t.Fatalf("write record %d: %v", i, err)
		}
		if len(rot) > 1 {
			t.Fatalf("write record %d: %d files finalized", i, len(rot))
		}
		for _, f := range rot {
			done += f.Packets
		}
		if done != int64(i) && len(rot) > 0 {
			t.Fatalf("write record %d: finalized files hold %d records, want the %d before it", i, done, i)
		}
		files = append(files, rot...)
	}
	fin, err := w.Finalize()
	if err != nil {
		t.Fatal(err)
	}
	if fin != nil {
		files = append(files, *fin)
	}
	return files
}

// stored is what a record should read back as.
func stored(spec Spec, i int, r rec) pcap.Record {
	ts, data, orig := r.ts, r.data(i), r.orig
	if !spec.Nanos {
		ts -= ts % 1000
	}
	orig = max(orig, uint32(len(data)))
	snap := spec.SnapLen
	if snap == 0 {
		snap = pcap.MaxSnapLen
	}
	if len(data) > int(snap) {
		data = data[:snap]
	}
	return pcap.Record{Timestamp: ts, OrigLen: orig, Data: data}
}

// checkFiles reads every file back: the records, in order and byte-exact,
// are recs; each file's Finalized matches it and keeps the Spec's rules;
// capinfos and tcpdump accept it.
func checkFiles(t *testing.T, spec Spec, files []Finalized, recs []rec) {
	t.Helper()
	readBack(t, spec, files, recs)
	oracles(t, files)
}

// readBack is checkFiles without the external tools.
func readBack(t *testing.T, spec Spec, files []Finalized, recs []rec) {
	t.Helper()
	snap := spec.SnapLen
	if snap == 0 {
		snap = pcap.MaxSnapLen
	}
	var got []pcap.Record
	for _, f := range files {
		c, rs := readAny(t, f.Path)
		if c.Format() != spec.Format || c.Compression() != fileCompression(spec) {
			t.Errorf("%s: %s %s, want %s %s", f.Path, c.Format(), c.Compression(), spec.Format, fileCompression(spec))
		}
		want := pcap.Interface{LinkType: pcap.LinkTypeEthernet, SnapLen: snap, TSResol: 6}
		if spec.Nanos {
			want.TSResol = 9
		}
		if ifs := c.Interfaces(); len(ifs) != 1 || ifs[0] != want {
			t.Errorf("%s: interfaces %+v, want %+v", f.Path, ifs, want)
		}
		if !strings.HasSuffix(f.Path, spec.suffix()) {
			t.Errorf("%s: no suffix %q", f.Path, spec.suffix())
		}
		fi, err := os.Stat(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(filepath.Base(f.Path), ".") || !strings.HasPrefix(f.Path, spec.Dir+string(filepath.Separator)) {
			t.Errorf("%s: hidden or outside Dir %s", f.Path, spec.Dir)
		}
		if int64(len(rs)) != f.Packets || fi.Size() != f.Bytes || len(rs) == 0 {
			t.Errorf("%s: %d records and %d bytes, Finalized says %d and %d", f.Path, len(rs), fi.Size(), f.Packets, f.Bytes)
			continue
		}
		size := int64(spec.Format.HeaderLen(spec.Nanos))
		for _, r := range rs {
			size += int64(spec.Format.RecordLen(len(r.Data)))
		}
		if f.CaptureBytes != size || fileCompression(spec) == pcap.CompressNone && f.Bytes != size {
			t.Errorf("%s: %d capture bytes, Finalized says %d (and %d on disk)", f.Path, size, f.CaptureBytes, f.Bytes)
		}
		lo, hi := rs[0].Timestamp, rs[0].Timestamp
		for _, r := range rs {
			lo, hi = min(lo, r.Timestamp), max(hi, r.Timestamp)
		}
		if f.First != lo || f.Last != hi {
			t.Errorf("%s: times %d..%d, Finalized says %d..%d", f.Path, lo, hi, f.First, f.Last)
		}
		if spec.MaxPackets > 0 && f.Packets > spec.MaxPackets {
			t.Errorf("%s: %d packets, over MaxPackets %d", f.Path, f.Packets, spec.MaxPackets)
		}
		if spec.MaxBytes > 0 && f.CaptureBytes > spec.MaxBytes && f.Packets > 1 {
			t.Errorf("%s: %d bytes, over MaxBytes %d", f.Path, f.CaptureBytes, spec.MaxBytes)
		}
		if spec.MaxSpan > 0 && hi-lo > int64(spec.MaxSpan) {
			t.Errorf("%s: spans %v, over MaxSpan %v", f.Path, time.Duration(hi-lo), spec.MaxSpan)
		}
		if s := int64(spec.Slot); s > 0 && lo/s != hi/s {
			t.Errorf("%s: %d..%d crosses a %v slot boundary", f.Path, lo, hi, spec.Slot)
		}
		got = append(got, rs...)
	}
	if len(got) != len(recs) {
		t.Fatalf("read back %d records, wrote %d", len(got), len(recs))
	}
	for i, r := range recs {
		want := stored(spec, i, r)
		if g := got[i]; g.Timestamp != want.Timestamp || g.OrigLen != want.OrigLen || !bytes.Equal(g.Data, want.Data) {
			t.Fatalf("record %d: read back ts %d orig %d len %d, want ts %d orig %d len %d",
				i, g.Timestamp, g.OrigLen, len(g.Data), want.Timestamp, want.OrigLen, len(want.Data))
		}
	}
}

// readAny reads every record of a capture file of any format and
// compression.
func readAny(t *testing.T, path string) (*pcap.Capture, []pcap.Record) {
	t.Helper()
	c, err := pcap.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rs, err := pcap.ReadAll(c)
	if err != nil {
		t.Fatalf("%s: record %d: %v", path, len(rs), err)
	}
	return c, rs
}

// fileCompression is the compression a spec's files are in: Compression,
// or what the pipe tests' commands make (named by their PipeSuffix).
func fileCompression(spec Spec) pcap.Compression {
	if len(spec.PipeCmd) == 0 {
		return spec.Compression
	}
	for c := pcap.CompressGzip; c <= pcap.CompressLZ4; c++ {
		if spec.PipeSuffix == c.Suffix() {
			return c
		}
	}
	return pcap.CompressNone
}

// oracles runs capinfos and tcpdump on the files: both must read every
// packet without complaint. Compressed files are decompressed by the
// gzip, zstd or lz4 command first.
func oracles(t *testing.T, files []Finalized) {
	t.Helper()
	if len(files) == 0 {
		return
	}
	files = decompressed(t, files)
	t.Run("capinfos", func(t *testing.T) {
		bin := testenv.RequireTool(t, "capinfos")
		args := []string{"-T", "-r", "-M", "-c"}
		for _, f := range files {
			args = append(args, f.Path)
		}
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("capinfos: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != len(files) {
			t.Fatalf("capinfos gave %d lines for %d files:\n%s", len(lines), len(files), out)
		}
		for i, l := range lines {
			name, count, _ := strings.Cut(l, "\t")
			if name != files[i].Path || count != strconv.FormatInt(files[i].Packets, 10) {
				t.Errorf("capinfos: %q, want %s with %d packets", l, files[i].Path, files[i].Packets)
			}
		}
	})
	t.Run("tcpdump", func(t *testing.T) {
		bin := testenv.RequireTool(t, "tcpdump")
		for _, f := range files {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, "-r", f.Path, "-n", "-q", "-t")
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("tcpdump -r %s: %v\n%s", f.Path, err, stderr.Bytes())
			}
			if strings.Contains(stderr.String(), "truncated") || strings.Contains(stderr.String(), "bad dump") {
				t.Errorf("tcpdump -r %s: %s", f.Path, stderr.Bytes())
			}
			if n := bytes.Count(stdout.Bytes(), []byte("\n")); int64(n) != f.Packets {
				t.Errorf("tcpdump -r %s: %d packets, want %d", f.Path, n, f.Packets)
			}
		}
	})
}

func counts(files []Finalized) []int64 {
	var c []int64
	for _, f := range files {
		c = append(c, f.Packets)
	}
	return c
}

// steps returns n records of size bytes from start, step ns apart.
func steps(start, step int64, n, size int) []rec {
	var rs []rec
	for i := range n {
		rs = append(rs, rec{ts: start + int64(i)*step, size: size})
	}
	return rs
}

func TestRotation(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		recs []rec
		want []int64 // packets per file
	}{
		{"no limits", Spec{}, steps(t0, ms, 5, 100), []int64{5}},
		{"packets", Spec{MaxPackets: 3}, steps(t0, ms, 10, 100), []int64{3, 3, 3, 1}},
		{"bytes reached exactly", Spec{MaxBytes: 24 + 3*116}, steps(t0, ms, 10, 100), []int64{3, 3, 3, 1}},
		{"bytes not exceeded", Spec{MaxBytes: 24 + 2*116 + 50}, steps(t0, ms, 10, 100), []int64{2, 2, 2, 2, 2}},
		{"record over bytes alone", Spec{MaxBytes: 100}, steps(t0, ms, 3, 200), []int64{1, 1, 1}},
		{"span", Spec{MaxSpan: 10 * time.Millisecond}, steps(t0, 3*ms, 10, 100), []int64{4, 4, 2}},
		{"span reached exactly", Spec{MaxSpan: 10 * time.Millisecond}, steps(t0, 5*ms, 7, 100), []int64{3, 3, 1}},
		// -600 -400 -200 | 0 (on the boundary) 200 400 600 800 | 1000 1200
		{"slot", Spec{Slot: time.Second}, steps(minute-600*ms, 200*ms, 10, 100), []int64{3, 5, 2}},
		{"slot on the minute", Spec{Slot: time.Minute}, steps(minute-2*60e9, 30e9, 6, 100), []int64{2, 2, 2}},
		{"whichever first", Spec{MaxPackets: 4, MaxBytes: 600, MaxSpan: 300 * time.Millisecond, Slot: time.Second}, []rec{
			{ts: minute - 900*ms, size: 100}, {ts: minute - 850*ms, size: 100}, {ts: minute - 800*ms, size: 100},
			{ts: minute - 750*ms, size: 100},                                   // 4 packets
			{ts: minute - 700*ms, size: 400}, {ts: minute - 650*ms, size: 100}, // 556 bytes; 116 more is over 600
			{ts: minute - 600*ms, size: 100}, {ts: minute - 500*ms, size: 100}, // -250 spans 350 ms
			{ts: minute - 250*ms, size: 100}, {ts: minute - 100*ms, size: 100}, // next slot
			{ts: minute, size: 100}, {ts: minute + 100*ms, size: 100},
		}, []int64{4, 2, 2, 2, 2}},
		{"snaplen", Spec{SnapLen: 64}, []rec{
			{ts: t0, size: 100}, {ts: t0 + 1, size: 64}, {ts: t0 + 2, size: 65, orig: 1500}, {ts: t0 + 3, size: 42, orig: 9000},
		}, []int64{4}},
		{"microseconds", Spec{Nanos: false, MaxSpan: 2 * time.Microsecond}, []rec{
			{ts: t0 + 999, size: 80}, {ts: t0 + 2999, size: 80}, {ts: t0 + 3000, size: 80}, {ts: t0 + 5999, size: 80},
		}, []int64{2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec
			spec.Dir = t.TempDir()
			spec.Template = "{seq}.pcap"
			spec.Nanos = tt.name != "microseconds"
			w, err := NewWriter(spec, Vars{Topic: "pcap"})
			if err != nil {
				t.Fatal(err)
			}
			files := writeAll(t, w, tt.recs)
			if got := counts(files); !slices.Equal(got, tt.want) {
				t.Errorf("packets per file %v, want %v", got, tt.want)
			}
			for i, f := range files {
				if want := filepath.Join(spec.Dir, fmt.Sprintf("%d.pcap", i)); f.Path != want {
					t.Errorf("file %d is %s, want %s", i, f.Path, want)
				}
			}
			checkFiles(t, spec, files, tt.recs)
		})
	}
}

// TestRotationProperties writes random streams under random rules: the
// files hold every record in order, each keeps the rules, and a file ends
// only when it is full or the next record would break a rule.
func TestRotationProperties(t *testing.T) {
	for seed := range uint64(40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(seed, 1))
			spec := Spec{Dir: t.TempDir(), Template: "{seq}", Nanos: rnd.IntN(2) == 0}
			if rnd.IntN(2) == 0 {
				spec.MaxPackets = 1 + rnd.Int64N(20)
			}
			if rnd.IntN(2) == 0 {
				spec.MaxBytes = spec.minBytes() + rnd.Int64N(4000)
			}
			if rnd.IntN(2) == 0 {
				spec.MaxSpan = time.Duration(rnd.Int64N(int64(50 * time.Millisecond)))
			}
			if rnd.IntN(2) == 0 {
				spec.Slot = time.Duration(1 + rnd.Int64N(int64(100*time.Millisecond)))
			}
			if rnd.IntN(3) == 0 {
				spec.SnapLen = uint32(42 + rnd.IntN(300))
			}
			w, err := NewWriter(spec, Vars{})
			if err != nil {
				t.Fatal(err)
			}
			var recs []rec
			ts := t0
			for range 300 {
				switch rnd.IntN(10) {
				case 0: // same time
				case 1: // back in time
					ts -= rnd.Int64N(int64(time.Millisecond))
				default:
					ts += rnd.Int64N(int64(2 * time.Millisecond))
				}
				recs = append(recs, rec{ts: ts, size: 42 + rnd.IntN(600)})
			}
			files := writeAll(t, w, recs)
			readBack(t, spec, files, recs) // TestRotation runs the tools
			// Maximal files: the next file's first record did not fit.
			i := 0
			for k, f := range files[:len(files)-1] {
				i += int(f.Packets)
				next := stored(spec, i, recs[i])
				full := spec.MaxPackets > 0 && f.Packets >= spec.MaxPackets || spec.MaxBytes > 0 && f.CaptureBytes >= spec.MaxBytes
				over := spec.MaxBytes > 0 && f.CaptureBytes+int64(spec.Format.RecordLen(len(next.Data))) > spec.MaxBytes ||
					spec.MaxSpan > 0 && max(f.Last, next.Timestamp)-min(f.First, next.Timestamp) > int64(spec.MaxSpan)
				if s := int64(spec.Slot); s > 0 {
					_, rs := readAny(t, f.Path)
					over = over || rs[0].Timestamp/s != next.Timestamp/s
				}
				if !full && !over {
					t.Errorf("file %d (%+v) ended though record %d fits (spec %+v)", k, f, i, spec)
				}
			}
		})
	}
}

func TestTemplates(t *testing.T) {
	const uuid = `[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`
	tests := []struct {
		name     string
		template string
		loc      *time.Location
		nanos    bool
		max      int64
		recs     []rec
		want     []string // regexps of the paths relative to Dir
	}{
		{"metron", "pcap_{topic}_{ts}_{partition}_{uuid}", nil, true, 0, steps(t0, ms, 3, 100),
			[]string{`pcap_pcap_1494886105667571000_7_` + uuid}},
		{"metron microseconds", "pcap_{topic}_{ts}_{partition}_{uuid}", nil, false, 0, steps(t0+123, ms, 3, 100),
			[]string{`pcap_pcap_1494886105667571000_7_` + uuid}},
		{"fmadio", "{start}-{end}.pcap", nil, true, 0, steps(t0, 1250*ms, 3, 100),
			[]string{`1494886105-1494886108\.pcap`}},
		{"fmadio rotated", "{start}-{end}.pcap", nil, true, 2, steps(t0, 1250*ms, 4, 100),
			[]string{`1494886105-1494886106\.pcap`, `1494886108-1494886109\.pcap`}},
		{"strftime dirs UTC", "%Y%m%d/all-{hhmmss}.pcap", nil, true, 0, steps(t0, ms, 3, 100),
			[]string{`20170515/all-220825\.pcap`}},
		{"strftime dirs east", "%Y%m%d/all-{hhmmss}.pcap", time.FixedZone("UTC+9", 9*3600), true, 0, steps(t0, ms, 3, 100),
			[]string{`20170516/all-070825\.pcap`}},
		{"strftime dirs west", "%Y%m%d/all-{hhmmss}.pcap", time.FixedZone("UTC-5", -5*3600), true, 0, steps(t0, ms, 3, 100),
			[]string{`20170515/all-170825\.pcap`}},
		{"strftime and end", "%Y/%m/%d/%H/all-{start}-{end}.pcap", nil, true, 0, steps(t0, 1e9, 3, 100),
			[]string{`2017/05/15/22/all-1494886105-1494886107\.pcap`}},
		{"every variable", "{topic}_{partition}_{seq}_{start_ns}_{start}_{end}_{hhmmss}_%Y-%m-%d_%H-%M-%S_%j_%%.pcap", nil, true, 2, steps(t0, 1e9, 4, 100),
			[]string{
				`pcap_7_0_1494886105667571000_1494886105_1494886106_220825_2017-05-15_22-08-25_135_%\.pcap`,
				`pcap_7_1_1494886107667571000_1494886107_1494886108_220827_2017-05-15_22-08-27_135_%\.pcap`,
			}},
		{"seq", "s{seq}", nil, true, 1, steps(t0, ms, 3, 100), []string{`s0`, `s1`, `s2`}},
		{"uuid per file", "{uuid}.pcap", nil, true, 1, steps(t0, ms, 2, 100), []string{uuid + `\.pcap`, uuid + `\.pcap`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := Spec{Dir: t.TempDir(), Template: tt.template, Location: tt.loc, Nanos: tt.nanos, MaxPackets: tt.max}
			w, err := NewWriter(spec, Vars{Topic: "pcap", Partition: 7})
			if err != nil {
				t.Fatal(err)
			}
			files := writeAll(t, w, tt.recs)
			if len(files) != len(tt.want) {
				t.Fatalf("%d files, want %d", len(files), len(tt.want))
			}
			seen := map[string]bool{}
			for i, f := range files {
				rel, _ := filepath.Rel(spec.Dir, f.Path)
				if !regexp.MustCompile(`^` + tt.want[i] + `$`).MatchString(rel) {
					t.Errorf("file %d is %q, want %s", i, rel, tt.want[i])
				}
				if seen[rel] {
					t.Errorf("name %q given twice", rel)
				}
				seen[rel] = true
			}
			checkFiles(t, spec, files, tt.recs)
		})
	}
}

// TestMetronNames: Metron's PcapHelper reads a name's timestamp as the
// third '_'-separated field, an unsigned decimal of nanoseconds.
func TestMetronNames(t *testing.T) {
	spec := Spec{Dir: t.TempDir(), Template: "pcap_{topic}_{ts}_{partition}_{uuid}", Nanos: true}
	w, err := NewWriter(spec, Vars{Topic: "pcap", Partition: 0})
	if err != nil {
		t.Fatal(err)
	}
	files := writeAll(t, w, steps(t0, ms, 2, 100))
	fields := strings.Split(filepath.Base(files[0].Path), "_")
	if len(fields) != 5 || fields[0] != "pcap" || fields[1] != "pcap" || fields[3] != "0" {
		t.Fatalf("fields %q", fields)
	}
	if ts, err := strconv.ParseUint(fields[2], 10, 64); err != nil || int64(ts) != files[0].First {
		t.Errorf("timestamp field %q, want %d", fields[2], files[0].First)
	}
}

func TestInvalid(t *testing.T) {
	good := Spec{Template: "{uuid}"}
	tests := []struct {
		name  string
		edit  func(*Spec)
		vars  Vars
		field string // in the error
	}{
		{"no dir", func(s *Spec) { s.Dir = "" }, Vars{}, "Dir"},
		{"empty template", func(s *Spec) { s.Template = "" }, Vars{}, "Template"},
		{"absolute", func(s *Spec) { s.Template = "/abs/{uuid}" }, Vars{}, "absolute"},
		{"empty element", func(s *Spec) { s.Template = "a//{uuid}" }, Vars{}, "empty path element"},
		{"trailing slash", func(s *Spec) { s.Template = "{uuid}/" }, Vars{}, "empty path element"},
		{"dot dot", func(s *Spec) { s.Template = "../{uuid}" }, Vars{}, "starts with '.'"},
		{"hidden", func(s *Spec) { s.Template = ".x-{uuid}" }, Vars{}, "starts with '.'"},
		{"unknown variable", func(s *Spec) { s.Template = "{nope}-{uuid}" }, Vars{}, "unknown variable {nope}"},
		{"unclosed", func(s *Spec) { s.Template = "{uuid" }, Vars{}, "unclosed"},
		{"stray brace", func(s *Spec) { s.Template = "uuid}{seq}" }, Vars{}, "'}' without '{'"},
		{"unknown verb", func(s *Spec) { s.Template = "%y-{uuid}" }, Vars{}, "%y"},
		{"trailing percent", func(s *Spec) { s.Template = "{uuid}%" }, Vars{}, "at the end"},
		{"end in a directory", func(s *Spec) { s.Template = "{end}/{start}.pcap" }, Vars{}, "{end}"},
		{"same name for every file", func(s *Spec) { s.Template = "{topic}-{partition}.pcap" }, Vars{Topic: "t"}, "same name"},
		{"date only", func(s *Spec) { s.Template = "%Y%m%d/%H%M.pcap" }, Vars{}, "same name"},
		{"temporary suffix", func(s *Spec) { s.Template = "{uuid}.inprogress" }, Vars{}, ".inprogress"},
		{"sidecar suffix", func(s *Spec) { s.Template = "{uuid}.idx" }, Vars{}, "sidecar index's name"},
		{"dead-letter suffix", func(s *Spec) { s.Template = "{uuid}.jsonl" }, Vars{}, "dead letter's name"},
		{"dead-letter pipe suffix", func(s *Spec) { s.PipeCmd, s.PipeSuffix = []string{"cat"}, ".jsonl" }, Vars{}, "dead letter's name"},
		{"too long", func(s *Spec) { s.Template = strings.Repeat("x", 200) + "{uuid}" }, Vars{}, "too long"},
		{"no topic", func(s *Spec) { s.Template = "{topic}-{uuid}" }, Vars{}, "Vars.Topic"},
		{"topic with a slash", func(s *Spec) { s.Template = "{topic}-{uuid}" }, Vars{Topic: "a/b"}, "Vars.Topic"},
		{"hidden topic", func(s *Spec) { s.Template = "{topic}-{uuid}" }, Vars{Topic: ".t"}, "hidden"},
		{"negative partition", func(s *Spec) {}, Vars{Partition: -1}, "Vars.Partition"},
		{"negative packets", func(s *Spec) { s.MaxPackets = -1 }, Vars{}, "MaxPackets"},
		{"tiny bytes", func(s *Spec) { s.MaxBytes = 39 }, Vars{}, "MaxBytes"},
		{"negative span", func(s *Spec) { s.MaxSpan = -1 }, Vars{}, "MaxSpan"},
		{"negative slot", func(s *Spec) { s.Slot = -time.Second }, Vars{}, "Slot"},
		{"snaplen", func(s *Spec) { s.SnapLen = pcap.MaxSnapLen + 1 }, Vars{}, "SnapLen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := good
			spec.Dir = filepath.Join(t.TempDir(), "d")
			tt.edit(&spec)
			_, err := NewWriter(spec, tt.vars)
			if !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("got %v, want ErrSpec naming %q", err, tt.field)
			}
			if spec.Dir != "" {
				if _, err := os.Stat(spec.Dir); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("an invalid spec created Dir: %v", err)
				}
			}
		})
	}
}

func TestTimestampRange(t *testing.T) {
	w, err := NewWriter(Spec{Dir: t.TempDir(), Template: "{seq}", Nanos: true}, Vars{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range []int64{-1, (1 << 32) * 1e9} {
		if _, err := w.Write(ts, frame(0, 60), 60); !errors.Is(err, ErrTimestamp) {
			t.Errorf("Write at %d: %v, want ErrTimestamp", ts, err)
		}
	}
	last := int64(1<<32-1)*1e9 + 999999999
	files := writeAll(t, w, []rec{{ts: 0, size: 60}, {ts: last, size: 60}})
	checkFiles(t, Spec{Dir: w.spec.Dir, Nanos: true}, files, []rec{{ts: 0, size: 60}, {ts: last, size: 60}})
}

// listFiles returns every regular file under dir, relative.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNoFinalNameBeforeFinalize: while a file is written only its hidden
// temporary name exists; after Finalize only the final one.
func TestNoFinalNameBeforeFinalize(t *testing.T) {
	spec := Spec{Dir: t.TempDir(), Template: "%Y%m%d/all-{start}-{end}.pcap", Nanos: true}
	w, err := NewWriter(spec, Vars{})
	if err != nil {
		t.Fatal(err)
	}
	tempName := regexp.MustCompile(`^20170515/\.all-1494886105-\{end\}\.pcap\.[0-9a-f]{16}\.inprogress$`)
	for i, r := range steps(t0, 1e9, 3, 100) {
		if rot, err := w.Write(r.ts, r.data(i), 0); err != nil || rot != nil {
			t.Fatal(rot, err)
		}
		if got := listFiles(t, spec.Dir); len(got) != 1 || !tempName.MatchString(got[0]) {
			t.Fatalf("after record %d: files %q, want only the temporary file", i, got)
		}
	}
	fin, err := w.Finalize()
	if err != nil {
		t.Fatal(err)
	}
	if got := listFiles(t, spec.Dir); !slices.Equal(got, []string{"20170515/all-1494886105-1494886107.pcap"}) {
		t.Fatalf("after Finalize: files %q", got)
	}
	if fin.Path != filepath.Join(spec.Dir, "20170515/all-1494886105-1494886107.pcap") {
		t.Errorf("Finalized.Path %s", fin.Path)
	}
	if fin, err := w.Finalize(); fin != nil || err != nil {
		t.Errorf("second Finalize: %v, %v; want nil, nil", fin, err)
	}
}

// TestCollisions: a name that exists is never overwritten; the file takes
// the next numbered name.
func TestCollisions(t *testing.T) {
	dir := t.TempDir()
	// A file already there under the first name.
	if err := os.WriteFile(filepath.Join(dir, "1494886105.pcap"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Dir: dir, Template: "{start}.pcap", Nanos: true, MaxPackets: 1}
	w, err := NewWriter(spec, Vars{})
	if err != nil {
		t.Fatal(err)
	}
	recs := steps(t0, ms, 3, 100)
	files := writeAll(t, w, recs)
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f.Path))
	}
	if want := []string{"1494886105.1.pcap", "1494886105.2.pcap", "1494886105.3.pcap"}; !slices.Equal(names, want) {
		t.Errorf("names %q, want %q", names, want)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "1494886105.pcap")); string(b) != "keep" {
		t.Errorf("the existing file was changed: %q", b)
	}
	checkFiles(t, spec, files, recs)

	// No extension: the number goes at the end. Two writers share the
	// directory.
	spec = Spec{Dir: t.TempDir(), Template: "{start}", Nanos: true}
	var all []string
	for p := range int32(2) {
		w, err := NewWriter(spec, Vars{Partition: p})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range writeAll(t, w, steps(t0, ms, 2, 100)) {
			all = append(all, filepath.Base(f.Path))
		}
	}
	if want := []string{"1494886105", "1494886105.1"}; !slices.Equal(all, want) {
		t.Errorf("names %q, want %q", all, want)
	}
}

// crash leaves w's open file as a crash would: what was flushed, under
// the temporary name, and returns that name. A compressor is flushed (a
// whole block), not closed; a PipeCmd is killed.
func crash(t *testing.T, w *Writer) string {
	t.Helper()
	if err := w.pw.Flush(); err != nil {
		t.Fatal(err)
	}
	if w.comp != nil {
		if err := w.comp.(interface{ Flush() error }).Flush(); err != nil {
			t.Fatal(err)
		}
		if err := w.fbuf.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	w.close()
	tmp := w.tmp
	w.tmp = ""
	return tmp
}

func TestRecover(t *testing.T) {
	recs := steps(t0, 700*ms, 10, 100) // 116 bytes each on disk
	full := int64(24 + 10*116)
	tests := []struct {
		name    string
		cut     int64 // bytes cut off the end
		packets int64 // left, 0: discarded
	}{
		{"whole", 0, 10},
		{"cut in the data", 3, 9},
		{"cut in the record header", 110, 9},
		{"cut on a record boundary", 116, 9},
		{"one record left", 9 * 116, 1},
		{"header and part of a record", 9*116 + 100, 0},
		{"header only", 10 * 116, 0},
		{"part of the header", full - 10, 0},
		{"empty", full, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := Spec{Dir: t.TempDir(), Template: "%Y%m%d/{start}-{end}.pcap", Nanos: true}
			w, err := NewWriter(spec, Vars{})
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range recs {
				if _, err := w.Write(r.ts, r.data(i), 0); err != nil {
					t.Fatal(err)
				}
			}
			tmp := crash(t, w)
			if err := os.Truncate(tmp, full-tt.cut); err != nil {
				t.Fatal(err)
			}
			got, discarded, err := Recover(spec.Dir)
			if err != nil {
				t.Fatal(err)
			}
			if tt.packets == 0 {
				if len(got) != 0 || !slices.Equal(discarded, []string{tmp}) {
					t.Fatalf("recovered %+v, discarded %q; want %s discarded", got, discarded, tmp)
				}
				if files := listFiles(t, spec.Dir); len(files) != 0 {
					t.Errorf("files left: %q", files)
				}
				return
			}
			if len(got) != 1 || len(discarded) != 0 {
				t.Fatalf("recovered %+v, discarded %q", got, discarded)
			}
			last := recs[tt.packets-1].ts
			want := filepath.Join(spec.Dir, "20170515", fmt.Sprintf("%d-%d.pcap", t0/1e9, last/1e9))
			if got[0].Path != want || got[0].Packets != tt.packets {
				t.Errorf("recovered %+v, want %s with %d packets", got[0], want, tt.packets)
			}
			if files := listFiles(t, spec.Dir); len(files) != 1 {
				t.Errorf("files %q, want the recovered one only", files)
			}
			checkFiles(t, spec, got, recs[:tt.packets])
		})
	}
}

// TestRecoverLeavesOthers: final files and names that are not the
// Writers' temporary files are left alone; a leftover link from a crash
// inside Finalize is finished; a taken name gets a number.
func TestRecoverLeavesOthers(t *testing.T) {
	dir := t.TempDir()
	others := map[string]string{
		"final.pcap":                                   "final",
		".final.pcap.inprogress":                       "no tag",
		"x.0123456789abcdef.inprogress":                "not hidden",
		".x.0123456789ABCDEF.inprogress":               "tag not lower hex",
		".x.0123456789abcdef.inprogress.bak":           "other suffix",
		".hidden/.x.0123456789abcdef.inprogress":       "in a hidden directory",
		"sub/.x.0123456789abcde.inprogress":            "short tag",
		"sub/..x.0123456789abcdef.inprogress":          "hidden base",
		"1494886105-1494886105.pcap":                   "taken name",
		"sub/pcap_pcap_1_0_uuid":                       "final",
		"sub/.broken.pcap.0123456789abcdef.inprogress": "garbage",
	}
	for name, content := range others {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec := Spec{Dir: dir, Template: "{start}-{end}.pcap", Nanos: true}
	newTemp := func(recs []rec) string {
		w, err := NewWriter(spec, Vars{})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			if _, err := w.Write(r.ts, r.data(i), 0); err != nil {
				t.Fatal(err)
			}
		}
		return crash(t, w)
	}
	// Taken name: "1494886105-1494886105.pcap" holds "taken name".
	recs := steps(t0, ms, 2, 100)
	newTemp(recs)
	// Crash between link and removal.
	linked := steps(t0+5e9, ms, 2, 100)
	tmp := newTemp(linked)
	linkedName := filepath.Join(dir, "1494886110-1494886110.pcap")
	if err := os.Link(tmp, linkedName); err != nil {
		t.Fatal(err)
	}

	got, discarded, err := Recover(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(dir, "sub/.broken.pcap.0123456789abcdef.inprogress")}; !slices.Equal(discarded, want) {
		t.Errorf("discarded %q, want %q", discarded, want)
	}
	delete(others, "sub/.broken.pcap.0123456789abcdef.inprogress")
	slices.SortFunc(got, func(a, b Finalized) int { return strings.Compare(a.Path, b.Path) })
	if len(got) != 2 || got[0].Path != filepath.Join(dir, "1494886105-1494886105.1.pcap") || got[1].Path != linkedName {
		t.Fatalf("recovered %+v", got)
	}
	checkFiles(t, spec, got[:1], recs)
	checkFiles(t, spec, got[1:], linked)
	for name, content := range others {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != content {
			t.Errorf("%s: %q, %v; want it untouched", name, b, err)
		}
	}
	if files := listFiles(t, dir); len(files) != len(others)+2 {
		t.Errorf("files %q", files)
	}
	if _, _, err := Recover(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Recover of a missing directory: %v", err)
	}
}

// FuzzRecover: whatever a temporary file holds, Recover publishes its
// whole records, as pcap.Open reads them, or discards it, and never
// panics; a plain classic pcap file is published as a prefix of itself.
func FuzzRecover(f *testing.F) {
	var buf bytes.Buffer
	pw, _ := pcap.NewWriter(&buf, true, 262144)
	for i := range 3 {
		pw.Write(pcap.Record{Timestamp: t0 + int64(i), Data: frame(i, 60+i)})
	}
	pw.Flush()
	valid := buf.Bytes()
	f.Add(valid)
	f.Add(valid[:len(valid)-5])
	f.Add(valid[:30])
	f.Add([]byte("garbage"))
	f.Add([]byte{})
	for _, format := range []pcap.Format{pcap.FormatPcap, pcap.FormatPcapNG} {
		for _, comp := range []pcap.Compression{pcap.CompressNone, pcap.CompressGzip, pcap.CompressZstd, pcap.CompressLZ4} {
			b := encodeFile(f, format, comp, true, steps(t0, ms, 3, 80))
			f.Add(b)
			f.Add(b[:len(b)*3/4])
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		tmp := filepath.Join(dir, tempBase("f-{end}.pcap", "0123456789abcdef", false))
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, discarded, err := Recover(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(got)+len(discarded) != 1 {
			t.Fatalf("recovered %v, discarded %v", got, discarded)
		}
		if files := listFiles(t, dir); len(files) != len(got) {
			t.Fatalf("files %q", files)
		}
		if len(got) == 0 {
			return
		}
		b, err := os.ReadFile(got[0].Path)
		if err != nil {
			t.Fatal(err)
		}
		c, rs := readAny(t, got[0].Path)
		if int64(len(b)) != got[0].Bytes || int64(len(rs)) != got[0].Packets || got[0].Packets == 0 {
			t.Fatalf("recovered file: %d records, %d bytes; Finalized %+v", len(rs), len(b), got[0])
		}
		if c.Format() == pcap.FormatPcap && c.Compression() == pcap.CompressNone && !bytes.HasPrefix(data, b) {
			t.Fatalf("recovered %d bytes, not a prefix of the %d written", len(b), len(data))
		}
		want := wholeRecordsOf(data)
		if len(want) < len(rs) {
			t.Fatalf("recovered %d records from %d whole ones", len(rs), len(want))
		}
		for i, r := range rs {
			w := want[i]
			if r.Timestamp != w.Timestamp || r.OrigLen != max(w.OrigLen, uint32(len(w.Data))) && r.OrigLen != w.OrigLen || !bytes.Equal(r.Data, w.Data) {
				t.Fatalf("record %d: ts %d orig %d len %d, the torn file's: ts %d orig %d len %d", i, r.Timestamp, r.OrigLen, len(r.Data), w.Timestamp, w.OrigLen, len(w.Data))
			}
		}
		if want := fmt.Sprintf("f-%d.pcap", got[0].Last/1e9); filepath.Base(got[0].Path) != want {
			t.Fatalf("name %s, want %s", got[0].Path, want)
		}
	})
}

func TestTick(t *testing.T) {
	wall := time.Unix(0, minute-20e9) // 20 s before a minute boundary
	newWriter := func(t *testing.T, spec Spec) *Writer {
		spec.Dir, spec.Template, spec.Nanos = t.TempDir(), "{seq}.pcap", true
		w, err := NewWriter(spec, Vars{})
		if err != nil {
			t.Fatal(err)
		}
		w.now = func() time.Time { return wall }
		return w
	}
	write := func(t *testing.T, w *Writer, ts int64) {
		if rot, err := w.Write(ts, frame(0, 60), 0); err != nil || rot != nil {
			t.Fatal(rot, err)
		}
	}
	tick := func(t *testing.T, w *Writer, now time.Time, want int) {
		t.Helper()
		got, err := w.Tick(now)
		if err != nil || len(got) != want {
			t.Fatalf("Tick(%v): %d files, %v; want %d", now.Sub(wall), len(got), err, want)
		}
		if want > 0 {
			oracles(t, got)
		}
	}

	t.Run("slot", func(t *testing.T) {
		w := newWriter(t, Spec{Slot: time.Minute})
		tick(t, w, wall, 0) // no file
		write(t, w, wall.UnixNano())
		tick(t, w, wall.Add(time.Minute), 0) // written since the last Tick
		tick(t, w, wall.Add(10*time.Second), 0)
		tick(t, w, wall.Add(20*time.Second-1), 0)
		tick(t, w, wall.Add(20*time.Second), 1) // the minute is over
		tick(t, w, wall.Add(time.Hour), 0)
	})
	t.Run("busy file stays open", func(t *testing.T) {
		w := newWriter(t, Spec{Slot: time.Minute})
		for i := range 5 {
			write(t, w, wall.UnixNano()+int64(i))
			tick(t, w, wall.Add(time.Duration(i)*time.Hour), 0)
		}
		if fin, err := w.Finalize(); err != nil || fin.Packets != 5 {
			t.Fatal(fin, err)
		}
	})
	t.Run("old packets", func(t *testing.T) {
		w := newWriter(t, Spec{Slot: time.Minute})
		write(t, w, wall.Add(-time.Hour).UnixNano()) // its slot ended long ago
		tick(t, w, wall, 0)
		tick(t, w, wall, 1)
	})
	t.Run("packets from the future", func(t *testing.T) {
		w := newWriter(t, Spec{Slot: time.Minute})
		write(t, w, wall.Add(24*time.Hour).UnixNano())
		tick(t, w, wall, 0)
		tick(t, w, wall.Add(20*time.Second-1), 0)
		tick(t, w, wall.Add(20*time.Second), 1) // the wall clock's slot is over
	})
	t.Run("span", func(t *testing.T) {
		w := newWriter(t, Spec{MaxSpan: 30 * time.Second})
		write(t, w, t0)
		tick(t, w, wall, 0)
		tick(t, w, wall.Add(30*time.Second-1), 0)
		tick(t, w, wall.Add(30*time.Second), 1)
	})
	t.Run("full", func(t *testing.T) {
		w := newWriter(t, Spec{MaxPackets: 2, Slot: time.Minute})
		write(t, w, wall.UnixNano())
		tick(t, w, wall, 0)
		write(t, w, wall.UnixNano()+1)
		tick(t, w, wall, 1) // full: closed though written since the last Tick
	})
	t.Run("no rule", func(t *testing.T) {
		w := newWriter(t, Spec{MaxPackets: 100})
		write(t, w, t0)
		tick(t, w, wall, 0)
		tick(t, w, wall.Add(1000*time.Hour), 0)
		if err := w.Abort(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAbort(t *testing.T) {
	spec := Spec{Dir: t.TempDir(), Template: "{seq}.pcap", Nanos: true}
	w, err := NewWriter(spec, Vars{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort with no file: %v", err)
	}
	for i := range 3 {
		if _, err := w.Write(t0+int64(i), frame(i, 60), 0); err != nil {
			t.Fatal(err)
		}
	}
	if len(listFiles(t, spec.Dir)) != 1 {
		t.Fatal("no temporary file")
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if files := listFiles(t, spec.Dir); len(files) != 0 {
		t.Fatalf("files after Abort: %q", files)
	}
	// The Writer goes on.
	recs := steps(t0, 1, 2, 60)
	files := writeAll(t, w, recs)
	if len(files) != 1 || filepath.Base(files[0].Path) != "1.pcap" {
		t.Fatalf("after Abort: %+v", files)
	}
	checkFiles(t, spec, files, recs)
}

// TestStickyError: after an I/O error on the open file, the Writer
// refuses to go on until Abort.
func TestStickyError(t *testing.T) {
	spec := Spec{Dir: t.TempDir(), Template: "{seq}.pcap", Nanos: true}
	w, err := NewWriter(spec, Vars{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(t0, frame(0, 60), 0); err != nil {
		t.Fatal(err)
	}
	w.f.Close() // the flush in Finalize fails
	_, err1 := w.Finalize()
	_, err2 := w.Write(t0, frame(0, 60), 0)
	_, err3 := w.Tick(time.Now())
	for _, err := range []error{err1, err2, err3} {
		if !errors.Is(err, os.ErrClosed) {
			t.Fatalf("got %v, want the file's error", err)
		}
	}
	if files := listFiles(t, spec.Dir); len(files) != 1 || !strings.HasPrefix(files[0], ".") {
		t.Fatalf("files %q, want the temporary file kept", files)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	recs := steps(t0, 1, 2, 60)
	checkFiles(t, spec, writeAll(t, w, recs), recs)
}

// TestDirCreated: Dir and the template's directories are created.
func TestDirCreated(t *testing.T) {
	spec := Spec{Dir: filepath.Join(t.TempDir(), "a", "b"), Template: "%Y/%m/{seq}.pcap", Nanos: true}
	w, err := NewWriter(spec, Vars{})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(spec.Dir); err != nil || !fi.IsDir() {
		t.Fatalf("Dir: %v", err)
	}
	files := writeAll(t, w, steps(t0, 1, 1, 60))
	if want := filepath.Join(spec.Dir, "2017", "05", "0.pcap"); files[0].Path != want {
		t.Errorf("%s, want %s", files[0].Path, want)
	}
	// A directory removed under a running Writer is made again.
	if err := os.RemoveAll(filepath.Join(spec.Dir, "2017")); err != nil {
		t.Fatal(err)
	}
	files = writeAll(t, w, steps(t0, 1, 1, 60))
	if want := filepath.Join(spec.Dir, "2017", "05", "1.pcap"); files[0].Path != want {
		t.Errorf("%s, want %s", files[0].Path, want)
	}
}

func TestTempNames(t *testing.T) {
	for _, base := range []string{"a.pcap", "pcap_t_1_0_" + newUUID(), "1-{end}.pcap", "x"} {
		for _, piped := range []bool{false, true} {
			name := tempBase(base, randomHex(tagBytes), piped)
			if got, p, ok := parseTempName(name); !ok || got != base || p != piped {
				t.Errorf("parseTempName(%q) = %q, %v, %v; want %q, %v", name, got, p, ok, base, piped)
			}
			if parseRecoverName(name) {
				t.Errorf("%q taken for a rewrite", name)
			}
		}
		name := strings.TrimSuffix(tempBase(base, randomHex(tagBytes), false), tempSuffix) + recoverSuffix
		if !parseRecoverName(name) {
			t.Errorf("parseRecoverName(%q) = false", name)
		}
	}
	for _, c := range []struct{ base, ext, want string }{
		{"a.pcap", "", "a.2.pcap"},
		{".pcap", "", ".pcap.2"},
		{"a.pcapng", "", "a.2.pcapng"},
		{"a.pcap.gz", ".gz", "a.2.pcap.gz"},
		{"a.pcapng.zst", ".zst", "a.2.pcapng.zst"},
		{"pcap_t_1_0_u.lz4", ".lz4", "pcap_t_1_0_u.2.lz4"},
		{"a.pcap.xz", ".xz", "a.2.pcap.xz"},
		{"a.pcap", ".xz", "a.2.pcap"},
		{"x", "", "x.2"},
	} {
		if got := suffixed(c.base, 2, c.ext); got != c.want {
			t.Errorf("suffixed(%q, 2, %q) = %q, want %q", c.base, c.ext, got, c.want)
		}
	}
}
