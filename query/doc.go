// Package query finds packets in stored captures: the files `pcapstore
// sink` writes, or any directories of pcap and pcapng files, plain or
// compressed. It answers Metron's pcap_query on one machine.
//
// A Spec names the paths to search, a tcpdump filter (compiled by package
// filter, so a query keeps exactly the packets tcpdump keeps), an
// optional payload matcher, a time range and limits. Run walks the paths,
// reads each capture's first record, sorts the files by it, scans them in
// parallel and hands the matching records to an emit function, one at a
// time, in the order a chronological merge of the files gives (mergecap's
// order; see Run). Memory stays bounded whatever the result size: each
// file being read holds a few batches of matches, and files are opened
// only as the merge reaches their first packet time.
//
// Fixed is Metron's fixed query (addresses, ports, protocol,
// include-reverse), written out as the tcpdump expression it means;
// ParseFixed reads it from Metron's fields and ParseTime Metron's start
// and end times. Fixed.Matchers makes a Spec's filter and payload
// matcher of it (Tunnels to test every IP header, and Metron's byte
// pattern with it), IndexPruner the Pruner that asks each capture's
// sidecar index for its time range, addresses, ports and protocol, and
// NamePruner the one that reads FMADIO names. Output writes the answer
// as Metron does: one pcap, or pages named by PageName.
//
// Every file is accounted for in Stats: scanned, pruned (by a Pruner,
// such as a sidecar index), skipped (hidden, sidecars, clearly not a
// capture, with the reason), failed (a capture that could not be opened,
// or is corrupt part way) or cut short at its end; either of the last
// two makes the answer incomplete (ErrIncomplete), as tcpdump -r exits 1
// on such a file. Walk (whose names store.Walk classifies) and Sniff
// (which reads a loose file's first bytes) are the rule for which files
// are captures; pcapstore index follows it too. The package writes no
// file but an Output's pages (never over an existing file), deletes
// none, never decodes packets itself and never logs.
package query
