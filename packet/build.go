package packet

import "encoding/binary"

// UDPFrame builds an Ethernet/IPv4/UDP frame of size bytes (at least 42)
// from 10.0.0.1:srcPort to 10.0.0.2:dstPort, with a valid IPv4 header
// checksum and a zero payload: synthetic traffic for benchmarks and tests.
func UDPFrame(size int, srcPort, dstPort uint16) []byte {
	f := ipv4Frame(max(size, 42), [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}, ProtoUDP)
	udp := f[34:42]
	binary.BigEndian.PutUint16(udp[0:], srcPort)
	binary.BigEndian.PutUint16(udp[2:], dstPort)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(f)-34))
	return f
}

// TCPFrame builds an Ethernet/IPv4/TCP frame from src:srcPort to
// dst:dstPort with the TCP flags given (FIN 0x01, SYN 0x02, RST 0x04,
// PSH 0x08, ACK 0x10), sequence number seq and payload zero bytes:
// synthetic traffic for tests.
func TCPFrame(src, dst [4]byte, srcPort, dstPort uint16, flags uint8, seq uint32, payload int) []byte {
	f := ipv4Frame(54+payload, src, dst, ProtoTCP)
	tcp := f[34:54]
	binary.BigEndian.PutUint16(tcp[0:], srcPort)
	binary.BigEndian.PutUint16(tcp[2:], dstPort)
	binary.BigEndian.PutUint32(tcp[4:], seq)
	tcp[12], tcp[13] = 5<<4, flags
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	return f
}

// ipv4Frame returns an Ethernet/IPv4 frame of size bytes from src to
// dst carrying protocol proto, its IPv4 header checksummed, the rest
// zero.
func ipv4Frame(size int, src, dst [4]byte, proto uint8) []byte {
	f := make([]byte, size)
	copy(f, []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00})
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(len(f)-14))
	ip[8], ip[9] = 64, proto
	copy(ip[12:], src[:])
	copy(ip[16:], dst[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	return f
}
