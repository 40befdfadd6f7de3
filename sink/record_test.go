package sink

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

func key(v uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], v)
	return k[:]
}

func recHeader(sec, usec, incl, orig uint32) []byte {
	h := make([]byte, 16)
	binary.LittleEndian.PutUint32(h, sec)
	binary.LittleEndian.PutUint32(h[4:], usec)
	binary.LittleEndian.PutUint32(h[8:], incl)
	binary.LittleEndian.PutUint32(h[12:], orig)
	return h
}

func TestDecode(t *testing.T) {
	now := time.Unix(1700000000, 0)
	frame := []byte{1, 2, 3, 4}
	global := make([]byte, 24)
	binary.LittleEndian.PutUint32(global, 0xa1b2c3d4)
	for _, c := range []struct {
		name       string
		d          Decoder
		key, value []byte
		wantTS     int64
		wantErr    error
	}{
		{"key ns", Decoder{Format: FromKey, KeyUnit: 1}, key(1700000000123456789), frame, 1700000000123456789, nil},
		{"key us", Decoder{Format: FromKey, KeyUnit: 1000}, key(1700000000123456), frame, 1700000000123456000, nil},
		{"key ms", Decoder{Format: FromKey, KeyUnit: 1e6}, key(1700000000123), frame, 1700000000123000000, nil},
		{"short key", Decoder{Format: FromKey}, []byte{1, 2}, frame, 0, ErrShortKey},
		{"empty value", Decoder{Format: FromKey}, key(1), nil, 0, ErrEmpty},
		{"key overflows", Decoder{Format: FromKey, KeyUnit: 1e6}, key(1 << 62), frame, 0, ErrTimestamp},
		{"outside window", Decoder{Format: FromKey, KeyUnit: 1, Window: time.Hour, Now: func() time.Time { return now }},
			key(uint64(now.Add(-2 * time.Hour).UnixNano())), frame, 0, ErrTimestamp},
		{"inside window", Decoder{Format: FromKey, KeyUnit: 1, Window: time.Hour, Now: func() time.Time { return now }},
			key(uint64(now.UnixNano())), frame, now.UnixNano(), nil},
		{"value record", Decoder{Format: FromValue}, nil, append(recHeader(1700000000, 5, 4, 60), frame...), 1700000000000005000, nil},
		{"value whole pcap", Decoder{Format: FromValue}, nil, append(append(global, recHeader(1, 2, 4, 4)...), frame...), 1000002000, nil},
		{"value caplen lies", Decoder{Format: FromValue}, nil, append(recHeader(1, 2, 9, 9), frame...), 0, ErrBadHeader},
		{"value too short", Decoder{Format: FromValue}, nil, []byte{1, 2, 3}, 0, ErrBadHeader},
		{"value usec too big", Decoder{Format: FromValue}, nil, append(recHeader(1, 1e6, 4, 4), frame...), 0, ErrBadHeader},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := c.d.Decode(c.key, c.value)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err %v, want %v", err, c.wantErr)
			}
			if err == nil && (p.Timestamp != c.wantTS || string(p.Data) != string(frame)) {
				t.Errorf("got ts %d data %x, want %d %x", p.Timestamp, p.Data, c.wantTS, frame)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(key(1), []byte{1}, true)
	f.Add([]byte{}, append(recHeader(1, 2, 1, 1), 7), false)
	f.Fuzz(func(t *testing.T, k, v []byte, fromKey bool) {
		d := Decoder{Format: FromValue, Window: time.Hour}
		if fromKey {
			d = Decoder{Format: FromKey, KeyUnit: 1000}
		}
		p, err := d.Decode(k, v)
		if err == nil && len(p.Data) == 0 {
			t.Fatal("decoded an empty packet")
		}
	})
}
