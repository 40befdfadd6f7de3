package pcaptest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// File is how WriteCapture writes a capture. The zero File is a plain
// classic pcap with nanosecond timestamps and libpcap's maximum snapshot
// length.
type File struct {
	Format      pcap.Format
	Compression pcap.Compression
	Micro       bool   // microsecond timestamps, else nanosecond
	SnapLen     uint32 // 0: pcap.MaxSnapLen
}

// WriteCapture writes recs to path as an Ethernet capture with package
// pcap's writers, and returns them as they read back: timestamps at the
// file's precision, data cut to its snapshot length, original lengths at
// least the data's.
func WriteCapture(tb testing.TB, path string, f File, recs []pcap.Record) []pcap.Record {
	tb.Helper()
	return write(tb, path, f, pcap.LinkTypeEthernet, false, recs)
}

// WriteLinkType writes recs to path as a plain classic pcap of any link
// type (LINKTYPE_), nanosecond, of libpcap's maximum snapshot length,
// each record's original length as given even below its captured length
// (as some damaged captures hold it; pcap's writers raise it). Records
// over the snapshot length are cut to it.
func WriteLinkType(tb testing.TB, path string, linkType uint32, recs []pcap.Record) {
	tb.Helper()
	write(tb, path, File{}, linkType, true, recs)
}

// write is WriteCapture, or with origLenAsGiven (a classic pcap File
// only) WriteLinkType.
func write(tb testing.TB, path string, f File, linkType uint32, origLenAsGiven bool, recs []pcap.Record) []pcap.Record {
	tb.Helper()
	snapLen := f.SnapLen
	if snapLen == 0 {
		snapLen = pcap.MaxSnapLen
	}
	var raw bytes.Buffer
	w, err := pcap.NewFormatWriter(&raw, f.Format, !f.Micro, snapLen)
	if err != nil {
		tb.Fatal(err)
	}
	limit := pcap.RecordLimit(snapLen)
	out := make([]pcap.Record, 0, len(recs))
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			tb.Fatal(err)
		}
		if !origLenAsGiven {
			r.OrigLen = max(r.OrigLen, uint32(len(r.Data)))
		}
		if uint32(len(r.Data)) > limit {
			r.Data = r.Data[:limit]
		}
		if f.Micro {
			r.Timestamp -= r.Timestamp % 1000
		}
		out = append(out, pcap.Record{Timestamp: r.Timestamp, OrigLen: r.OrigLen, Data: r.Data, LinkType: linkType})
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	b := raw.Bytes()
	if origLenAsGiven {
		// pcap's writers write Ethernet: the link type is the classic
		// global header's last field. Each record is a 16-byte header,
		// its original length last, then its captured bytes.
		binary.LittleEndian.PutUint32(b[20:], linkType)
		off := 24
		for _, r := range out {
			binary.LittleEndian.PutUint32(b[off+12:], r.OrigLen)
			off += 16 + len(r.Data)
		}
	}
	file, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer file.Close()
	cw, err := pcap.NewCompressor(file, f.Compression, 0)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := cw.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := cw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := file.Close(); err != nil {
		tb.Fatal(err)
	}
	if linkType != pcap.LinkTypeEthernet {
		c, err := pcap.OpenFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		defer c.Close()
		if ifs := c.Interfaces(); len(ifs) != 1 || ifs[0].LinkType != linkType {
			tb.Fatalf("%s: interfaces %+v, want one of link type %d", path, ifs, linkType)
		}
	}
	return out
}

// ReadAll reads every record of any capture file (as pcap.OpenFile); an
// error fails the test.
func ReadAll(tb testing.TB, path string) []pcap.Record {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	return read(tb, path, f)
}

// Read reads every record of a capture stream (as pcap.Open); an error
// fails the test.
func Read(tb testing.TB, r io.Reader) []pcap.Record {
	tb.Helper()
	return read(tb, "capture", r)
}

// read is Read, name saying which capture in messages.
func read(tb testing.TB, name string, r io.Reader) []pcap.Record {
	tb.Helper()
	c, err := pcap.Open(r)
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	defer c.Close()
	recs, err := pcap.ReadAll(c)
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return recs
}

// Diff describes the first difference between two lists of records
// (time, original length, captured bytes; not link type or interface),
// or returns "" when they are the same.
func Diff(want, got []pcap.Record) string {
	for i := 0; i < len(want) || i < len(got); i++ {
		switch {
		case i >= len(got):
			return fmt.Sprintf("want %d packets, got %d; first missing #%d ts %d len %d", len(want), len(got), i, want[i].Timestamp, want[i].OrigLen)
		case i >= len(want):
			return fmt.Sprintf("want %d packets, got %d; first extra #%d ts %d len %d", len(want), len(got), i, got[i].Timestamp, got[i].OrigLen)
		case want[i].Timestamp != got[i].Timestamp || want[i].OrigLen != got[i].OrigLen || !bytes.Equal(want[i].Data, got[i].Data):
			return fmt.Sprintf("packet #%d of %d differs: want ts %d len %d caplen %d, got ts %d len %d caplen %d",
				i, len(want), want[i].Timestamp, want[i].OrigLen, len(want[i].Data), got[i].Timestamp, got[i].OrigLen, len(got[i].Data))
		}
	}
	return ""
}

// TcpdumpError is tcpdump exiting with an error: refusing a filter, or
// stopping at a record libpcap finds corrupt.
type TcpdumpError struct {
	Args   []string
	Err    error  // from exec
	Stderr string // all tcpdump wrote there
}

func (e *TcpdumpError) Error() string {
	return fmt.Sprintf("tcpdump %q: %v: %s", e.Args, e.Err, e.Message())
}

func (e *TcpdumpError) Unwrap() error { return e.Err }

// Message is tcpdump's error line without its "tcpdump: ", or the first
// line of its stderr that is not "reading from …".
func (e *TcpdumpError) Message() string {
	var first string
	s := bufio.NewScanner(strings.NewReader(e.Stderr))
	for s.Scan() {
		if m, ok := strings.CutPrefix(s.Text(), "tcpdump: "); ok {
			return m
		}
		if l := strings.TrimSpace(s.Text()); first == "" && l != "" && !strings.HasPrefix(l, "reading from") {
			first = l
		}
	}
	if first != "" {
		return first
	}
	return strings.TrimSpace(e.Stderr)
}

// Tcpdump is the oracle: the records tcpdump (binary bin) keeps of files
// for the filter expr ("": every record), as
// `tcpdump --time-stamp-precision=nano -r FILE -w - expr`. Several files
// are read one after the other in one run (-V, a list of files) at
// microseconds: tcpdump 4.99 opens the files after the first at the
// default precision. If tcpdump fails it returns the records it wrote
// before it stopped, with a *TcpdumpError.
func Tcpdump(ctx context.Context, bin string, files []string, expr string) ([]pcap.Record, error) {
	var args []string
	if len(files) == 1 {
		args = append(args, "--time-stamp-precision=nano", "-r", files[0])
	} else {
		list, err := os.CreateTemp("", "tcpdump-files-*")
		if err != nil {
			return nil, fmt.Errorf("tcpdump file list: %w", err)
		}
		defer os.Remove(list.Name())
		_, err = list.WriteString(strings.Join(files, "\n") + "\n")
		if cerr := list.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("tcpdump file list: %w", err)
		}
		args = append(args, "-V", list.Name())
		if os.Geteuid() == 0 {
			// As root, tcpdump opens the files after the first once
			// it has become its own user: stay root to read them.
			args = append(args, "-Z", "root")
		}
	}
	args = append(args, "-w", "-")
	if expr != "" {
		args = append(args, expr)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	if len(files) > 1 && len(out) >= 24 {
		// tcpdump -V writes every file's records under the first
		// file's header (in the host's byte order): its snapshot length
		// is not theirs, and a longer one would be read cut.
		binary.NativeEndian.PutUint32(out[16:], 0)
	}
	var recs []pcap.Record
	var readErr error
	if len(out) > 0 {
		var r *pcap.Reader
		if r, readErr = pcap.NewReader(bytes.NewReader(out)); readErr == nil {
			recs, readErr = pcap.ReadAll(r)
		}
	}
	var ee *exec.ExitError
	switch {
	case errors.As(runErr, &ee):
		return recs, &TcpdumpError{Args: args, Err: runErr, Stderr: stderr.String()}
	case runErr != nil:
		return nil, fmt.Errorf("tcpdump: %w", runErr)
	case readErr != nil:
		return recs, fmt.Errorf("tcpdump %q: its output: %w (stderr %q)", args, readErr, stderr.String())
	}
	return recs, nil
}

// TcpdumpKeeps is Tcpdump over one file with the tcpdump on PATH
// (testenv.RequireTool); an error fails the test.
func TcpdumpKeeps(tb testing.TB, path, expr string) []pcap.Record {
	tb.Helper()
	recs, err := Tcpdump(context.Background(), testenv.RequireTool(tb, "tcpdump"), []string{path}, expr)
	if err != nil {
		tb.Fatal(err)
	}
	return recs
}

// Listen runs tcpdump on interface dev inside network namespace netns
// ("": this one) with args added (such as "-Q", "in"), writing what it
// captures whole to a file, from when it says it listens. stop ends it
// (SIGINT, after 300 ms for frames in flight) and returns the frames and
// the summary tcpdump printed ("N packets captured; ...; M packets
// dropped by kernel"): the caller checks the drops.
func Listen(tb testing.TB, netns, dev string, args ...string) (stop func() ([]pcap.Record, string)) {
	tb.Helper()
	bin := testenv.RequireTool(tb, "tcpdump")
	path := filepath.Join(tb.TempDir(), dev+".pcap")
	argv := append([]string{bin, "-i", dev, "-n", "--immediate-mode", "-U", "-s", "0", "-w", path}, args...)
	if netns != "" {
		argv = append([]string{"ip", "netns", "exec", netns}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill() })
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.Contains(sc.Text(), "listening on") {
	}
	var tail []string
	done := make(chan struct{})
	go func() {
		for sc.Scan() {
			tail = append(tail, sc.Text())
		}
		close(done)
	}()
	return func() ([]pcap.Record, string) {
		time.Sleep(300 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGINT)
		<-done
		cmd.Wait()
		return ReadAll(tb, path), strings.Join(tail, "; ")
	}
}
