package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

var (
	formats      = []pcap.Format{pcap.FormatPcap, pcap.FormatPcapNG}
	compressions = []pcap.Compression{pcap.CompressNone, pcap.CompressGzip, pcap.CompressZstd, pcap.CompressLZ4}
)

// decompressTool is the command that decompresses a compression to
// stdout.
func decompressTool(c pcap.Compression) []string {
	switch c {
	case pcap.CompressGzip:
		return []string{"gzip", "-dc"}
	case pcap.CompressZstd:
		return []string{"zstd", "-q", "-dc"}
	case pcap.CompressLZ4:
		return []string{"lz4", "-q", "-dc"}
	}
	return nil
}

// compressionOf tells a file's compression from its suffix.
func compressionOf(path string) pcap.Compression {
	for _, c := range compressions[1:] {
		if strings.HasSuffix(path, c.Suffix()) {
			return c
		}
	}
	return pcap.CompressNone
}

// decompress runs the compression's own command on path and returns
// what it wrote; it fails the test if the command complains.
func decompress(t *testing.T, path string) []byte {
	t.Helper()
	argv := decompressTool(compressionOf(path))
	bin := testenv.RequireTool(t, argv[0])
	var stderr bytes.Buffer
	cmd := exec.Command(bin, append(argv[1:], path)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("%s %s: %v\n%s", strings.Join(argv, " "), path, err, stderr.Bytes())
	}
	return out
}

// decompressed returns files with each compressed one replaced by what
// its command decompresses it to, in a temporary directory.
func decompressed(t *testing.T, files []Finalized) []Finalized {
	t.Helper()
	var out []Finalized
	dir := ""
	for _, f := range files {
		if compressionOf(f.Path) != pcap.CompressNone {
			if dir == "" {
				dir = t.TempDir()
			}
			p := filepath.Join(dir, strconv.Itoa(len(out))+"-"+strings.TrimSuffix(filepath.Base(f.Path), compressionOf(f.Path).Suffix()))
			if err := os.WriteFile(p, decompress(t, f.Path), 0o644); err != nil {
				t.Fatal(err)
			}
			f.Path = p
		}
		out = append(out, f)
	}
	return out
}

// encodeFile is the whole file a Writer of the format and compression
// makes of recs.
func encodeFile(t testing.TB, format pcap.Format, comp pcap.Compression, nanos bool, recs []rec) []byte {
	t.Helper()
	var buf bytes.Buffer
	cw, err := pcap.NewCompressor(&buf, comp, 0)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := pcap.NewFormatWriter(cw, format, nanos, pcap.MaxSnapLen)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if err := pw.Write(stored(Spec{Nanos: nanos}, i, r)); err != nil {
			t.Fatal(err)
		}
	}
	if err := pw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// wholeRecordsOf is what pcap.Open reads from data before the end or an
// error.
func wholeRecordsOf(data []byte) []pcap.Record {
	c, err := pcap.Open(bytes.NewReader(data))
	if err != nil {
		return nil
	}
	defer c.Close()
	rs, _ := pcap.ReadAll(c) // the whole records before the first error are the answer
	return rs
}

// tsharkAgrees pipes the file, decompressed by its command if it is
// compressed, to "tshark -r -": it must show recs' times and lengths.
func tsharkAgrees(t *testing.T, spec Spec, f Finalized, recs []rec, from int) {
	t.Helper()
	bin := testenv.RequireTool(t, "tshark")
	cmd := exec.Command(bin, "-r", "-", "-T", "fields", "-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len")
	if argv := decompressTool(compressionOf(f.Path)); argv != nil {
		dec := exec.Command(argv[0], append(argv[1:], f.Path)...)
		pipe, err := dec.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := dec.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := dec.Wait(); err != nil {
				t.Errorf("%v: %v", dec, err)
			}
		}()
		cmd.Stdin = pipe
	} else {
		file, err := os.Open(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		cmd.Stdin = file
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark -r - < %s: %v", f.Path, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if int64(len(lines)) != f.Packets {
		t.Fatalf("tshark: %d packets in %s, want %d", len(lines), f.Path, f.Packets)
	}
	for i, l := range lines {
		want := stored(spec, from+i, recs[from+i])
		ts := fmt.Sprintf("%d.%09d", want.Timestamp/1e9, want.Timestamp%1e9)
		if l != fmt.Sprintf("%s\t%d\t%d", ts, want.OrigLen, len(want.Data)) {
			t.Fatalf("tshark: packet %d of %s: %q, want %s %d %d", i+1, f.Path, l, ts, want.OrigLen, len(want.Data))
		}
	}
}

// TestFormats: files of every format and compression, nanosecond and
// microsecond, rotated by MaxBytes (capture bytes), read back by
// pcap.OpenFile with every record byte-exact; Finalized gives the size on
// disk and the capture size; gzip/zstd/lz4 decompress them without
// complaint to that size, capinfos and tcpdump agree on every file and
// "tshark -r -" on every packet of the first. Some records are of 0
// bytes, as libpcap writes them.
func TestFormats(t *testing.T) {
	recs := steps(t0+123, 7*ms+321, 200, 300)
	for i := range recs {
		recs[i].size = 60 + i*37%1400
		if i%23 == 1 {
			recs[i].size = 0
		}
	}
	for _, format := range formats {
		for _, comp := range compressions {
			for _, nanos := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s/%s/nanos=%v", format, comp, nanos), func(t *testing.T) {
					t.Parallel()
					spec := Spec{Dir: t.TempDir(), Template: "%Y/{seq}-{start}-{end}." + format.String(), Nanos: nanos,
						Format: format, Compression: comp, MaxBytes: 64 << 10}
					w, err := NewWriter(spec, Vars{})
					if err != nil {
						t.Fatal(err)
					}
					files := writeAll(t, w, recs)
					if len(files) < 3 {
						t.Fatalf("%d files: MaxBytes did not rotate", len(files))
					}
					checkFiles(t, spec, files, recs)
					tsharkAgrees(t, spec, files[0], recs, 0)
					for _, f := range files {
						if want := "." + format.String() + comp.Suffix(); !strings.HasSuffix(f.Path, want) {
							t.Errorf("%s: want the suffix %s", f.Path, want)
						}
						if comp != pcap.CompressNone && f.Bytes >= f.CaptureBytes {
							t.Errorf("%s: %d bytes on disk for %d capture bytes", f.Path, f.Bytes, f.CaptureBytes)
						}
						if comp != pcap.CompressNone && int64(len(decompress(t, f.Path))) != f.CaptureBytes {
							t.Errorf("%s: does not decompress to its %d capture bytes", f.Path, f.CaptureBytes)
						}
					}
				})
			}
		}
	}
}

// TestCompressionLevels: every level in range makes a file read back
// whole; one out of range is a Spec error naming the field.
func TestCompressionLevels(t *testing.T) {
	recs := steps(t0, ms, 50, 500)
	for _, comp := range compressions[1:] {
		lo, hi := comp.Levels()
		for level := lo; level <= hi; level++ {
			spec := Spec{Dir: t.TempDir(), Template: "{seq}.pcap", Nanos: true, Compression: comp, CompressionLevel: level}
			w, err := NewWriter(spec, Vars{})
			if err != nil {
				t.Fatal(err)
			}
			readBack(t, spec, writeAll(t, w, recs), recs)
		}
		_, err := NewWriter(Spec{Dir: t.TempDir(), Template: "{seq}", Compression: comp, CompressionLevel: hi + 1}, Vars{})
		if !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), "CompressionLevel") {
			t.Errorf("%s level %d: %v", comp, hi+1, err)
		}
	}
}

func TestFormatInvalid(t *testing.T) {
	for _, c := range []struct {
		spec  Spec
		field string
	}{
		{Spec{Format: 7}, "Format"},
		{Spec{Compression: 9}, "Compression"},
		{Spec{CompressionLevel: 3}, "CompressionLevel"},
		{Spec{Compression: pcap.CompressGzip, PipeCmd: []string{"gzip", "-c"}}, "PipeCmd"},
		{Spec{PipeCmd: []string{""}}, "PipeCmd"},
		{Spec{PipeCmd: []string{"no-such-command-here"}}, "PipeCmd"},
		{Spec{PipeSuffix: ".gz"}, "PipeSuffix"},
		{Spec{PipeCmd: []string{"cat"}, PipeSuffix: "/x"}, "PipeSuffix"},
		{Spec{Format: pcap.FormatPcapNG, Nanos: true, MaxBytes: 91}, "MaxBytes"},
	} {
		c.spec.Dir, c.spec.Template = t.TempDir(), "{seq}"
		if err := c.spec.Validate(); !errors.Is(err, ErrSpec) || !strings.HasPrefix(err.Error(), c.field+":") {
			t.Errorf("%+v: %v, want an error naming %s", c.spec, err, c.field)
		}
	}
	if err := (Spec{Dir: "d", Template: "{seq}", Format: pcap.FormatPcapNG, Nanos: true, MaxBytes: 92}).Validate(); err != nil {
		t.Errorf("MaxBytes of a pcapng header and one empty record: %v", err)
	}
}

// children lists this process's children (pid: state) from /proc.
func children(t *testing.T) map[int]string {
	t.Helper()
	out := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			out[pid] = f[0]
		}
	}
	return out
}

// noChildren fails if a child process is left, zombie or not.
func noChildren(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		c := children(t)
		if len(c) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("child processes left: %v", c)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPipe: PipeCmd's output is the file, with PipeSuffix; gzip -c and a
// shell running zstd make files that read back whole and that the tools
// agree on. Nothing is left running.
func TestPipe(t *testing.T) {
	recs := steps(t0, 3*ms, 120, 700)
	for _, c := range []struct {
		argv   []string
		suffix string
	}{
		{[]string{"gzip", "-c"}, ".gz"},
		{[]string{"sh", "-c", "zstd -q -c -3"}, ".zst"},
		{[]string{"cat"}, ""},
	} {
		t.Run(c.argv[0], func(t *testing.T) {
			testenv.RequireTool(t, "zstd")
			spec := Spec{Dir: t.TempDir(), Template: "{seq}.pcap", Nanos: true, MaxPackets: 50, PipeCmd: c.argv, PipeSuffix: c.suffix}
			w, err := NewWriter(spec, Vars{})
			if err != nil {
				t.Fatal(err)
			}
			files := writeAll(t, w, recs)
			if got := counts(files); !slices.Equal(got, []int64{50, 50, 20}) {
				t.Fatalf("packets per file %v", got)
			}
			checkFiles(t, spec, files, recs)
			for i, f := range files {
				if f.Path != filepath.Join(spec.Dir, fmt.Sprintf("%d.pcap%s", i, c.suffix)) {
					t.Errorf("file %d: %s", i, f.Path)
				}
			}
			tsharkAgrees(t, spec, files[0], recs, 0)
			noChildren(t)
		})
	}
}

// TestPipeFails: a command that exits non-zero, is killed, stops reading
// or does not exit makes Write or Finalize fail with ErrPipe and its
// stderr; the file is never published; the error sticks until Abort,
// which removes the temporary file; no process is left, zombie or not.
func TestPipeFails(t *testing.T) {
	for _, c := range []struct {
		name string
		argv []string
		want string // in the error
	}{
		{"exit status", []string{"sh", "-c", "cat >/dev/null; echo 'no space left' >&2; exit 3"}, `exit status 3; stderr: "no space left"`},
		{"exits at once", []string{"sh", "-c", "echo bad option >&2; exit 2"}, `stderr: "bad option"`},
		{"killed", []string{"sh", "-c", "head -c 1000 >/dev/null; kill -9 $$"}, "signal: killed"},
		{"stops reading", []string{"head", "-c", "100"}, "stopped reading"},
		{"hangs", []string{"sh", "-c", "cat >/dev/null; echo hanging >&2; sleep 600"}, "killed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := Spec{Dir: t.TempDir(), Template: "{seq}.pcap", Nanos: true, PipeCmd: c.argv}
			w, err := NewWriter(spec, Vars{})
			if err != nil {
				t.Fatal(err)
			}
			w.pipeWait = 300 * time.Millisecond
			var werr error
			for i, r := range steps(t0, ms, 2000, 1000) {
				if _, werr = w.Write(r.ts, r.data(i), 0); werr != nil {
					break
				}
			}
			fin, ferr := w.Finalize()
			err = werr
			if err == nil {
				err = ferr
			}
			if fin != nil || ferr == nil {
				t.Fatalf("Finalize: %+v, %v; want an error", fin, ferr)
			}
			if !errors.Is(err, ErrPipe) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want ErrPipe with %q", err, c.want)
			}
			t.Log(err)
			if _, err := w.Tick(time.Now()); !errors.Is(err, ErrPipe) {
				t.Errorf("Tick after the failure: %v", err)
			}
			if files := listFiles(t, spec.Dir); len(files) != 1 || !strings.HasPrefix(files[0], ".") {
				t.Errorf("files %q, want only the temporary file", files)
			}
			noChildren(t)
			if err := w.Abort(); err != nil {
				t.Fatal(err)
			}
			if files := listFiles(t, spec.Dir); len(files) != 0 {
				t.Errorf("files after Abort: %q", files)
			}
		})
	}
	t.Run("abort kills", func(t *testing.T) {
		spec := Spec{Dir: t.TempDir(), Template: "{seq}.pcap", PipeCmd: []string{"sh", "-c", "sleep 600 & cat >/dev/null; wait"}}
		w, err := NewWriter(spec, Vars{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(t0, frame(0, 60), 0); err != nil {
			t.Fatal(err)
		}
		pgid := w.pipe.cmd.Process.Pid
		if err := w.Abort(); err != nil {
			t.Fatal(err)
		}
		noChildren(t)
		// Abort waits for the shell it started; the shell's own child,
		// killed by the same SIGKILL to the group, is reaped by init, which
		// on a loaded machine can take a moment.
		err = syscall.Kill(-pgid, 0)
		for deadline := time.Now().Add(5 * time.Second); err == nil && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
			err = syscall.Kill(-pgid, 0)
		}
		if !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process group %d still there 5 s after Abort: %v", pgid, err)
		}
		if files := listFiles(t, spec.Dir); len(files) != 0 {
			t.Errorf("files after Abort: %q", files)
		}
	})
}

// TestRecoverTorn: a temporary file of every format and compression, cut
// at many offsets, is recovered into a complete file of the same format
// and compression holding every whole record the cut file has (and at
// least as many as a shorter cut), or discarded if it has none; nothing
// else is left in the directory. The compression's command accepts the
// recovered files.
func TestRecoverTorn(t *testing.T) {
	recs := steps(t0, 900*ms, 40, 100)
	for i := range recs {
		recs[i].size = 60 + i*53%300
	}
	for _, format := range formats {
		for _, comp := range compressions {
			t.Run(format.String()+"/"+comp.String(), func(t *testing.T) {
				t.Parallel()
				full := encodeFile(t, format, comp, true, recs)
				base := "x-{end}." + format.String() + comp.Suffix()
				step := max(1, len(full)/150)
				prev := 0
				for cut := 0; cut <= len(full); cut += step {
					if cut+step > len(full) {
						cut = len(full)
					}
					data := full[:cut]
					dir := t.TempDir()
					tmp := filepath.Join(dir, tempBase(base, "0123456789abcdef", false))
					if err := os.WriteFile(tmp, data, 0o644); err != nil {
						t.Fatal(err)
					}
					got, discarded, err := RecoverWithReasons(dir)
					if err != nil {
						t.Fatal(err)
					}
					whole := wholeRecordsOf(data)
					if len(whole) == 0 {
						if len(got) != 0 || len(discarded) != 1 || discarded[0].Path != tmp {
							t.Fatalf("cut at %d: recovered %+v, discarded %+v; want it discarded", cut, got, discarded)
						}
						if files := listFiles(t, dir); len(files) != 0 {
							t.Fatalf("cut at %d: files %q", cut, files)
						}
						continue
					}
					if len(got) != 1 || len(discarded) != 0 {
						t.Fatalf("cut at %d: recovered %+v, discarded %+v", cut, got, discarded)
					}
					if len(whole) < prev {
						t.Fatalf("cut at %d: %d whole records, %d at a shorter cut", cut, len(whole), prev)
					}
					prev = len(whole)
					if cut == len(full) && len(whole) != len(recs) {
						t.Fatalf("whole file: %d records", len(whole))
					}
					f := got[0]
					last := stored(Spec{Nanos: true}, len(whole)-1, recs[len(whole)-1]).Timestamp
					if want := filepath.Join(dir, fmt.Sprintf("x-%d.%s%s", last/1e9, format, comp.Suffix())); f.Path != want {
						t.Fatalf("cut at %d: recovered %s, want %s", cut, f.Path, want)
					}
					if files := listFiles(t, dir); len(files) != 1 {
						t.Fatalf("cut at %d: files %q", cut, files)
					}
					spec := Spec{Dir: dir, Nanos: true, Format: format, Compression: comp}
					readBack(t, spec, got, recs[:len(whole)])
					if comp != pcap.CompressNone && (cut%(step*15) == 0 || cut == len(full)) {
						decompress(t, f.Path)
					}
				}
			})
		}
	}
}

// TestRecoverInterrupted: a crash inside Recover's rewrite (a
// .recovering file left beside the temporary file), or between the
// rewritten file's link and its removal, publishes the records once.
// A pipe's temporary file is discarded with its reason.
func TestRecoverInterrupted(t *testing.T) {
	recs := steps(t0, ms, 30, 200)
	for _, comp := range compressions[1:] {
		t.Run(comp.String(), func(t *testing.T) {
			spec := Spec{Dir: t.TempDir(), Template: "{start}.pcapng", Nanos: true, Format: pcap.FormatPcapNG, Compression: comp}
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
			// An interrupted rewrite: garbage under the rewrite's name.
			partial := strings.TrimSuffix(tmp, tempSuffix) + recoverSuffix
			if err := os.WriteFile(partial, []byte("half a rewrite"), 0o644); err != nil {
				t.Fatal(err)
			}
			got, discarded, err := Recover(spec.Dir)
			if err != nil || len(got) != 1 || len(discarded) != 0 {
				t.Fatalf("recovered %+v, discarded %q, %v", got, discarded, err)
			}
			readBack(t, spec, got, recs)
			if files := listFiles(t, spec.Dir); len(files) != 1 {
				t.Fatalf("files %q", files)
			}

			// Crash between link and removal: the final name is the
			// temporary file's own link.
			w, _ = NewWriter(spec, Vars{})
			linked := steps(t0+5e9, ms, 30, 200)
			for i, r := range linked {
				w.Write(r.ts, r.data(i), 0)
			}
			tmp = crash(t, w)
			got, _, err = Recover(spec.Dir)
			if err != nil || len(got) != 1 {
				t.Fatalf("recovered %+v, %v", got, err)
			}
			// Put the temporary name back on the rewritten file, as a
			// crash after Recover's link would have left it.
			final := got[0].Path
			if err := os.Link(final, tmp); err != nil {
				t.Fatal(err)
			}
			again, _, err := Recover(spec.Dir)
			if err != nil || len(again) != 1 || again[0].Path != final {
				t.Fatalf("after a crash between link and removal: %+v, %v; want %s", again, err, final)
			}
			if files := listFiles(t, spec.Dir); len(files) != 2 {
				t.Fatalf("files %q", files)
			}
			readBack(t, spec, again, linked)
		})
	}
	t.Run("pipe", func(t *testing.T) {
		spec := Spec{Dir: t.TempDir(), Template: "{seq}.pcap", PipeCmd: []string{"gzip", "-c"}, PipeSuffix: ".gz"}
		w, err := NewWriter(spec, Vars{})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			w.Write(r.ts, r.data(i), 0)
		}
		tmp := crash(t, w)
		if !strings.HasSuffix(tmp, ".pipe.inprogress") {
			t.Fatalf("temporary name %s", tmp)
		}
		got, discarded, err := RecoverWithReasons(spec.Dir)
		if err != nil || len(got) != 0 || len(discarded) != 1 || discarded[0].Path != tmp || discarded[0].Reason != reasonPiped {
			t.Fatalf("recovered %+v, discarded %+v, %v", got, discarded, err)
		}
		if files := listFiles(t, spec.Dir); len(files) != 0 {
			t.Fatalf("files %q", files)
		}
		noChildren(t)
	})
}

// errAfter returns its bytes, then err.
type errAfter struct {
	b   []byte
	err error
}

func (r *errAfter) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, r.err
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// TestWholeRecordsIOError: Recover's reading stops quietly at a torn
// record, but returns a read error (which leaves the file in place for
// the next run) instead of taking it for one.
func TestWholeRecordsIOError(t *testing.T) {
	disk := errors.New("EIO")
	for _, format := range formats {
		for _, comp := range compressions {
			full := encodeFile(t, format, comp, true, steps(t0, ms, 400, 1000))
			cut := len(full) * 2 / 3
			for _, end := range []error{io.EOF, disk} {
				c, err := pcap.Open(&errAfter{b: full[:cut], err: end})
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				err = wholeRecords(c, func(pcap.Record) error { n++; return nil })
				c.Close()
				if end == disk && !errors.Is(err, disk) || end == io.EOF && err != nil || n == 0 {
					t.Errorf("%s/%s cut, then %v: %d records, %v", format, comp, end, n, err)
				}
			}
		}
	}
}

// TestRecoverLongerThanSnapLen: a plain temporary file whose records are
// longer than its header's snapshot length (which no Writer makes, but a
// damaged header can) is truncated after its last whole record as it is
// in the file — not where the records, read cut to the snapshot length
// as libpcap reads them, would end — and tcpdump reads what is published
// without an error.
func TestRecoverLongerThanSnapLen(t *testing.T) {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, 0xa1b23c4d)
	b = le.AppendUint16(b, 2)
	b = le.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = le.AppendUint32(b, 64) // snapshot length
	b = le.AppendUint32(b, pcap.LinkTypeEthernet)
	lens := []int{100, 60, 300}
	for i, n := range lens {
		b = le.AppendUint32(b, uint32(t0/1e9)+uint32(i))
		b = le.AppendUint32(b, 0)
		b = le.AppendUint32(b, uint32(n))
		b = le.AppendUint32(b, uint32(n))
		b = append(b, bytes.Repeat([]byte{byte(i + 1)}, n)...)
	}
	whole := len(b)
	b = append(b, 1, 2, 3, 4, 5, 6, 7, 8, 9) // a torn record header
	dir := t.TempDir()
	tmp := filepath.Join(dir, tempBase("x.pcap", "0123456789abcdef", false))
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, _, err := RecoverWithReasons(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Packets != int64(len(lens)) || got[0].Bytes != int64(whole) {
		t.Fatalf("recovered %+v, want %d packets in %d bytes", got, len(lens), whole)
	}
	data, err := os.ReadFile(got[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, b[:whole]) {
		t.Fatalf("published %d bytes, want the %d whole ones", len(data), whole)
	}
	tdRecs, err := pcaptest.Tcpdump(context.Background(), testenv.RequireTool(t, "tcpdump"), []string{got[0].Path}, "")
	if err != nil {
		t.Fatalf("tcpdump on the recovered file: %v", err)
	}
	for i, n := range lens {
		if i >= len(tdRecs) {
			t.Fatalf("tcpdump's record %d: missing, want %d of %d bytes", i, min(n, 64), n)
		}
		if rec := tdRecs[i]; len(rec.Data) != min(n, 64) || rec.OrigLen != uint32(n) {
			t.Fatalf("tcpdump's record %d: %d of %d bytes, want %d of %d", i, len(rec.Data), rec.OrigLen, min(n, 64), n)
		}
	}
}
