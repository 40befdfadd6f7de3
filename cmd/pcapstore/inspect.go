package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/fastcapa-go/fastcapa/packet"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// runInspect is Metron's pcap_inspector: one line per packet, "time (ns)
// length summary", from a pcap or pcapng file, plain or compressed (gzip,
// zstd, lz4). Frames of other link types than Ethernet that carry IP or
// an EtherType are decoded from there, with a note on stderr; others are
// printed as "linktype N, not decoded".
func runInspect(args []string) int {
	fs := flag.NewFlagSet("pcapstore inspect", flag.ContinueOnError)
	n := fs.Int("n", 0, "print at most N packets (0: all)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: pcapstore inspect FILE [-n N]\n  FILE: pcap or pcapng, plain or .gz/.zst/.lz4 compressed")
		fs.PrintDefaults()
	}
	// Flags before or after the file.
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	path := fs.Arg(0)
	if fs.NArg() > 1 {
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return 2
		}
	} else {
		fs.Parse(nil)
	}
	if path == "" || fs.NArg() != 0 || *n < 0 {
		fmt.Fprintln(os.Stderr, "pcapstore inspect: name one capture file, and -n N with N ≥ 0")
		return 2
	}
	c, err := pcap.OpenFile(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pcapstore inspect: %v\n", err)
		return 2
	}
	defer c.Close()
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	noted := map[uint32]bool{pcap.LinkTypeEthernet: true}
	var scratch []byte
	for i := 0; *n == 0 || i < *n; i++ {
		rec, err := c.Next()
		if err == io.EOF {
			return 0
		}
		if err != nil {
			out.Flush()
			fmt.Fprintf(os.Stderr, "pcapstore inspect: %s: after %d packets: %v\n", path, i, err)
			return 1
		}
		var frame []byte
		frame, scratch = asEthernet(rec.LinkType, rec.Data, scratch)
		if !noted[rec.LinkType] {
			noted[rec.LinkType] = true
			how := "decoded from its network header"
			if frame == nil {
				how = "not decoded"
			}
			fmt.Fprintf(os.Stderr, "pcapstore inspect: %s: link type %d (%s): %s\n", path, rec.LinkType, linkName(rec.LinkType), how)
		}
		if frame == nil {
			fmt.Fprintf(out, "%d %d linktype %d, not decoded\n", rec.Timestamp, rec.OrigLen, rec.LinkType)
			continue
		}
		fmt.Fprintf(out, "%d %d %s\n", rec.Timestamp, rec.OrigLen, packet.Decode(frame))
	}
	return 0
}

// Link types that carry an EtherType or IP (tcpdump.org/linktypes.html).
const (
	linkNull  = 0   // 4-byte address family, host byte order
	linkRaw   = 101 // IPv4 or IPv6
	linkLoop  = 108 // 4-byte address family, network byte order
	linkSLL   = 113 // Linux cooked capture v1: EtherType at 14
	linkIPv4  = 228
	linkIPv6  = 229
	linkSLL2  = 276 // Linux cooked capture v2: EtherType at 0
	etherIPv4 = 0x0800
	etherIPv6 = 0x86dd
)

func linkName(lt uint32) string {
	switch lt {
	case linkNull:
		return "BSD loopback"
	case linkRaw:
		return "raw IP"
	case linkLoop:
		return "OpenBSD loopback"
	case linkSLL:
		return "Linux cooked v1"
	case linkIPv4:
		return "raw IPv4"
	case linkIPv6:
		return "raw IPv6"
	case linkSLL2:
		return "Linux cooked v2"
	}
	return "unknown to inspect"
}

// asEthernet returns data as an Ethernet frame for packet.Decode: as it
// is for Ethernet; for a link type that carries IP or an EtherType, its
// network layer behind a made-up Ethernet header, built in scratch
// (returned for reuse); nil for any other.
func asEthernet(lt uint32, data, scratch []byte) (frame, buf []byte) {
	if lt == pcap.LinkTypeEthernet {
		return data, scratch
	}
	var et uint16
	var payload []byte
	ipVersion := func(b []byte) uint16 {
		if len(b) > 0 && b[0]>>4 == 6 {
			return etherIPv6
		}
		return etherIPv4
	}
	family := func(af uint32) uint16 {
		switch af {
		case 2:
			return etherIPv4
		case 10, 24, 28, 30: // AF_INET6 on Linux, NetBSD/OpenBSD, FreeBSD, macOS
			return etherIPv6
		}
		return 0
	}
	switch lt {
	case linkRaw:
		et, payload = ipVersion(data), data
	case linkIPv4:
		et, payload = etherIPv4, data
	case linkIPv6:
		et, payload = etherIPv6, data
	case linkSLL:
		if len(data) < 16 {
			return nil, scratch
		}
		et, payload = binary.BigEndian.Uint16(data[14:]), data[16:]
	case linkSLL2:
		if len(data) < 20 {
			return nil, scratch
		}
		et, payload = binary.BigEndian.Uint16(data), data[20:]
	case linkNull, linkLoop:
		if len(data) < 4 {
			return nil, scratch
		}
		af := binary.BigEndian.Uint32(data)
		if lt == linkNull && family(af) == 0 {
			af = binary.LittleEndian.Uint32(data) // the writer's byte order
		}
		et, payload = family(af), data[4:]
		if et == 0 {
			return nil, scratch
		}
	default:
		return nil, scratch
	}
	buf = append(scratch[:0], make([]byte, 12)...)
	buf = binary.BigEndian.AppendUint16(buf, et)
	buf = append(buf, payload...)
	return buf, buf
}
