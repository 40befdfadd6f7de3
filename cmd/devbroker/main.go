// Command devbroker runs a Kafka-protocol broker (franz-go's kfake) on
// loopback for the demo and the tests: not for production.
//
//	devbroker -listen 127.0.0.1:9092 -topic pcap -partitions 1 [-data DIR]
//
// With -data the broker keeps its log on disk and reloads it on restart,
// so tests can kill and restart it without losing what it acknowledged.
// It prints "listening ADDR" once it accepts connections.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9092", "address to listen on (port 0 picks one)")
	topic := flag.String("topic", "pcap", "topic to create")
	partitions := flag.Int("partitions", 1, "partitions of the topic, and of topics created on first use")
	data := flag.String("data", "", "directory to persist the log in (empty: memory only)")
	var seeds []kfake.Opt
	flag.Func("seed", "another topic to create, as name:partitions (repeatable)", func(v string) error {
		name, n, ok := strings.Cut(v, ":")
		p, err := strconv.Atoi(n)
		if !ok || name == "" || err != nil || p < 1 {
			return fmt.Errorf("%q: write name:partitions, e.g. flows:8", v)
		}
		seeds = append(seeds, kfake.SeedTopics(int32(p), name))
		return nil
	})
	flag.Parse()

	host, portStr, err := net.SplitHostPort(*listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "devbroker: -listen %q: %v\n", *listen, err)
		os.Exit(2)
	}
	if host != "127.0.0.1" && host != "localhost" && host != "::1" {
		fmt.Fprintf(os.Stderr, "devbroker: -listen %q: loopback only\n", *listen)
		os.Exit(2)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "devbroker: -listen %q: bad port\n", *listen)
		os.Exit(2)
	}
	opts := []kfake.Opt{
		kfake.Ports(port),
		kfake.SeedTopics(int32(*partitions), *topic),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(*partitions),
		kfake.ListenFn(func(network, addr string) (net.Listener, error) {
			_, p, _ := net.SplitHostPort(addr)
			return net.Listen(network, net.JoinHostPort(host, p))
		}),
	}
	opts = append(opts, seeds...)
	if *data != "" {
		opts = append(opts, kfake.DataDir(*data))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "devbroker: %v\n", err)
		os.Exit(2)
	}
	fmt.Printf("listening %s\n", c.ListenAddrs()[0])
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	c.Close()
}
