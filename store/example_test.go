package store_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

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
