package sink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/fastcapa-go/fastcapa/kafka"
	"github.com/fastcapa-go/fastcapa/store"
)

// Format is how a Kafka record carries a packet.
type Format int

const (
	// FromKey: key = 8-byte big-endian timestamp in KeyUnit, value = the
	// raw frame (what fastcapa writes; Metron's FROM_KEY), its first
	// bytes if the record has a kafka.OrigLenHeader giving the wire
	// length.
	FromKey Format = iota
	// FromValue: value = a pcap record header (16 bytes, little-endian,
	// microseconds) and the frame, optionally after a pcap global header
	// (Metron's FROM_VALUE); the key and any orig_len header are
	// ignored: the record header's own orig_len is the wire length.
	FromValue
)

// Packet is one decoded record.
type Packet struct {
	Timestamp int64 // ns since the epoch
	OrigLen   uint32
	Data      []byte
}

// Decoder turns records into packets.
type Decoder struct {
	Format  Format
	KeyUnit int64         // ns per key unit: 1, 1000, 1000000
	Window  time.Duration // timestamps further than this from now are refused (0: any)
	Now     func() time.Time
}

// Errors a record can fail with; each is a dead-letter reason. A time
// the capture files cannot hold is also one: store.ErrTimestamp.
var (
	ErrShortKey  = errors.New("key is not 8 bytes")
	ErrBadHeader = errors.New("value does not start with a pcap record header")
	ErrWindow    = errors.New("timestamp outside the sanity window")
	// ErrOrigLen (kafka.ErrOrigLen, the same error): a FROM_KEY
	// record's orig_len header is not one decimal number from
	// len(value) to 2^32-1, or there are several.
	ErrOrigLen = kafka.ErrOrigLen
)

// Decode decodes one record and its headers. data aliases value. A
// packet it returns can be stored by every target: its time is within
// the range of the capture formats (store.CheckTimestamp), its data may
// be empty (a 0-byte capture record, as libpcap writes), and OrigLen is
// at least len(Data). What it refuses is dead-lettered.
func (d *Decoder) Decode(key, value []byte, headers []ck.Header) (Packet, error) {
	var p Packet
	switch d.Format {
	case FromKey:
		if len(key) != 8 {
			return p, fmt.Errorf("%w (%d bytes)", ErrShortKey, len(key))
		}
		unit := uint64(max(d.KeyUnit, 1))
		k := binary.BigEndian.Uint64(key)
		if k > uint64(store.MaxTimestamp)/unit {
			return p, fmt.Errorf("%w: key %#016x is %d s after the epoch, past %s", store.ErrTimestamp, k, k/(1e9/unit),
				time.Unix(0, store.MaxTimestamp).UTC().Format(time.RFC3339Nano))
		}
		orig, err := origLen(headers, len(value))
		if err != nil {
			return p, err
		}
		p = Packet{Timestamp: int64(k * unit), OrigLen: orig, Data: value}
	case FromValue:
		v := value
		if len(v) >= 24 && (binary.LittleEndian.Uint32(v) == 0xa1b2c3d4) {
			v = v[24:] // a whole one-record pcap: skip the global header
		}
		if len(v) < 16 {
			return p, fmt.Errorf("%w (%d bytes)", ErrBadHeader, len(value))
		}
		sec, usec := binary.LittleEndian.Uint32(v), binary.LittleEndian.Uint32(v[4:])
		incl, orig := binary.LittleEndian.Uint32(v[8:]), binary.LittleEndian.Uint32(v[12:])
		if usec >= 1e6 || int64(incl) != int64(len(v)-16) || orig < incl {
			return p, fmt.Errorf("%w (caplen %d, %d bytes follow)", ErrBadHeader, incl, len(v)-16)
		}
		// 32-bit seconds and microseconds: always within the range.
		p = Packet{Timestamp: int64(sec)*1e9 + int64(usec)*1e3, OrigLen: orig, Data: v[16:]}
	}
	if d.Window > 0 {
		now := time.Now()
		if d.Now != nil {
			now = d.Now()
		}
		if t := time.Unix(0, p.Timestamp); t.Before(now.Add(-d.Window)) || t.After(now.Add(d.Window)) {
			return Packet{}, fmt.Errorf("%w: %s", ErrWindow, t.UTC().Format(time.RFC3339Nano))
		}
	}
	return p, nil
}

// origLen is the wire length of a FROM_KEY frame of n bytes: its one
// orig_len header, if it has one, else n.
func origLen(headers []ck.Header, n int) (uint32, error) {
	orig, found := uint32(n), false
	for _, h := range headers {
		if h.Key != kafka.OrigLenHeader {
			continue
		}
		if found {
			return 0, fmt.Errorf("%w: more than one", ErrOrigLen)
		}
		v, err := kafka.ParseOrigLen(h.Value)
		if err != nil {
			return 0, err
		}
		if uint64(v) < uint64(n) {
			return 0, fmt.Errorf("%w: %d is under the %d bytes of the frame", ErrOrigLen, v, n)
		}
		orig, found = v, true
	}
	return orig, nil
}
