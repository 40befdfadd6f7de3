// Package pcaptest holds what the project's tests share about capture
// files: writing records as a capture of any format, compression,
// precision and link type (WriteCapture), reading every record of one
// back (ReadAll, Read), and tcpdump as the independent oracle of what
// libpcap keeps of a capture for a filter (Tcpdump), and tshark as the
// oracle of decapsulation: each frame's innermost packet by dpdk/decap.h's
// rule, and that packet as the filter sees it (Decapsulated); tcpdump
// listening on an interface, in a network namespace, as the oracle of what
// went out on it (Listen); and the IPv4 header crafted packets carry
// (IPv4).
//
// It builds on package pcap's readers and writers and never replaces
// them; package pcap's own in-package tests cannot import it (a cycle)
// and use pcap.ReadAll. Environment checks (skips, tools, MinIO, file
// descriptors) belong to internal/testenv.
package pcaptest
