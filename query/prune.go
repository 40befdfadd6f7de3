package query

import (
	"net/netip"
	"time"

	"github.com/fastcapa-go/fastcapa/index"
)

// IndexPruner prunes by each capture's sidecar index (package index): a
// capture whose index says none of its packets can be one the query
// keeps is not opened. What an index is asked: the time range [start,
// end] (a zero Time leaves that side open) and, for a fixed query f, its
// addresses, ports and protocol, each of which a packet f keeps carries
// (f is nil for an expression query: an expression's fields are not read
// out of it). A missing, invalid or stale index answers known false: the
// capture is scanned. IndexPruner returns nil when the query constrains
// nothing an index knows.
func IndexPruner(start, end time.Time, f *Fixed) Pruner {
	return IndexPrunerOf(start, end, f, nil)
}

// IndexOf loads the index of the capture at path (index.Load for a
// file): an error when there is none to trust, and the capture is
// scanned.
type IndexOf func(path string) (*index.Index, error)

// IndexPrunerOf is IndexPruner with the indexes load gives (nil:
// index.Load): those of objects in a bucket, for instance.
func IndexPrunerOf(start, end time.Time, f *Fixed, load IndexOf) Pruner {
	all := indexConstraints(start, end, f)
	if len(all) == 0 {
		return nil
	}
	if load == nil {
		load = index.Load
	}
	return func(path string) (mayMatch, known bool) {
		ix, err := load(path)
		if err != nil {
			return false, false
		}
		for _, c := range all {
			if !ix.MayMatch(c) {
				return false, true
			}
		}
		return true, true
	}
}

// indexConstraints are what IndexPruner asks each index, all of which a
// file that may hold a match meets: one Constraints per given address
// and per given port (each is in every packet f keeps, in one direction
// or the other, in one IP header or another), each with the time range
// and protocol; or the time range and protocol alone. nil when that
// constrains nothing.
func indexConstraints(start, end time.Time, f *Fixed) []index.Constraints {
	base := index.Constraints{From: start, To: end}
	var addrs []netip.Addr
	var ports []uint16
	if f != nil {
		if f.Protocol != 0 {
			base.Protocols = []uint8{f.Protocol}
		}
		addrs, ports = []netip.Addr{f.SrcAddr, f.DstAddr}, []uint16{f.SrcPort, f.DstPort}
	}
	var all []index.Constraints
	for _, a := range addrs {
		if a.IsValid() {
			c := base
			c.Hosts = []netip.Addr{a}
			all = append(all, c)
		}
	}
	for _, p := range ports {
		if p != 0 {
			c := base
			c.Ports = []uint16{p}
			all = append(all, c)
		}
	}
	if len(all) == 0 {
		if base.From.IsZero() && base.To.IsZero() && len(base.Protocols) == 0 {
			return nil
		}
		all = append(all, base)
	}
	return all
}
