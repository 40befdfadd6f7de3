package store_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fastcapa-go/fastcapa/pcap"
	"github.com/fastcapa-go/fastcapa/store"
)

// A sink's life: Recover what a crash left, write a partition's records
// into one-minute files in day directories, and finalize the last one.
func Example() {
	dir, err := os.MkdirTemp("", "store-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	if _, _, err := store.Recover(dir); err != nil {
		fmt.Println(err)
		return
	}
	w, err := store.NewWriter(store.Spec{
		Dir:      dir,
		Template: "%Y%m%d/{topic}-{partition}-{start}-{end}.pcap",
		Slot:     time.Minute,
		Nanos:    true,
	}, store.Vars{Topic: "pcap", Partition: 0})
	if err != nil {
		fmt.Println(err)
		return
	}
	frame := make([]byte, 60)
	start := time.Date(2024, 3, 1, 12, 0, 58, 0, time.UTC).UnixNano()
	for i := range 4 { // 12:00:58, 12:00:59, 12:01:00, 12:01:01
		rotated, err := w.Write(start+int64(i)*1e9, frame, 60)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, f := range rotated {
			rel, _ := filepath.Rel(dir, f.Path)
			fmt.Println(rel, f.Packets)
		}
	}
	f, err := w.Finalize()
	if err != nil {
		fmt.Println(err)
		return
	}
	rel, _ := filepath.Rel(dir, f.Path)
	fmt.Println(rel, f.Packets)
	// Output:
	// 20240301/pcap-0-1709294458-1709294459.pcap 2
	// 20240301/pcap-0-1709294460-1709294461.pcap 2
}

// Compressed pcapng: the template names the capture, the compression's
// suffix is appended, and pcap.OpenFile reads it back whatever it is.
func Example_compressed() {
	dir, err := os.MkdirTemp("", "store-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	w, err := store.NewWriter(store.Spec{
		Dir:         dir,
		Template:    "{topic}-{partition}-{start}.pcapng",
		Format:      pcap.FormatPcapNG,
		Compression: pcap.CompressZstd,
		Nanos:       true,
	}, store.Vars{Topic: "pcap", Partition: 3})
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano()
	for i := range 1000 {
		if _, err := w.Write(start+int64(i)*1000, make([]byte, 60), 60); err != nil {
			fmt.Println(err)
			return
		}
	}
	f, err := w.Finalize()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(filepath.Base(f.Path), f.Packets, f.CaptureBytes, f.Bytes < f.CaptureBytes/10)

	c, err := pcap.OpenFile(f.Path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	n := 0
	for {
		if _, err := c.Next(); err != nil {
			break
		}
		n++
	}
	fmt.Println(c.Format(), c.Compression(), n)
	// Output:
	// pcap-3-1709294400.pcapng.zst 1000 92060 true
	// pcapng zstd 1000
}
