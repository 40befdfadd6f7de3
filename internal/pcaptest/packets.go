package pcaptest

import "encoding/binary"

// IPv4 is an IPv4 header (no options, ID 1, TTL 64) with a correct
// checksum before payload; frag is the flags and fragment offset field.
// Tests that craft packets build their IPv4 headers here.
func IPv4(proto byte, src, dst []byte, payload []byte, frag uint16) []byte {
	h := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0}
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
	binary.BigEndian.PutUint16(h[6:], frag)
	h = append(append(append(h, src...), dst...), payload...)
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	sum = sum>>16 + sum&0xffff
	binary.BigEndian.PutUint16(h[10:], ^uint16(sum+sum>>16))
	return h
}
