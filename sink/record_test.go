package sink

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	ck "github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/fastcapa-go/fastcapa/kafka"
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
			p, err := c.d.Decode(c.key, c.value, nil)
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
		p, err := c.d.Decode(c.key, c.value, nil)
		if err != nil || len(p.Data) != 0 || p.OrigLen != c.wantOrig {
			t.Errorf("%s: %d bytes, wire length %d, %v; want 0 bytes of %d", c.name, len(p.Data), p.OrigLen, err, c.wantOrig)
		}
	}
}

// TestDecodeOrigLen: a FROM_KEY record's orig_len header is its frame's
// wire length; no header means the frame is whole; any other header is
// not looked at. A header that is not one decimal number from the
// frame's length to 2^32-1 refuses the record. FROM_VALUE records keep
// their pcap header's orig_len, whatever the headers say.
func TestDecodeOrigLen(t *testing.T) {
	frame := make([]byte, 64)
	h := func(kv ...string) []ck.Header {
		var hs []ck.Header
		for i := 0; i < len(kv); i += 2 {
			hs = append(hs, ck.Header{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return hs
	}
	fromKey, fromValue := Decoder{Format: FromKey, KeyUnit: 1}, Decoder{Format: FromValue}
	pcapValue := append(recHeader(1, 2, 64, 1000), frame...)
	for _, c := range []struct {
		name    string
		d       Decoder
		value   []byte
		headers []ck.Header
		want    uint32
		wantErr string // in the reason; "" when stored
	}{
		{"absent", fromKey, frame, nil, 64, ""},
		{"other headers", fromKey, frame, h("sensor", "a", "ORIG_LEN", "9"), 64, ""},
		{"cut", fromKey, frame, h("orig_len", "1514"), 1514, ""},
		{"cut, among others", fromKey, frame, h("sensor", "a", "orig_len", "9000", "x", ""), 9000, ""},
		{"whole, said", fromKey, frame, h("orig_len", "64"), 64, ""},
		{"leading zeros", fromKey, frame, h("orig_len", "0100"), 100, ""},
		{"largest", fromKey, frame, h("orig_len", "4294967295"), 4294967295, ""},
		{"empty frame", fromKey, nil, h("orig_len", "60"), 60, ""},
		{"under the frame", fromKey, frame, h("orig_len", "63"), 0, "orig_len header: 63 is under the 64 bytes of the frame"},
		{"zero", fromKey, frame, h("orig_len", "0"), 0, "0 is under the 64 bytes"},
		{"over 2^32-1", fromKey, frame, h("orig_len", "4294967296"), 0, `"4294967296" is over 4294967295`},
		{"not decimal", fromKey, frame, h("orig_len", "0x5ea"), 0, `"0x5ea" is not a decimal number`},
		{"negative", fromKey, frame, h("orig_len", "-1"), 0, "not a decimal number"},
		{"space", fromKey, frame, h("orig_len", "1514 "), 0, "not a decimal number"},
		{"binary", fromKey, frame, []ck.Header{{Key: "orig_len", Value: []byte{0, 0, 5, 0xea}}}, 0, "not a decimal number"},
		{"empty", fromKey, frame, h("orig_len", ""), 0, "orig_len header: empty"},
		{"null", fromKey, frame, []ck.Header{{Key: "orig_len"}}, 0, "orig_len header: empty"},
		{"two", fromKey, frame, h("orig_len", "1514", "orig_len", "1514"), 0, "orig_len header: more than one"},
		{"two, second bad", fromKey, frame, h("orig_len", "1514", "orig_len", "x"), 0, "orig_len header: more than one"},
		{"value: pcap header wins", fromValue, pcapValue, h("orig_len", "1514"), 1000, ""},
		{"value: bad header ignored", fromValue, pcapValue, h("orig_len", "x", "orig_len", ""), 1000, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := c.d.Decode(key(1), c.value, c.headers)
			if c.wantErr == "" {
				if err != nil || p.OrigLen != c.want || len(p.Data) != min(len(c.value), 64) {
					t.Fatalf("wire length %d, %d bytes, %v; want %d", p.OrigLen, len(p.Data), err, c.want)
				}
				return
			}
			if !errors.Is(err, ErrOrigLen) || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err %v, want ErrOrigLen saying %q", err, c.wantErr)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(key(1), []byte{1}, true, []byte(nil), uint8(0))
	f.Add([]byte{}, append(recHeader(1, 2, 1, 1), 7), false, []byte(nil), uint8(0))
	f.Add(key(1), []byte{1, 2}, true, []byte("1514"), uint8(1))
	f.Add(key(1), []byte{1, 2}, true, []byte("1"), uint8(1))
	f.Add(key(1), []byte{1, 2}, true, []byte("99"), uint8(2))
	f.Fuzz(func(t *testing.T, k, v []byte, fromKey bool, orig []byte, nOrig uint8) {
		d := Decoder{Format: FromValue, Window: time.Hour}
		if fromKey {
			d = Decoder{Format: FromKey, KeyUnit: 1000}
		}
		hs := origHeaders(orig, nOrig)
		p, err := d.Decode(k, v, hs)
		if err != nil {
			return
		}
		if err := store.CheckTimestamp(p.Timestamp); err != nil {
			t.Fatalf("decoded a packet no file can hold: %v", err)
		}
		if p.OrigLen < uint32(len(p.Data)) {
			t.Fatalf("wire length %d under %d captured bytes", p.OrigLen, len(p.Data))
		}
		if fromKey && len(hs) > 0 {
			if n, err := kafka.ParseOrigLen(orig); len(hs) != 1 || err != nil || n != p.OrigLen {
				t.Fatalf("%d orig_len headers %q: decoded wire length %d", len(hs), orig, p.OrigLen)
			}
		}
	})
}

// origHeaders are the headers a fuzz input gives a record: n%3 orig_len
// headers of value v (none, one, or two: refused).
func origHeaders(v []byte, n uint8) []ck.Header {
	var hs []ck.Header
	for range n % 3 {
		hs = append(hs, ck.Header{Key: kafka.OrigLenHeader, Value: v})
	}
	return hs
}
