package sink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/fastcapa-go/fastcapa/store"
)

// Format is how a Kafka record carries a packet.
type Format int

const (
	// FromKey: key = 8-byte big-endian timestamp in KeyUnit, value = the
	// raw frame (what fastcapa writes; Metron's FROM_KEY).
	FromKey Format = iota
	// FromValue: value = a pcap record header (16 bytes, little-endian,
	// microseconds) and the frame, optionally after a pcap global header
	// (Metron's FROM_VALUE); the key is ignored.
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
)

// Decode decodes one record. data aliases value. A packet it returns can
// be stored by every target: its time is within the range of the capture
// formats (store.CheckTimestamp), and its data may be empty (a 0-byte
// capture record, as libpcap writes). What it refuses is dead-lettered.
func (d *Decoder) Decode(key, value []byte) (Packet, error) {
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
		p = Packet{Timestamp: int64(k * unit), OrigLen: uint32(len(value)), Data: value}
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
