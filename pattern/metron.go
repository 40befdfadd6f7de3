package pattern

import "encoding/binary"

// metronGlobalHeader is the pcap file header Metron put before every
// packet it stored (PcapHelper.getPcapGlobalHeader for a little-endian
// host): magic a1b2c3d4 (microseconds), version 2.4, zone 0, sigfigs 0,
// snap length 65535, link type 1 (Ethernet), each little-endian.
var metronGlobalHeader = [24]byte{
	0xd4, 0xc3, 0xb2, 0xa1, 0x02, 0x00, 0x04, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xff, 0xff, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
}

// MetronRecordLen is how many bytes Metron put before each frame.
const MetronRecordLen = 24 + 16

// AppendMetronRecord appends to dst the bytes Metron's packet_filter
// searched for one packet, and returns the extended slice: the frame
// as Metron stored it, a one-packet pcap file. That is a 24-byte pcap
// file header, a 16-byte record header (seconds and microseconds of
// ts, nanoseconds since the epoch truncated to microseconds; the
// frame's length twice), then the frame, all little-endian as Metron
// wrote them on x86 (PcapHelper.addHeaders, called by the FROM_KEY
// deserializer that fastcapa's Kafka records went through).
//
// A pattern matched on AppendMetronRecord's bytes keeps exactly the
// packets Metron's fixed filter kept; matched on the frame alone, it
// differs only for patterns that can match within or across the first
// MetronRecordLen bytes. With dst reused, it allocates nothing once
// dst has room.
func AppendMetronRecord(dst []byte, ts int64, frame []byte) []byte {
	us := uint64(ts) / 1000 // Metron: Long.divideUnsigned(tsNano, 1000)
	dst = append(dst, metronGlobalHeader[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(us/1_000_000))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(us%1_000_000))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(frame)))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(frame)))
	return append(dst, frame...)
}
