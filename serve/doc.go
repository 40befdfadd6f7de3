// Package serve is pcapstore serve: the query over HTTP, for analysts
// who do not log in to storage hosts.
//
// It answers three ways, each through package query, so that an answer
// holds exactly the packets pcapstore query (and tcpdump) would give:
//
//   - Streaming (stream.go): POST /query with a Stenographer query (a
//     tcpdump expression with before/after terms, steno.go) or a JSON
//     Params body, or GET /query for a browser's download; the pcap is
//     written as it is found, without a timeout, and stops when the
//     client goes away. How it ended (complete, limited, incomplete, and
//     which captures or hosts failed) is in the Pcapstore-Status and
//     Pcapstore-Summary trailers, so a cut answer is never mistaken for
//     a whole one.
//   - Metron's REST jobs (jobs.go): /api/v1/pcap/fixed and /query start
//     a job writing pages to disk; status, pages, config and kill, with
//     Metron's states and page numbers, a per-user limit on running jobs
//     and a retention on results.
//   - The web page (web/, embedded; web.go): a time range, the histogram
//     of packets and bytes from the sidecar indexes or from flow records
//     (records.ReadFlowSpans), a query validated as
//     it is typed, its count with progress, the top talkers and
//     conversations, and the download of the matching packets as one
//     pcap (GET /query).
//   - Client (client.go): Params and the Pcapstore-* trailers from the
//     other side, for pcapstore query -server.
//
// Who asks is decided by Auth (auth.go): TLS client certificates,
// bearer tokens or HTTP Basic against hashed credentials in files, or
// nobody on a loopback listener. Every request is logged with who asked
// what and how it ended.
//
// The package never decides what a query keeps, prunes or reads (query
// does), never writes outside its jobs directory, and never serves a
// path that is not one of its stores.
package serve
