package store

import (
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strings"
	"time"

	"github.com/fastcapa-go/fastcapa/pcap"
)

// Spec describes a stream's files. Validate checks it; NewWriter makes a
// Writer from it.
type Spec struct {
	// Dir is the base directory, created (with its parents) if missing.
	Dir string

	// Template is the file name relative to Dir. It may contain '/':
	// subdirectories are created as needed. Every element must be a
	// visible name (no leading '.', so no ".."), and the file's name,
	// suffix included, a capture's by Classify (not ending in ".idx" or
	// ".jsonl", a sidecar's or a dead letter's). It may contain:
	//
	//	{topic}      Vars.Topic
	//	{partition}  Vars.Partition, decimal
	//	{uuid}       a random version 4 UUID per file (crypto/rand)
	//	{seq}        the Writer's file counter: 0, 1, 2, …
	//	{ts}         first packet, epoch nanoseconds (Metron's unit)
	//	{start_ns}   the same as {ts}
	//	{start}      first packet, epoch seconds (FMADIO's start-end)
	//	{end}        latest packet, epoch seconds; known only at Finalize,
	//	             so it may appear only in the base name
	//	{hhmmss}     first packet, local time in Location
	//	%Y %m %d %H %M %S %j  strftime of the first packet in Location
	//	             (%j day of the year, 001–366); %% is a '%'
	//
	// Any other {name} or %verb is an error. Times are those stored in the
	// file (microsecond files: truncated to the microsecond).
	//
	// Uniqueness: a template must contain something that changes from
	// one file to the next — {uuid}, {seq}, or a packet time ({ts},
	// {start_ns}, {start}, {end}, {hhmmss}, %S) — or Validate rejects it,
	// since every file would get the same name. Only {uuid} never
	// collides. {seq} is unique within one Writer and starts again at 0
	// in the next. Packet times repeat: two files starting within one
	// second, packets replayed after a restart, a local hour repeated at
	// a daylight-saving change, two streams sharing a directory without
	// {partition}. Such a collision never overwrites a file: Finalize
	// adds a numeric suffix (see Finalize).
	//
	// Examples: Metron "pcap_{topic}_{ts}_{partition}_{uuid}" (no
	// extension, as Metron wrote), FMADIO "{start}-{end}.pcap",
	// "%Y%m%d/all-{hhmmss}.pcap".
	Template string

	// MaxPackets: a file holds at most this many records; the next
	// record starts a new file (0: no limit).
	MaxPackets int64

	// MaxBytes: a file never grows past this many bytes, headers
	// included, unless its only record is larger: the record that would
	// take it past starts a new file (0: no limit). It counts capture
	// bytes, before Compression or PipeCmd: the file on disk is smaller
	// when compressed, and whatever the command makes with PipeCmd
	// (Finalized tells both sizes).
	MaxBytes int64

	// MaxSpan: a file's packet times (latest − earliest) never span more
	// than this; a record exactly MaxSpan after the earliest still fits
	// (0: no limit). Tick also uses it on the wall clock.
	MaxSpan time.Duration

	// Slot: files never span two slots of this size by packet time.
	// Slots are aligned on the Unix epoch (60s: on the minute; 24h: UTC
	// midnight, whatever the Location); a record exactly at a boundary
	// starts the new slot (0: none). Tick also uses it on the wall clock.
	Slot time.Duration

	// Nanos makes nanosecond files (pcapng: if_tsresol 9); false makes
	// microsecond files, and timestamps are truncated to the microsecond.
	Nanos bool

	// Format is the files' format: pcap.FormatPcap (the zero value,
	// classic libpcap) or pcap.FormatPcapNG (one section, one Ethernet
	// interface, an Enhanced Packet Block per record). The template names
	// the file, extension included: write ".pcapng" in it for pcapng.
	Format pcap.Format

	// Compression compresses the files in process: pcap.CompressGzip,
	// pcap.CompressZstd or pcap.CompressLZ4 (frames); the zero value is
	// none. The template names the uncompressed file; the compression's
	// suffix (".gz", ".zst", ".lz4") is appended to it: "{seq}.pcap"
	// with zstd makes "0.pcap.zst". pcap.Open reads them all back.
	Compression pcap.Compression

	// CompressionLevel is the compressor's level: 0 for its default, else
	// within pcap.Compression.Levels (gzip 1–9, zstd 1–22, lz4 1–9).
	CompressionLevel int

	// PipeCmd, if set, is a command that each file's capture bytes are
	// piped through, as FMADIO's PipeCmd: its stdin gets the pcap or
	// pcapng stream, its stdout becomes the file. It is an argv, run
	// directly, not by a shell (give {"sh", "-c", "..."} for one); the
	// program must be found when the Spec is validated. One process per
	// file, in its own process group, started with the file; Finalize
	// closes its stdin and waits for it (a minute at most, then kills
	// the group). A command that exits non-zero, is killed, or stops
	// reading makes Write or Finalize fail with ErrPipe and the tail of
	// its stderr, and the file is never published. Exclusive with
	// Compression. Recover cannot tell what a command wrote, so it
	// discards a crashed command's temporary file (its records were never
	// committed: they are consumed again).
	PipeCmd []string

	// PipeSuffix is appended to the template's name for PipeCmd's files,
	// e.g. ".xz" with {"xz", "-c"}; it may be empty. Only with PipeCmd.
	PipeSuffix string

	// SnapLen is the files' snapshot length, 1 to pcap.MaxSnapLen (0:
	// pcap.MaxSnapLen). Longer records are cut to it; their original
	// length is kept.
	SnapLen uint32

	// Location is the time zone of {hhmmss} and the strftime verbs (nil:
	// UTC).
	Location *time.Location
}

// Vars are one stream's values for the template.
type Vars struct {
	// Topic is the Kafka topic: 1 to 249 characters of [a-zA-Z0-9._-],
	// as Kafka allows; required only if the template uses {topic}.
	Topic string
	// Partition is the Kafka partition, 0 or more.
	Partition int32
}

var (
	// ErrSpec means a Spec field or a Vars value is invalid.
	ErrSpec = errors.New("invalid store spec")
	// ErrTimestamp means a record's timestamp cannot be stored in a pcap
	// file: negative, or past MaxTimestamp (32-bit seconds). pcapng files
	// keep the same range, so that either format takes the same records.
	ErrTimestamp = errors.New("timestamp out of the pcap range")
	// ErrExists means no free final name was found for a file: its name
	// and all its numbered variants exist.
	ErrExists = errors.New("final name taken")
	// ErrPipe means the PipeCmd of a file failed: it exited non-zero, was
	// killed, or stopped reading its stdin.
	ErrPipe = errors.New("pipe command failed")
)

// MaxTimestamp is the latest time a file stores, in ns since the epoch:
// the last nanosecond of classic pcap's unsigned 32-bit seconds
// (2106-02-07T06:28:15.999999999Z). The earliest is 0.
const MaxTimestamp int64 = math.MaxUint32*1e9 + 999999999

// CheckTimestamp returns an error wrapping ErrTimestamp if a record at
// tsNanos cannot be stored: before 0 or after MaxTimestamp.
func CheckTimestamp(tsNanos int64) error {
	if tsNanos < 0 || tsNanos > MaxTimestamp {
		return fmt.Errorf("record at %d ns: %w", tsNanos, ErrTimestamp)
	}
	return nil
}

// minBytes is the smallest file of a format: its header and one empty
// record (classic pcap: 24 + 16).
func (s Spec) minBytes() int64 {
	return int64(s.Format.HeaderLen(s.Nanos) + s.Format.RecordLen(0))
}

// suffix is what is appended to the template's name.
func (s Spec) suffix() string {
	if len(s.PipeCmd) > 0 {
		return s.PipeSuffix
	}
	return s.Compression.Suffix()
}

// Validate checks every field; the error names the field and the fix.
func (s Spec) Validate() error {
	_, err := s.validate()
	return err
}

func (s Spec) validate() (*template, error) {
	bad := func(field, format string, a ...any) error {
		return fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, a...), ErrSpec)
	}
	if s.Dir == "" {
		return nil, bad("Dir", "empty: give the base directory of the files")
	}
	t, err := parseTemplate(s.Template)
	if err != nil {
		return nil, bad("Template", "%v", err)
	}
	if s.MaxPackets < 0 {
		return nil, bad("MaxPackets", "%d is negative: use 0 for no limit", s.MaxPackets)
	}
	if s.Format != pcap.FormatPcap && s.Format != pcap.FormatPcapNG {
		return nil, bad("Format", "%v: use pcap.FormatPcap or pcap.FormatPcapNG", s.Format)
	}
	if s.MaxBytes < 0 || (s.MaxBytes > 0 && s.MaxBytes < s.minBytes()) {
		return nil, bad("MaxBytes", "%d: use 0 for no limit, or at least %d (a %s header and one record)", s.MaxBytes, s.minBytes(), s.Format)
	}
	if s.MaxSpan < 0 {
		return nil, bad("MaxSpan", "%v is negative: use 0 for no limit", s.MaxSpan)
	}
	if s.Slot < 0 {
		return nil, bad("Slot", "%v is negative: use 0 for no slots", s.Slot)
	}
	if s.SnapLen > pcap.MaxSnapLen {
		return nil, bad("SnapLen", "%d is over %d, what readers accept", s.SnapLen, pcap.MaxSnapLen)
	}
	if s.Compression > pcap.CompressLZ4 {
		return nil, bad("Compression", "%v: use none, gzip, zstd or lz4", s.Compression)
	}
	if lo, hi := s.Compression.Levels(); s.CompressionLevel != 0 && (s.CompressionLevel < lo || s.CompressionLevel > hi) {
		if s.Compression == pcap.CompressNone {
			return nil, bad("CompressionLevel", "%d without Compression: set Compression, or use 0", s.CompressionLevel)
		}
		return nil, bad("CompressionLevel", "%d: use 0 (the default) or %d to %d for %s", s.CompressionLevel, lo, hi, s.Compression)
	}
	if len(s.PipeCmd) > 0 {
		if s.Compression != pcap.CompressNone {
			return nil, bad("PipeCmd", "set with Compression %s: use one or the other (the command may compress)", s.Compression)
		}
		if s.PipeCmd[0] == "" {
			return nil, bad("PipeCmd", "empty program name: give an argv such as {\"gzip\", \"-c\"}")
		}
		if _, err := exec.LookPath(s.PipeCmd[0]); err != nil {
			return nil, bad("PipeCmd", "%v: give a program on PATH or its path", err)
		}
	}
	if s.PipeSuffix != "" {
		if len(s.PipeCmd) == 0 {
			return nil, bad("PipeSuffix", "%q without PipeCmd: set PipeCmd, or use Compression (which has its own suffix)", s.PipeSuffix)
		}
		if strings.ContainsAny(s.PipeSuffix, "/\x00") {
			return nil, bad("PipeSuffix", "%q: a suffix of the file name has no '/' or NUL", s.PipeSuffix)
		}
	}
	return t, nil
}

// check checks the values the template uses.
func (v Vars) check(t *template) error {
	if t.uses[tokTopic] {
		if len(v.Topic) == 0 || len(v.Topic) > 249 {
			return fmt.Errorf("Vars.Topic %q: the template uses {topic}: give 1 to 249 characters: %w", v.Topic, ErrSpec)
		}
		for _, c := range []byte(v.Topic) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return fmt.Errorf("Vars.Topic %q: %q is not a Kafka topic character [a-zA-Z0-9._-]: %w", v.Topic, c, ErrSpec)
			}
		}
	}
	if v.Partition < 0 {
		return fmt.Errorf("Vars.Partition %d is negative: %w", v.Partition, ErrSpec)
	}
	return nil
}
