// Package pcap reads and writes classic libpcap capture files: both byte
// orders, microsecond and nanosecond timestamps. It holds no state beyond
// the file it wraps and never interprets packet contents.
package pcap
