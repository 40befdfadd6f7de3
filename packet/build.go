package packet

import "encoding/binary"

// UDPFrame builds an Ethernet/IPv4/UDP frame of size bytes (at least 42)
// from 10.0.0.1:srcPort to 10.0.0.2:dstPort, with a valid IPv4 header
// checksum and a zero payload: synthetic traffic for benchmarks and tests.
func UDPFrame(size int, srcPort, dstPort uint16) []byte {
	f := make([]byte, max(size, 42))
	copy(f, []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00})
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(len(f)-14))
	ip[8], ip[9] = 64, ProtoUDP
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := f[34:42]
	binary.BigEndian.PutUint16(udp[0:], srcPort)
	binary.BigEndian.PutUint16(udp[2:], dstPort)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(f)-34))
	return f
}
