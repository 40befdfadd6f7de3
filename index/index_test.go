package index

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/packet"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// pools of n distinct addresses of each family and ports (no tunnel
// port among them).
func pools(r *rand.Rand, n4, n6, np int) (v4, v6 []netip.Addr, ports []uint16) {
	seen := map[netip.Addr]bool{}
	for len(v4) < n4 {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], r.Uint32())
		if ad := netip.AddrFrom4(a); !seen[ad] {
			seen[ad] = true
			v4 = append(v4, ad)
		}
	}
	for len(v6) < n6 {
		var a [16]byte
		binary.BigEndian.PutUint64(a[:], r.Uint64())
		binary.BigEndian.PutUint64(a[8:], r.Uint64())
		if ad := netip.AddrFrom16(a); !seen[ad] && !ad.Is4In6() {
			seen[ad] = true
			v6 = append(v6, ad)
		}
	}
	seenP := map[uint16]bool{}
	for len(ports) < np {
		p := uint16(r.Uint32())
		if !seenP[p] && !tunnelPort(p) {
			seenP[p] = true
			ports = append(ports, p)
		}
	}
	return v4, v6, ports
}

type genPacket struct {
	rec  pcap.Record
	want want
}

// genFile makes n random frames drawing on pools of the given sizes.
func genFile(seed uint64, n, n4, n6, np int) []genPacket {
	g := newGen(seed)
	g.v4, g.v6, g.ports = pools(g.r, n4, n6, np)
	t0 := int64(1_700_000_000e9)
	out := make([]genPacket, n)
	for i := range out {
		var w want
		f := g.frame(&w)
		// times mostly ascending, some late
		ts := t0 + int64(i)*1000 - int64(g.r.IntN(3))*int64(g.r.IntN(5000))
		out[i] = genPacket{pcap.Record{Timestamp: ts, Data: f, LinkType: linkEthernet}, w}
	}
	return out
}

func buildAll(ps []genPacket) *Index {
	var b Builder
	for _, p := range ps {
		b.Add(p.rec.Timestamp, p.rec.Data)
	}
	return b.Index()
}

func roundTrip(t *testing.T, ix *Index) *Index {
	t.Helper()
	data, err := ix.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back Index
	if err := back.UnmarshalBinary(data); err != nil {
		t.Fatalf("round trip: %v", err)
	}
	return &back
}

// TestNoFalseNegatives: for files that keep every summary exact, that
// overflow into a Bloom filter and a port bitmap, and that fill the
// largest filter, every address, port and protocol of every packet, and
// every combination of one of each within the packet's own time, makes
// MayMatch true — on the index as built and as read back.
func TestNoFalseNegatives(t *testing.T) {
	for _, c := range []struct {
		name              string
		n, n4, n6, nports int
	}{
		{"small exact", 300, 20, 10, 30},
		{"v6 heavy", 2000, 50, 900, 200},
		{"bloom and port bitmap", 8000, 3000, 1000, 6000},
		{"filter full", 20000, 30000, 10000, 30000},
	} {
		t.Run(c.name, func(t *testing.T) {
			ps := genFile(uint64(c.n), c.n, c.n4, c.n6, c.nports)
			ix := buildAll(ps)
			st := ix.Stats()
			t.Logf("%d packets: %+v", c.n, st)
			for _, x := range []*Index{ix, roundTrip(t, ix)} {
				for i, p := range ps {
					w := p.want
					at := time.Unix(0, p.rec.Timestamp)
					for _, a := range w.addrs {
						if !x.MayMatch(Constraints{Hosts: []netip.Addr{a}}) {
							t.Fatalf("packet %d: host %s pruned", i, a)
						}
					}
					for _, pt := range w.ports {
						if !x.MayMatch(Constraints{Ports: []uint16{pt}}) {
							t.Fatalf("packet %d: port %d pruned", i, pt)
						}
					}
					for _, pr := range w.protos {
						if !x.MayMatch(Constraints{Protocols: []uint8{pr}}) {
							t.Fatalf("packet %d: protocol %d pruned", i, pr)
						}
					}
					q := Constraints{From: at, To: at, Hosts: w.addrs[len(w.addrs)-1:]}
					if len(w.ports) > 0 {
						q.Ports = w.ports[:1]
					}
					if len(w.protos) > 0 {
						q.Protocols = w.protos[len(w.protos)-1:]
					}
					if !q.Match(p.rec) {
						t.Fatalf("packet %d: its own constraints %+v do not match it", i, q)
					}
					if !x.MayMatch(q) {
						t.Fatalf("packet %d: %+v pruned", i, q)
					}
				}
			}
		})
	}
}

// TestMatchImpliesMayMatch: random constraints, half their values taken
// from the file and half not: whenever one of the file's packets
// matches, MayMatch is true. It also counts how often MayMatch is true
// with no packet matching.
func TestMatchImpliesMayMatch(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, c := range []struct{ n, n4, n6, np int }{{500, 40, 20, 40}, {5000, 4000, 500, 5000}} {
		ps := genFile(uint64(c.n)+1, c.n, c.n4, c.n6, c.np)
		ix := buildAll(ps)
		first, last := ix.First, ix.Last
		var matched, mayOnly, pruned int
		for range 3000 {
			var q Constraints
			src := ps[r.IntN(len(ps))].want
			pickHost := func() netip.Addr {
				if r.IntN(2) == 0 && len(src.addrs) > 0 {
					return src.addrs[r.IntN(len(src.addrs))]
				}
				var a [4]byte
				binary.BigEndian.PutUint32(a[:], r.Uint32())
				return netip.AddrFrom4(a)
			}
			for range r.IntN(3) {
				q.Hosts = append(q.Hosts, pickHost())
			}
			for range r.IntN(3) {
				if r.IntN(2) == 0 && len(src.ports) > 0 {
					q.Ports = append(q.Ports, src.ports[r.IntN(len(src.ports))])
				} else {
					q.Ports = append(q.Ports, uint16(r.Uint32()))
				}
			}
			for range r.IntN(2) {
				q.Protocols = append(q.Protocols, uint8(r.IntN(256)))
			}
			if r.IntN(2) == 0 {
				span := last - first
				a := first - span/4 + r.Int64N(span+span/2+1)
				q.From, q.To = time.Unix(0, a), time.Unix(0, a+r.Int64N(span/4+1))
			}
			any := false
			for _, p := range ps {
				if q.Match(p.rec) {
					any = true
					break
				}
			}
			may := ix.MayMatch(q)
			switch {
			case any && !may:
				t.Fatalf("a packet matches %+v, MayMatch false", q)
			case any:
				matched++
			case may:
				mayOnly++
			default:
				pruned++
			}
		}
		t.Logf("%d packets: %d queries matched, %d pruned, %d not pruned with no packet matching (values from different packets)", c.n, matched, pruned, mayOnly)
	}
}

// TestTimeRange: the range is inclusive at both ends, a zero end is
// open, and an empty index matches nothing.
func TestTimeRange(t *testing.T) {
	var b Builder
	f := packet.UDPFrame(60, 1, 2)
	for _, ts := range []int64{5000, 3000, 9000} {
		b.Add(ts, f)
	}
	ix := b.Index()
	if ix.First != 3000 || ix.Last != 9000 || ix.Packets != 3 {
		t.Fatalf("First %d Last %d Packets %d", ix.First, ix.Last, ix.Packets)
	}
	at := func(ns int64) time.Time { return time.Unix(0, ns) }
	for _, c := range []struct {
		from, to time.Time
		want     bool
	}{
		{at(9000), time.Time{}, true},
		{at(9001), time.Time{}, false},
		{time.Time{}, at(3000), true},
		{time.Time{}, at(2999), false},
		{at(4000), at(4500), true}, // between packets: MayMatch cannot tell
		{at(0), at(2999), false},
		{time.Unix(-1e12, 0), time.Unix(1e12, 0), true}, // clamped ends
		{time.Time{}, time.Time{}, true},
	} {
		if got := ix.MayMatch(Constraints{From: c.from, To: c.to}); got != c.want {
			t.Errorf("%v to %v: MayMatch %v", c.from, c.to, got)
		}
	}
	if (&Index{}).MayMatch(Constraints{}) {
		t.Error("an empty index may match")
	}
	if (&Builder{}).Index().MayMatch(Constraints{}) {
		t.Error("an empty Builder's index may match")
	}
}

// TestAddressForms: IPv4 and IPv4-mapped IPv6 are one host, a zone is
// ignored, an invalid host matches nothing.
func TestAddressForms(t *testing.T) {
	var b Builder
	b.Add(1, packet.UDPFrame(60, 1, 2)) // 10.0.0.1 > 10.0.0.2
	ix := b.Index()
	for _, c := range []struct {
		a    netip.Addr
		want bool
	}{
		{netip.MustParseAddr("10.0.0.1"), true},
		{netip.MustParseAddr("::ffff:10.0.0.2"), true},
		{netip.MustParseAddr("10.0.0.3"), false},
		{netip.MustParseAddr("fe80::1%eth0"), false},
		{netip.Addr{}, false},
	} {
		q := Constraints{Hosts: []netip.Addr{c.a}}
		if got := ix.MayMatch(q); got != c.want {
			t.Errorf("%v: MayMatch %v", c.a, got)
		}
		if got := q.Match(pcap.Record{Timestamp: 1, LinkType: linkEthernet, Data: packet.UDPFrame(60, 1, 2)}); got != c.want {
			t.Errorf("%v: Match %v", c.a, got)
		}
	}
	if err := (&Constraints{Hosts: []netip.Addr{{}}}).Validate(); err == nil {
		t.Error("Validate accepts an invalid host")
	}
	if err := (&Constraints{From: time.Unix(2, 0), To: time.Unix(1, 0)}).Validate(); err == nil {
		t.Error("Validate accepts a range that ends before it starts")
	}
}

// TestBuilderReuse: Index leaves the Builder as it was, and after Reset
// a Builder builds the same index as a new one.
func TestBuilderReuse(t *testing.T) {
	a := genFile(3, 3000, 2000, 200, 5000)
	c := genFile(4, 200, 30, 5, 20)
	var b Builder
	for _, p := range a {
		b.Add(p.rec.Timestamp, p.rec.Data)
	}
	ia := b.Index()
	if ia2 := b.Index(); !sameIndex(ia, ia2) {
		t.Error("a second Index differs")
	}
	b.Reset()
	for _, p := range c {
		b.Add(p.rec.Timestamp, p.rec.Data)
	}
	if !sameIndex(b.Index(), buildAll(c)) {
		t.Error("after Reset, the index differs from a new Builder's")
	}
}

func sameIndex(a, b *Index) bool {
	x, _ := a.MarshalBinary()
	y, _ := b.MarshalBinary()
	return string(x) == string(y)
}

// TestAddAllocates: Add and Match allocate nothing.
func TestAddAllocates(t *testing.T) {
	ps := genFile(5, 2000, 3000, 100, 100)
	var b Builder
	b.Add(0, ps[0].rec.Data) // tables made
	i := 0
	if n := testing.AllocsPerRun(5000, func() {
		b.Add(int64(i), ps[i%len(ps)].rec.Data)
		i++
	}); n != 0 {
		t.Errorf("Add: %v allocations", n)
	}
	q := Constraints{Hosts: []netip.Addr{netip.MustParseAddr("10.1.2.3")}, Ports: []uint16{80}, Protocols: []uint8{6}}
	if n := testing.AllocsPerRun(5000, func() {
		q.Match(ps[i%len(ps)].rec)
		i++
	}); n != 0 {
		t.Errorf("Match: %v allocations", n)
	}
}

// TestFalsePositiveRate: an address filter answers for absent
// addresses at about the rate its Stats give, at most TargetFPR while
// the filter is below its largest size, for random and for consecutive
// addresses.
func TestFalsePositiveRate(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	probes := 200000
	if testing.Short() {
		probes = 20000
	}
	for _, n := range []int{500, 1025, 4000, 15000, 30000, 100000} {
		for _, consecutive := range []bool{false, true} {
			var b Builder
			seen := map[uint32]bool{}
			base := r.Uint32()
			for i := range n {
				v := r.Uint32()
				if consecutive {
					v = base + uint32(i)
				}
				seen[v] = true
				var a [4]byte
				binary.BigEndian.PutUint32(a[:], v)
				b.h.reset()
				b.h.addr(key4(a[:]))
				b.absorb(int64(i))
			}
			ix := roundTrip(t, b.Index())
			st := ix.Stats()
			fp := 0
			for range probes {
				var a [4]byte
				v := r.Uint32()
				if consecutive {
					v = base + uint32(n) + uint32(r.IntN(1<<24)) // the next addresses
				}
				if seen[v] {
					continue
				}
				binary.BigEndian.PutUint32(a[:], v)
				if ix.MayMatch(Constraints{Hosts: []netip.Addr{netip.AddrFrom4(a)}}) {
					fp++
				}
			}
			got := float64(fp) / float64(probes)
			t.Logf("%6d addresses (consecutive %5v): %5d-byte index, filter %5d B, exact %v, FPR measured %.5f, computed %.5f",
				n, consecutive, st.Bytes, st.FilterBytes, st.AddressesExact, got, st.AddressFPR)
			if st.AddressesExact && fp != 0 {
				t.Errorf("exact set: %d false positives", fp)
			}
			// 4 standard deviations and a little
			if tol := 4*math.Sqrt(st.AddressFPR/float64(probes)) + 2.0/float64(probes); math.Abs(got-st.AddressFPR) > tol {
				t.Errorf("%d addresses: FPR %.5f measured, %.5f computed", n, got, st.AddressFPR)
			}
			if st.FilterBytes < MaxFilterBytes && st.AddressFPR > TargetFPR {
				t.Errorf("%d addresses: a %d-byte filter at FPR %.5f", n, st.FilterBytes, st.AddressFPR)
			}
			if st.Bytes > MaxFilterBytes+8192+headerLen+trailerLen {
				t.Errorf("%d addresses: %d bytes", n, st.Bytes)
			}
		}
	}
}
