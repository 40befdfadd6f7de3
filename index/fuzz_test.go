package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net/netip"
	"testing"

	"github.com/fastcapa-go/fastcapa/pcap"
)

// FuzzUnmarshal: any bytes are refused with ErrFormat or read into an
// index that encodes back to exactly those bytes, never a panic. Each
// input is also tried with its length and checksum made right, so the
// checks behind the checksum are reached.
func FuzzUnmarshal(f *testing.F) {
	for _, ix := range sampleIndexes(f) {
		b, _ := ix.MarshalBinary()
		f.Add(b)
	}
	if ix, err := BuildFile(metronPath(f)); err == nil {
		b, _ := ix.MarshalBinary()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(b []byte) {
			var x Index
			if err := x.UnmarshalBinary(b); err != nil {
				if !errors.Is(err, ErrFormat) {
					t.Fatalf("error not ErrFormat: %v", err)
				}
				return
			}
			out, _ := x.MarshalBinary()
			if !bytes.Equal(out, b) {
				t.Fatalf("read, it encodes to other bytes")
			}
			x.Stats()
			x.MayMatch(Constraints{Hosts: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("2001:db8::1")}, Ports: []uint16{80}})
		}
		check(b)
		if len(b) >= headerLen+trailerLen {
			r := bytes.Clone(b)
			binary.LittleEndian.PutUint32(r[12:], uint32(len(r)))
			body := r[:len(r)-trailerLen]
			binary.LittleEndian.PutUint32(r[len(body):], crc32.Checksum(body, castagnoli))
			check(r)
		}
	})
}

var fuzzLinkTypes = []uint32{linkEthernet, linkRaw, linkIPv4, linkIPv6, linkSLL, linkSLL2, linkNull, linkLoop, linkPPP, linkRaw12}

// FuzzWalk: on any bytes of any link type the walk never panics or
// overflows, and an index of that one packet may match everything the
// walk found in it — each value alone, and together at its time — on
// the index as built and as read back.
func FuzzWalk(f *testing.F) {
	frames := sharedFrames(f)
	for i := 0; i < len(frames); i += 7 {
		f.Add(uint8(0), frames[i].rec.Data)
	}
	g := newGen(99)
	for range 200 {
		var w want
		f.Add(uint8(0), g.frame(&w))
	}
	f.Fuzz(func(t *testing.T, link uint8, data []byte) {
		rec := pcap.Record{Timestamp: 42, LinkType: fuzzLinkTypes[int(link)%len(fuzzLinkTypes)], Data: data}
		h := walk(rec.LinkType, data)
		if h.dropped {
			t.Fatal("arrays full")
		}
		var b Builder
		b.AddRecord(rec)
		ix := b.Index()
		data2, _ := ix.MarshalBinary()
		var back Index
		if err := back.UnmarshalBinary(data2); err != nil {
			t.Fatal(err)
		}
		var q Constraints
		for _, k := range h.addrs[:h.nAddrs] {
			a := netip.AddrFrom16([16]byte(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, k.hi), k.lo))).Unmap()
			q.Hosts = []netip.Addr{a}
			if !ix.MayMatch(Constraints{Hosts: q.Hosts}) || !back.MayMatch(Constraints{Hosts: q.Hosts}) {
				t.Fatalf("host %s pruned", a)
			}
		}
		for _, p := range h.ports[:h.nPorts] {
			q.Ports = []uint16{p}
			if !ix.MayMatch(Constraints{Ports: q.Ports}) {
				t.Fatalf("port %d pruned", p)
			}
		}
		for p := range 256 {
			if h.protos[p>>6]&(1<<(p&63)) != 0 {
				q.Protocols = []uint8{uint8(p)}
				if !ix.MayMatch(Constraints{Protocols: q.Protocols}) {
					t.Fatalf("protocol %d pruned", p)
				}
			}
		}
		if !q.Match(rec) {
			t.Fatalf("%+v does not match the packet it came from", q)
		}
		if !ix.MayMatch(q) || !back.MayMatch(q) {
			t.Fatalf("%+v pruned", q)
		}
	})
}
