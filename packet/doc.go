// Package packet decodes the headers of an Ethernet frame far enough to
// summarise it: VLAN tags, IPv4/IPv6 addresses, the transport protocol
// and ports. It reads untrusted bytes and never panics on them; it never
// allocates per frame beyond the Summary it returns.
package packet
