// Command pcapstore turns the packet topic into stored capture files and
// reads them back. It needs no DPDK: it runs on storage hosts.
//
//	pcapstore sink -brokers HOST:PORT -topic pcap -group pcapstore -dir /data/pcap [flags]
//	pcapstore inspect FILE [-n N]
//	pcapstore query fixed|expr ... (pcapstore query -h)
//	pcapstore index [-force] DIR...
//
// Exit status: 0 done, 1 a runtime failure, 2 bad usage or configuration.
package main

import (
	"fmt"
	"os"
)

const usage = `usage:
  pcapstore sink -brokers HOST:PORT -topic TOPIC -group GROUP -dir DIR [flags]
      consume the topic into rotated capture files (pcapstore sink -h for flags)
  pcapstore inspect [-n N] FILE
      one line per packet: time (ns), length, protocol, addresses, ports
  pcapstore query fixed|expr [options] ...
      find packets in stored captures, as Metron's pcap_query (pcapstore query -h)
  pcapstore index [-force] DIR...
      build the sidecar index of each capture that lacks one (the sink writes them itself)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "sink":
		os.Exit(runSink(os.Args[2:]))
	case "inspect":
		os.Exit(runInspect(os.Args[2:]))
	case "query":
		os.Exit(runQuery(os.Args[2:]))
	case "index":
		os.Exit(runIndex(os.Args[2:]))
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "pcapstore: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
}
