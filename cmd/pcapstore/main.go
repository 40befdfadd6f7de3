// Command pcapstore turns the packet topic into stored capture files and
// reads them back. It needs no DPDK: it runs on storage hosts.
//
//	pcapstore sink -brokers HOST:PORT -topic pcap -group pcapstore -dir /data/pcap [flags]
//	pcapstore inspect FILE [-n N]
//	pcapstore query fixed|expr ... (pcapstore query -h)
//	pcapstore index [-force] DIR...
//	pcapstore records -out DIR PATH...
//	pcapstore serve [flags] STORE...
//
// Exit status: 0 done, 1 a runtime failure, 2 bad usage or configuration.
package main

import (
	"fmt"
	"os"
)

const usage = `Usage: pcapstore COMMAND [OPTION]...
Turn the packet topic fastcapa produces into stored capture files, and read
them back. pcapstore needs no DPDK and no privileges: it runs on storage
hosts, as the pcapstore user under pcapstore-sink@.service.

Commands:
  sink -config FILE | -brokers HOST:PORT -topic TOPIC -group GROUP -dir DIR
      consume the topic into rotated capture files with sidecar indexes
      (pcapstore sink -h for its flags)
  inspect [-n N] FILE
      one line per packet: time (ns), length, protocol, addresses, ports
  query fixed|expr [OPTION]...
      find packets in stored captures, as Metron's pcap_query
      (pcapstore query -h)
  index [-force] DIR...
      build the sidecar index of each capture that lacks one (the sink
      writes them itself)
  records -out DIR PATH...
      packet and flow records of captures as Parquet, in date/hour
      partitions (pcapstore records -h)
  serve [OPTION]... STORE...
      the query over HTTP: streaming (Stenographer's POST /query) and
      Metron's REST jobs, with TLS client certificates, tokens or
      passwords (pcapstore serve -h)

Exit status:
  0  done
  1  a runtime failure
  2  bad usage or configuration

Examples:
  pcapstore sink -config /etc/fastcapa/sink-main.yaml
  pcapstore query fixed -ip_src_addr 10.0.0.1 /var/lib/pcapstore

Files:
  /etc/fastcapa/sink-NAME.yaml  the configuration pcapstore-sink@NAME.service
                                reads; every field is documented in it
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
	case "records":
		os.Exit(runRecords(os.Args[2:]))
	case "serve":
		os.Exit(runServe(os.Args[2:]))
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "pcapstore: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
}
