package index

import (
	"encoding/binary"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fastcapa-go/fastcapa/packet"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// metronFrames are the frames of the Metron sample: real HTTP and DNS
// over Ethernet and IPv4, 651 B on average.
func metronFrames(b testing.TB) []pcap.Record {
	_, recs, err := pcap.ReadFile(metronPath(b))
	if err != nil {
		b.Fatal(err)
	}
	return recs
}

// BenchmarkAdd is Builder.Add on the Metron sample's frames, in order:
// the cost per packet on the sink's path.
func BenchmarkAdd(b *testing.B) {
	recs := metronFrames(b)
	var bl Builder
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := &recs[i%len(recs)]
		bl.Add(r.Timestamp, r.Data)
	}
}

// BenchmarkAddManyAddresses is Builder.Add on generated frames (a third
// tunnelled, some IPv6) whose addresses come from 100,000, so that the
// Builder works in its Bloom filter and few addresses repeat.
func BenchmarkAddManyAddresses(b *testing.B) {
	ps := genFile(31, 20000, 80000, 20000, 20000)
	var bl Builder
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := &ps[i%len(ps)]
		bl.Add(p.rec.Timestamp, p.rec.Data)
	}
}

// BenchmarkIndex is Builder.Index, once per file: the Metron sample
// (exact sets) and a full filter (folding tried).
func BenchmarkIndex(b *testing.B) {
	recs := metronFrames(b)
	var small, full Builder
	for _, r := range recs {
		small.Add(r.Timestamp, r.Data)
	}
	for _, p := range genFile(32, 20000, 30000, 0, 1000) {
		full.Add(p.rec.Timestamp, p.rec.Data)
	}
	b.Run("metron", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			small.Index()
		}
	})
	b.Run("full", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			full.Index()
		}
	})
}

// BenchmarkMatch is Constraints.Match (host and port) on the Metron
// sample's frames: the cost per packet of a scan.
func BenchmarkMatch(b *testing.B) {
	recs := metronFrames(b)
	q := Constraints{Hosts: []netip.Addr{netip.MustParseAddr("192.168.66.121")}, Ports: []uint16{53}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q.Match(recs[i%len(recs)])
	}
}

// BenchmarkMayMatch is one host and one port asked of an exact index and
// of a Bloom filter.
func BenchmarkMayMatch(b *testing.B) {
	q := Constraints{Hosts: []netip.Addr{netip.MustParseAddr("192.0.2.77")}, Ports: []uint16{443}}
	for name, ix := range map[string]*Index{
		"exact": buildAll(genFile(33, 2000, 500, 50, 3000)),
		"bloom": buildAll(genFile(34, 20000, 10000, 2000, 3000)),
	} {
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ix.MayMatch(q)
			}
		})
	}
}

// BenchmarkReadFile reads a sidecar: the Metron sample's (exact, small)
// and one at the largest size a Builder writes (full filter, port
// bitmap).
func BenchmarkReadFile(b *testing.B) {
	dir := b.TempDir()
	small, err := BuildFile(metronPath(b))
	if err != nil {
		b.Fatal(err)
	}
	large := buildAll(genFile(35, 20000, 30000, 5000, 30000))
	for name, ix := range map[string]*Index{"metron": small, "largest": large} {
		path := filepath.Join(dir, name+".idx")
		if err := ix.WriteFile(path); err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(ix.Stats().Bytes))
			for i := 0; i < b.N; i++ {
				if _, err := ReadFile(path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestIndexSizes logs what indexes take: each shared capture's, a
// 100,000-packet file of the shared frames over and over, and one of
// 100,000 generated packets with 60,000 distinct addresses; none is over
// the bound.
func TestIndexSizes(t *testing.T) {
	frames := sharedFrames(t)
	bound := headerLen + portWords*8 + MaxFilterBytes + trailerLen
	sizes := map[string]int{}
	var files []string
	for _, fr := range frames {
		if _, ok := sizes[fr.file]; !ok {
			ix, err := BuildFile(fr.path)
			if err != nil {
				t.Fatal(err)
			}
			sizes[fr.file] = ix.Stats().Bytes
			files = append(files, fr.file)
		}
	}
	total, largest := 0, ""
	for _, f := range files {
		total += sizes[f]
		if largest == "" || sizes[f] > sizes[largest] {
			largest = f
		}
	}
	slices.SortFunc(files, func(a, b string) int { return sizes[b] - sizes[a] })
	t.Logf("%d shared captures: %d bytes of indexes, %d on average, largest %s %d B, next %s %d B, %s %d B",
		len(files), total, total/len(files), files[0], sizes[files[0]], files[1], sizes[files[1]], files[2], sizes[files[2]])
	ms, _ := BuildFile(metronPath(t))
	t.Logf("metron-example.pcap (761 packets, 496 KB): %+v", ms.Stats())

	var b Builder
	for i := 0; i < 100000; i++ {
		r := frames[i%len(frames)].rec
		b.AddRecord(pcap.Record{Timestamp: int64(i) * 1e6, LinkType: r.LinkType, Data: r.Data})
	}
	st := b.Index().Stats()
	t.Logf("100,000 packets, the shared frames repeated: %+v", st)
	if st.Bytes > bound {
		t.Errorf("%d bytes, over %d", st.Bytes, bound)
	}
	gen := buildAll(genFile(36, 100000, 40000, 20000, 50000)).Stats()
	t.Logf("100,000 generated packets, 60,000 addresses: %+v", gen)
	if gen.Bytes > bound {
		t.Errorf("%d bytes, over %d", gen.Bytes, bound)
	}
}

// BenchmarkAddScan is Builder.Add on plain Ethernet/IPv4/UDP frames
// whose addresses come from 200,000 (a scan, a flood of spoofed
// sources): each packet's two addresses go to the Bloom filter, rarely
// seen before.
func BenchmarkAddScan(b *testing.B) {
	r := newGen(37).r
	frames := make([][]byte, 1<<16)
	for i := range frames {
		f := packet.UDPFrame(64, uint16(r.Uint32()), 53)
		binary.BigEndian.PutUint32(f[26:], 0x0a000000+uint32(r.IntN(100000)))
		binary.BigEndian.PutUint32(f[30:], 0xc0000000+uint32(r.IntN(100000)))
		frames[i] = f
	}
	var bl Builder
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bl.Add(int64(i), frames[i&(len(frames)-1)])
	}
}
