package dpdk

import "testing"

// FuzzTunnelReceiver: on hostile bytes the GRETAP, GRE and VXLAN
// receivers (key 7, VNI 42) count each packet in exactly one of
// decapsulated, other, wrong_key and malformed, keep exactly the
// decapsulated ones, never make a frame longer than it came (GRE's
// Ethernet header of the outer MACs replaces more than it adds), and free
// what they refuse: the pool holds every mbuf after.
func FuzzTunnelReceiver(f *testing.F) {
	pool := newDecapPool(f)
	f.Cleanup(pool.Close)
	inner := cat(ethH(0x0800), ip4H(17, ip4A, ip4B, udpH(1000, 53, make([]byte, 20)), 0))
	gre := func(proto uint16, key uint32, payload []byte) []byte {
		return cat(ethH(0x0800), ip4H(47, ip4B, ip4A, cat(be(0x2000), be(proto), be(uint16(key>>16)), be(uint16(key)), payload), 0))
	}
	vxlan := func(vni uint32, payload []byte) []byte {
		return cat(ethH(0x0800), ip4H(17, ip4B, ip4A, udpH(49152, 4789, cat([]byte{8, 0, 0, 0}, be(uint16(vni>>8)), []byte{byte(vni), 0}, payload)), 0))
	}
	for _, s := range [][]byte{
		gre(0x6558, 7, inner), gre(0x0800, 7, inner[14:]), gre(0x6558, 8, inner), vxlan(42, inner), vxlan(43, inner),
		cat(ethH(0x8100), be(100), gre(0x6558, 7, inner)[12:]), inner, {},
	} {
		f.Add(s)
	}
	receivers := []TunnelIn{{Kind: TunnelGRETAP, Key: 7, HasKey: true}, {Kind: TunnelGRE, Key: 7, HasKey: true},
		{Kind: TunnelVXLAN, Key: 42}}
	// The seeds each receiver must take, as they went in (GRE: behind an
	// Ethernet header of the outer MACs).
	for i, want := range [][]byte{inner, cat(macB, macA, inner[12:]), inner} {
		seed := [][]byte{gre(0x6558, 7, inner), gre(0x0800, 7, inner[14:]), vxlan(42, inner)}[i]
		kept, st, err := tunnelForTest(&receivers[i], pool, [][]byte{seed})
		if err != nil || st.Decapsulated != 1 || len(kept) != 1 || string(kept[0]) != string(want) {
			f.Fatalf("%s: kept %x (%+v, %v), want %x", receivers[i].Kind, kept, st, err, want)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 2048 {
			return
		}
		for _, r := range receivers {
			kept, st, err := tunnelForTest(&r, pool, [][]byte{data})
			if err != nil {
				t.Fatal(err)
			}
			if st.Decapsulated+st.Other+st.WrongKey+st.Malformed != 1 || uint64(len(kept)) != st.Decapsulated {
				t.Fatalf("%s on %x: counts %+v, %d kept", r.Kind, data, st, len(kept))
			}
			if len(kept) == 1 && len(kept[0]) > len(data) {
				t.Fatalf("%s on %x: kept %d bytes of %d", r.Kind, data, len(kept[0]), len(data))
			}
			if a := pool.Audit(); a.InUse != 0 {
				t.Fatalf("%s on %x: %d mbufs in use", r.Kind, data, a.InUse)
			}
		}
	})
}
