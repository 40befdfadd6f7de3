package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fastcapa-go/fastcapa/pcap"
)

// runGenStore writes a store for the query benchmark: -hours hourly
// directories of capture files as pcapstore sink names them
// (%Y%m%d/%H/pcap_bench_{ts}_0.pcap), -bytes in all, made of the frames of
// -from in turn, 1 µs apart within an hour. Each hour's IPv4 frames get
// addresses of their own (10.H.x.y, the capture's last two octets kept),
// with the header checksum redone, so that a query for one host is
// selective: it matches in one hour only, as hosts come and go in real
// traffic. It prints the files, bytes, packets and one host per hour.
func runGenStore(args []string) int {
	fs := flag.NewFlagSet("fcbench gen-store", flag.ContinueOnError)
	from := fs.String("from", "", "capture whose frames to use")
	dir := fs.String("dir", "", "store directory to create")
	total := fs.Int64("bytes", 2<<30, "bytes of capture files to write in all")
	hours := fs.Int("hours", 24, "hourly directories")
	perHour := fs.Int("files-per-hour", 4, "files in each hour")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "fcbench gen-store: "+format+"\n", a...)
		return 2
	}
	if *from == "" || *dir == "" || *total < 1 || *hours < 1 || *hours > 250 || *perHour < 1 {
		return fail("need -from FILE, -dir DIR, -bytes > 0, -hours 1..250, -files-per-hour > 0")
	}
	_, recs, err := pcap.ReadFile(*from)
	if err == nil && len(recs) == 0 {
		err = fmt.Errorf("%s: no packet", *from)
	}
	if err != nil {
		return fail("%v", err)
	}
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	perFile := *total / int64(*hours**perHour)
	frame := make([]byte, 0, pcap.MaxSnapLen)
	var files, packets, bytes int64
	for h := 0; h < *hours; h++ {
		start := base.Add(time.Duration(h) * time.Hour)
		for f := 0; f < *perHour; f++ {
			ts := start.Add(time.Duration(f) * time.Hour / time.Duration(*perHour)).UnixNano()
			name := filepath.Join(*dir, start.Format("20060102/15"), fmt.Sprintf("pcap_bench_%d_0.pcap", ts))
			n, size, err := writeHour(name, recs, frame, h, ts, perFile)
			if err != nil {
				return fail("%v", err)
			}
			files, packets, bytes = files+1, packets+n, bytes+size
		}
	}
	fmt.Printf("files=%d bytes=%d packets=%d first=%s hours=%d host_of_hour_0=10.0.138.158\n",
		files, bytes, packets, base.Format(time.RFC3339), *hours)
	return 0
}

// writeHour writes one file of about size bytes from recs, packets 1 µs
// apart from ts, IPv4 addresses moved into 10.hour.x.y.
func writeHour(name string, recs []pcap.Record, frame []byte, hour int, ts, size int64) (packets, written int64, err error) {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return 0, 0, err
	}
	f, err := os.Create(name)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	w, err := pcap.NewWriter(f, true, pcap.MaxSnapLen)
	if err != nil {
		return 0, 0, err
	}
	written = 24
	for i := 0; written < size; i++ {
		r := recs[i%len(recs)]
		frame = append(frame[:0], r.Data...)
		readdress(frame, byte(hour))
		if err := w.Write(pcap.Record{Timestamp: ts + int64(i)*1000, OrigLen: r.OrigLen, Data: frame}); err != nil {
			return 0, 0, err
		}
		packets++
		written += int64(16 + len(frame))
	}
	if err := w.Flush(); err != nil {
		return 0, 0, err
	}
	return packets, written, f.Close()
}

// readdress rewrites an untagged Ethernet/IPv4 frame's addresses to
// 10.hour.c.d (c.d: the old last two octets) and redoes the header
// checksum; other frames are left alone.
func readdress(b []byte, hour byte) {
	if len(b) < 34 || binary.BigEndian.Uint16(b[12:]) != 0x0800 {
		return
	}
	ip := b[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ihl < 20 || len(ip) < ihl {
		return
	}
	for _, off := range []int{12, 16} {
		ip[off], ip[off+1] = 10, hour
	}
	ip[10], ip[11] = 0, 0
	var sum uint32
	for i := 0; i < ihl; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
}
