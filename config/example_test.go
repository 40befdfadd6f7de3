package config_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/fastcapa-go/fastcapa/config"
)

// Load a file, check it, and build DPDK's arguments from it: what the
// daemon does at start-up before it touches a device.
func Example() {
	cfg, err := config.Load("fastcapa.example.yaml")
	if err != nil {
		fmt.Println("load:", err)
		return
	}
	// Validate also fills each port's defaults.
	if err := cfg.Validate(); err != nil {
		fmt.Println("config:", err)
		return
	}
	fmt.Println("port:", cfg.Ports[0].Name, "queues:", cfg.Ports[0].RxQueues)
	fmt.Println("brokers:", cfg.Kafka.Properties["bootstrap.servers"])
	fmt.Println("eal:", strings.Join(cfg.EALArgs(), " "))
	// Output:
	// port: net_pcap0 queues: 1
	// brokers: 127.0.0.1:9092
	// eal: -l 0,1 --no-huge -m 512 --file-prefix fastcapa --no-pci --vdev net_pcap0,rx_pcap=../shared/pcaps/metron-example.pcap --no-telemetry
}

// A bad value comes back as a *FieldError naming the field, so a caller
// can point at it.
func ExampleFieldError() {
	cfg, err := config.Decode(strings.NewReader(`
ports:
  - name: net_pcap0
capture:
  ring_size: 1000
kafka:
  properties:
    bootstrap.servers: 127.0.0.1:9092
`))
	if err != nil {
		fmt.Println("decode:", err)
		return
	}
	var fe *config.FieldError
	if err := cfg.Validate(); errors.As(err, &fe) {
		fmt.Println(fe.Field)
		fmt.Println(err)
	}
	// Output:
	// capture.ring_size
	// capture.ring_size: 1000 is not a power of two from 64 to 2^28: use e.g. 65536
}
