package sink

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/store"
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
		{"long key", Decoder{Format: FromKey}, make([]byte, 9), frame, 0, ErrShortKey},
		{"key overflows", Decoder{Format: FromKey, KeyUnit: 1e6}, key(1 << 62), frame, 0, store.ErrTimestamp},
		{"key 2^32 s ns", Decoder{Format: FromKey, KeyUnit: 1}, key(1 << 32 * 1e9), frame, 0, store.ErrTimestamp},
		{"key 2^32 s us", Decoder{Format: FromKey, KeyUnit: 1e3}, key(1 << 32 * 1e6), frame, 0, store.ErrTimestamp},
		{"key 2^32 s ms", Decoder{Format: FromKey, KeyUnit: 1e6}, key(1 << 32 * 1e3), frame, 0, store.ErrTimestamp},
		{"key last ns", Decoder{Format: FromKey, KeyUnit: 1}, key(uint64(store.MaxTimestamp)), frame, store.MaxTimestamp, nil},
		{"key last us", Decoder{Format: FromKey, KeyUnit: 1e3}, key(uint64(store.MaxTimestamp / 1e3)), frame, store.MaxTimestamp / 1e3 * 1e3, nil},
		{"key last ms", Decoder{Format: FromKey, KeyUnit: 1e6}, key(uint64(store.MaxTimestamp / 1e6)), frame, store.MaxTimestamp / 1e6 * 1e6, nil},
		{"key negative as int64", Decoder{Format: FromKey, KeyUnit: 1}, key(1 << 63), frame, 0, store.ErrTimestamp},
		{"hostname key", Decoder{Format: FromKey, KeyUnit: 1}, []byte("sensor01"), frame, 0, store.ErrTimestamp},
		{"key zero", Decoder{Format: FromKey, KeyUnit: 1}, key(0), frame, 0, nil},
		{"outside window", Decoder{Format: FromKey, KeyUnit: 1, Window: time.Hour, Now: func() time.Time { return now }},
			key(uint64(now.Add(-2 * time.Hour).UnixNano())), frame, 0, ErrWindow},
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
			if err == nil && (p.Timestamp != c.wantTS || string(p.Data) != string(frame) || p.OrigLen < uint32(len(frame))) {
				t.Errorf("got ts %d data %x, want %d %x", p.Timestamp, p.Data, c.wantTS, frame)
			}
		})
	}
}

// TestDecodeEmpty: a record of 0 captured bytes is a packet, as in
// libpcap's files, in either format.
func TestDecodeEmpty(t *testing.T) {
	for _, c := range []struct {
		name       string
		d          Decoder
		key, value []byte
		wantOrig   uint32
	}{
		{"key, nil value", Decoder{Format: FromKey}, key(5), nil, 0},
		{"key, empty value", Decoder{Format: FromKey}, key(5), []byte{}, 0},
		{"value, caplen 0", Decoder{Format: FromValue}, nil, recHeader(0, 5, 0, 60), 60},
	} {
		p, err := c.d.Decode(c.key, c.value)
		if err != nil || len(p.Data) != 0 || p.OrigLen != c.wantOrig {
			t.Errorf("%s: %d bytes, wire length %d, %v; want 0 bytes of %d", c.name, len(p.Data), p.OrigLen, err, c.wantOrig)
		}
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
		if err != nil {
			return
		}
		if err := store.CheckTimestamp(p.Timestamp); err != nil {
			t.Fatalf("decoded a packet no file can hold: %v", err)
		}
		if p.OrigLen < uint32(len(p.Data)) {
			t.Fatalf("wire length %d under %d captured bytes", p.OrigLen, len(p.Data))
		}
	})
}
