package filter

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// What the oracle tests share: the captures as libpcap reads them,
// derived captures written for them, and tcpdump.

// Link types as pcap files give them (LINKTYPE_) and as pcap_open_dead
// takes them (DLT_), where they differ on Linux.
const (
	linkTypeRawFile = 101 // LINKTYPE_RAW
	dltRaw          = 12  // DLT_RAW
)

// dltOf maps a file's link type to the DLT_ libpcap compiles for, as
// libpcap's linktype_to_dlt does for the link types these captures hold.
func dltOf(fileLinkType uint32) uint32 {
	if fileLinkType == linkTypeRawFile {
		return dltRaw
	}
	return fileLinkType
}

// capture is one capture file's records as libpcap reads them.
type capture struct {
	name     string // for messages
	path     string // the file tcpdump reads
	linkType uint32 // the file header's (LINKTYPE_)
	recs     []pcap.Record
}

// readCapture reads a classic pcap file as libpcap 1.10 does (package
// pcap's reader cuts a record longer than the snapshot length to it, as
// sf-pcap.c does).
func readCapture(path string) (capture, error) {
	f, err := os.Open(path)
	if err != nil {
		return capture{}, err
	}
	defer f.Close()
	r, err := pcap.NewReader(f)
	if err != nil {
		return capture{}, fmt.Errorf("%s: %w", path, err)
	}
	c := capture{name: filepath.Base(path), path: path, linkType: r.Header().LinkType}
	if c.recs, err = pcap.ReadAll(r); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// sharedCaptures reads every shared capture; one tcpdump cannot read is
// a failure (they are all meant to be readable).
func sharedCaptures(t *testing.T) []capture {
	t.Helper()
	var cs []capture
	for _, p := range testenv.AllPcaps(t) {
		c, err := readCapture(p)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	if len(cs) < 200 {
		t.Fatalf("%d shared captures, expected over 200", len(cs))
	}
	return cs
}

// Synthetic tags: what taggedCapture puts in front of a frame's
// EtherType.
var tagStacks = [][]uint16{
	{},
	{0x8100, 100},
	{0x88a8, 200, 0x8100, 100},
	{0x9100, 300, 0x8100, 100},
	{0x8100, 400, 0x8100, 100},
	{0x88a8, 200, 0x8100, 100, 0x8100, 7}, // three tags
}

// taggedCapture derives an Ethernet capture with 0, 1, 2 and 3 VLAN
// tags from real frames: every frame of src under each tag stack, and
// each tagged frame also cut short at every offset through its headers
// (the wire length kept), so that tags and EtherTypes are sometimes
// missing.
func taggedCapture(t *testing.T, dir string, src []pcap.Record) capture {
	t.Helper()
	var recs []pcap.Record
	ts := int64(1_700_000_000e9)
	add := func(data []byte, wire uint32) {
		ts += 1000
		recs = append(recs, pcap.Record{Timestamp: ts, OrigLen: wire, Data: data})
	}
	for i, r := range src {
		if len(r.Data) < 14 {
			continue
		}
		for _, stack := range tagStacks {
			tags := make([]byte, 2*len(stack))
			for j, v := range stack {
				binary.BigEndian.PutUint16(tags[2*j:], v)
			}
			data := append(append(append([]byte{}, r.Data[:12]...), tags...), r.Data[12:]...)
			wire := r.OrigLen + uint32(len(tags))
			add(data, wire)
			if len(stack) > 0 && i%8 == 0 {
				for cut := 12; cut < 14+len(tags)+24 && cut < len(data); cut += 2 {
					add(data[:cut], wire)
				}
			}
		}
	}
	path := filepath.Join(dir, "tagged.pcap")
	pcaptest.WriteLinkType(t, path, pcap.LinkTypeEthernet, recs)
	c, err := readCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	c.name = "tagged (derived)"
	return c
}

// rawCapture derives a LINKTYPE_RAW capture (IP packets, no link
// header) from the Ethernet frames of src that carry IPv4 or IPv6.
func rawCapture(t *testing.T, dir string, src []capture) capture {
	t.Helper()
	var recs []pcap.Record
	for _, c := range src {
		for _, r := range c.recs {
			if len(r.Data) < 14 || r.OrigLen < 14 {
				continue
			}
			if et := binary.BigEndian.Uint16(r.Data[12:]); et != 0x0800 && et != 0x86dd {
				continue
			}
			recs = append(recs, pcap.Record{Timestamp: r.Timestamp, OrigLen: r.OrigLen - 14, Data: r.Data[14:]})
		}
	}
	path := filepath.Join(dir, "raw.pcap")
	pcaptest.WriteLinkType(t, path, linkTypeRawFile, recs)
	c, err := readCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	c.name = "raw IP (derived)"
	return c
}
