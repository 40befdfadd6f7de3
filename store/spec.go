package store

import (
	"errors"
	"fmt"
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
	// visible name (no leading '.', so no ".."), and it may contain:
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
	// take it past starts a new file (0: no limit).
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

	// Nanos makes nanosecond pcap files; false makes microsecond files,
	// and timestamps are truncated to the microsecond.
	Nanos bool

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
	// file: negative, or past 2106 (32-bit seconds).
	ErrTimestamp = errors.New("timestamp out of the pcap range")
	// ErrExists means no free final name was found for a file: its name
	// and all its numbered variants exist.
	ErrExists = errors.New("final name taken")
)

// minMaxBytes is the smallest file: a global header and one empty record.
const minMaxBytes = 24 + 16

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
	if s.MaxBytes < 0 || (s.MaxBytes > 0 && s.MaxBytes < minMaxBytes) {
		return nil, bad("MaxBytes", "%d: use 0 for no limit, or at least %d (a header and one record)", s.MaxBytes, minMaxBytes)
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
