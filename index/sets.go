package index

import (
	"math/bits"
	"slices"
)

// Address summaries: an exact set while it is small, else a split-block
// Bloom filter (Putze, Sanders, Singler 2007; the layout of Parquet's
// and Impala's): blocks of eight 32-bit words, each key sets one bit in
// each word of one block. The number of blocks is a power of two, so a
// filter can be folded in half (block i OR block i+n/2) and still answer
// for every key it holds: a Builder fills the largest filter and Index
// folds it while its false-positive rate stays at or under TargetFPR.
const (
	// TargetFPR is the false-positive rate an address filter is sized
	// for: the probability that a filter reports an address that is not
	// in the file. A filter at its largest size (MaxFilterBytes) that
	// holds more addresses than it was sized for has a higher rate
	// (Stats.AddressFPR says which).
	TargetFPR = 0.001

	// MaxFilterBytes bounds an address filter: 1024 blocks of 32 bytes,
	// sized for about 15,000 distinct addresses at TargetFPR.
	MaxFilterBytes = maxBlocks * blockBytes

	maxBlocks  = 1024
	blockBytes = 32
	blockWords = 8

	// exactMax is the most addresses a Builder keeps exactly; past it,
	// they go to a Bloom filter.
	exactMax = 1024
	// exactSlots is the size of the Builder's open-addressing table.
	exactSlots = 2 * exactMax
	// exactBytes: a set that takes at most this many bytes exactly is
	// kept exact, whatever a filter would take.
	exactBytes = 1024
)

// salt spreads a key's 32 low hash bits over a block's eight words
// (Parquet's constants).
var salt = [blockWords]uint32{0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d, 0x705495c7, 0x2df1424b, 0x9efc4947, 0x5c6bfb31}

// hash is an address key's 64-bit hash: its high 32 bits choose a block,
// its low 32 bits the bits in it. It is part of the file format: a
// filter written with one hash is read with the same.
func hash(k key) uint64 {
	return fmix64(k.lo ^ fmix64(k.hi^0x9e3779b97f4a7c15))
}

// fmix64 is MurmurHash3's 64-bit finalizer, a bijection.
func fmix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// bloomBlock is the block of filter f (len(f)/8 blocks) that h maps to.
func bloomBlock(f []uint32, h uint64) []uint32 {
	nb := uint32(len(f) / blockWords)
	i := (uint32(h>>32) & (nb - 1)) * blockWords
	return f[i : i+blockWords : i+blockWords]
}

// bloomAdd sets h's bits in f and reports whether any was clear.
func bloomAdd(f []uint32, h uint64) bool {
	blk := bloomBlock(f, h)
	x := uint32(h)
	var clear uint32
	for i, s := range salt {
		m := uint32(1) << ((x * s) >> 27)
		clear |= ^blk[i] & m
		blk[i] |= m
	}
	return clear != 0
}

// bloomHas reports whether all of h's bits are set in f.
func bloomHas(f []uint32, h uint64) bool {
	blk := bloomBlock(f, h)
	x := uint32(h)
	for i, s := range salt {
		if blk[i]&(1<<((x*s)>>27)) == 0 {
			return false
		}
	}
	return true
}

// bloomFold returns f folded in half: a filter of half the blocks that
// holds every key f holds.
func bloomFold(f []uint32) []uint32 {
	half := len(f) / 2
	g := make([]uint32, half)
	for i := range g {
		g[i] = f[i] | f[half+i]
	}
	return g
}

// bloomFPR is f's false-positive rate: the probability that a key it
// does not hold finds all its bits set, for a hash that spreads keys
// evenly: the mean over blocks of the product of each word's share of
// set bits.
func bloomFPR(f []uint32) float64 {
	var sum float64
	for b := 0; b < len(f); b += blockWords {
		p := 1.0
		for _, w := range f[b : b+blockWords] {
			p *= float64(bits.OnesCount32(w)) / 32
		}
		sum += p
	}
	return sum / float64(len(f)/blockWords)
}

// bloomFit folds f while the result's false-positive rate stays at or
// under TargetFPR.
func bloomFit(f []uint32) []uint32 {
	for len(f) > blockWords {
		g := bloomFold(f)
		if bloomFPR(g) > TargetFPR {
			break
		}
		f = g
	}
	return f
}

// addrBuilder collects addresses: exactly, in an open-addressing table,
// up to exactMax of them, then in a Bloom filter of maxBlocks.
type addrBuilder struct {
	slots    []slot   // exactSlots, allocated on first use
	n        int      // keys in slots
	bloom    []uint32 // once over exactMax: every key, slots forgotten
	distinct uint64   // keys that set a bit in bloom
	// recent is a direct-mapped cache of keys added already, so that
	// the addresses of a busy flow skip the hash.
	recent [recentSize]recentKey
}

const recentSize = 64

type recentKey struct {
	k  key
	ok bool
}

type slot struct {
	k key
	h uint64 // hash|1; 0: empty
}

func (a *addrBuilder) reset() {
	clear(a.slots)
	a.n, a.distinct = 0, 0
	a.bloom = nil
	a.recent = [recentSize]recentKey{}
}

func (a *addrBuilder) add(k key) {
	r := &a.recent[(k.lo^k.lo>>29^k.hi)%recentSize]
	if r.ok && r.k == k {
		return
	}
	r.k, r.ok = k, true
	h := hash(k)
	if a.bloom != nil {
		if bloomAdd(a.bloom, h) {
			a.distinct++
		}
		return
	}
	if a.slots == nil {
		a.slots = make([]slot, exactSlots)
	}
	const mask = exactSlots - 1
	hv := h | 1
	for i := h & mask; ; i = (i + 1) & mask {
		s := &a.slots[i]
		if s.h == hv && s.k == k {
			return
		}
		if s.h == 0 {
			if a.n == exactMax {
				a.overflow()
				if bloomAdd(a.bloom, h) {
					a.distinct++
				}
				return
			}
			s.k, s.h = k, hv
			a.n++
			return
		}
	}
}

// overflow moves the exact keys into a Bloom filter.
func (a *addrBuilder) overflow() {
	a.bloom = make([]uint32, maxBlocks*blockWords)
	for _, s := range a.slots {
		if s.h != 0 && bloomAdd(a.bloom, hash(s.k)) {
			a.distinct++
		}
	}
}

// set returns the summary of what was added: exact while its encoding
// takes at most exactBytes, or twice the bytes of the Bloom filter that
// would replace it, else that filter.
func (a *addrBuilder) set() addrSet {
	if a.bloom != nil {
		return addrSet{bloom: bloomFit(slices.Clone(a.bloom)), count: a.distinct}
	}
	var s addrSet
	for _, sl := range a.slots {
		if sl.h == 0 {
			continue
		}
		if sl.k.is4() {
			s.v4 = append(s.v4, uint32(sl.k.lo))
		} else {
			s.v6 = append(s.v6, sl.k)
		}
	}
	s.count = uint64(a.n)
	if n := 4*len(s.v4) + 16*len(s.v6); n > exactBytes {
		// A filter of at least 32 bits a key, folded as far as it goes
		// (folding a filter gives the filter of half its size).
		blocks := 1
		for blocks*blockBytes < 4*a.n && blocks < maxBlocks {
			blocks *= 2
		}
		f := make([]uint32, blocks*blockWords)
		for _, sl := range a.slots {
			if sl.h != 0 {
				bloomAdd(f, hash(sl.k))
			}
		}
		if f = bloomFit(f); n > 2*4*len(f) {
			return addrSet{bloom: f, count: s.count}
		}
	}
	slices.Sort(s.v4)
	slices.SortFunc(s.v6, cmpKey)
	return s
}

func cmpKey(a, b key) int {
	if a.hi != b.hi {
		if a.hi < b.hi {
			return -1
		}
		return 1
	}
	switch {
	case a.lo < b.lo:
		return -1
	case a.lo > b.lo:
		return 1
	}
	return 0
}

// addrSet is an index's address summary: exact (v4, v6) or a Bloom
// filter.
type addrSet struct {
	v4    []uint32 // exact: IPv4 addresses, ascending
	v6    []key    // exact: other addresses, ascending
	bloom []uint32 // non-nil: a filter of len/8 blocks, and v4, v6 nil
	count uint64   // distinct addresses; with a filter, those that set a bit
}

func (s *addrSet) has(k key) bool {
	if s.bloom != nil {
		return bloomHas(s.bloom, hash(k))
	}
	if k.is4() {
		_, ok := slices.BinarySearch(s.v4, uint32(k.lo))
		return ok
	}
	_, ok := slices.BinarySearchFunc(s.v6, k, cmpKey)
	return ok
}

// fpr is the set's false-positive rate.
func (s *addrSet) fpr() float64 {
	if s.bloom == nil {
		return 0
	}
	return bloomFPR(s.bloom)
}

// portSet is an index's port summary, always exact: a list while it is
// smaller than the bitmap, else a bitmap of all 65,536 ports.
type portSet struct {
	list   []uint16 // ascending, when bitmap is nil
	bitmap []uint64 // portWords words, bit p: port p
	count  int
}

const (
	portWords   = 65536 / 64
	portListMax = portWords * 8 / 2 // a list of as many ports is as large as the bitmap
)

func (s *portSet) has(p uint16) bool {
	if s.bitmap != nil {
		return s.bitmap[p>>6]&(1<<(p&63)) != 0
	}
	_, ok := slices.BinarySearch(s.list, p)
	return ok
}

// portSetOf summarises a port bitmap of count ports.
func portSetOf(bitmap *[portWords]uint64, count int) portSet {
	if count >= portListMax {
		return portSet{bitmap: slices.Clone(bitmap[:]), count: count}
	}
	s := portSet{list: make([]uint16, 0, count), count: count}
	for w, v := range bitmap {
		for v != 0 {
			s.list = append(s.list, uint16(w*64+bits.TrailingZeros64(v)))
			v &= v - 1
		}
	}
	return s
}
