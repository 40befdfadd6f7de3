package index

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"testing"

	"github.com/fastcapa-go/fastcapa/filter"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// TestTcpdumpFiltersImplyMatch: tcpdump's own primitives, compiled by
// libpcap and run as tcpdump runs them (package filter), never select a
// packet of the shared captures that Match does not: for every host,
// port and protocol the walk finds in a capture, "host X", "port N" and
// "ip proto P or ip6 proto P" (on untagged frames and on one or two VLAN
// tags), and "mpls", "pppoes" and "geneve" followed by the host or port,
// select only frames Match selects for the same value. So an index also
// prunes correctly for a query made of these primitives.
func TestTcpdumpFiltersImplyMatch(t *testing.T) {
	frames := sharedFrames(t)
	byFile := map[string][]pcap.Record{}
	var files []string
	for _, fr := range frames {
		if byFile[fr.file] == nil {
			files = append(files, fr.file)
		}
		byFile[fr.file] = append(byFile[fr.file], fr.rec)
	}
	sort.Strings(files)
	var compiled, selected int
	refused := map[string]bool{}
	for _, file := range files {
		recs := byFile[file]
		hosts := map[netip.Addr]bool{}
		ports := map[uint16]bool{}
		protos := map[uint8]bool{}
		for _, r := range recs {
			h := walk(r.LinkType, r.Data)
			for _, k := range h.addrs[:h.nAddrs] {
				hosts[keyAddr(k)] = true
			}
			for _, p := range h.ports[:h.nPorts] {
				ports[p] = true
			}
			for p := range 256 {
				if h.protos[p>>6]&(1<<(p&63)) != 0 {
					protos[uint8(p)] = true
				}
			}
		}
		type check struct {
			expr string
			vlan bool
			q    Constraints
		}
		var checks []check
		for a := range hosts {
			q := Constraints{Hosts: []netip.Addr{a}}
			checks = append(checks, check{"host " + a.String(), true, q})
			for _, pre := range []string{"mpls", "pppoes", "geneve"} {
				checks = append(checks, check{pre + " and host " + a.String(), false, q})
			}
		}
		for p := range ports {
			q := Constraints{Ports: []uint16{p}}
			checks = append(checks, check{fmt.Sprint("port ", p), true, q})
			for _, pre := range []string{"mpls", "pppoes", "geneve"} {
				checks = append(checks, check{fmt.Sprint(pre, " and port ", p), false, q})
			}
		}
		for p := range protos {
			checks = append(checks, check{fmt.Sprintf("ip proto %d or ip6 proto %d", p, p), true, Constraints{Protocols: []uint8{p}}})
		}
		for _, c := range checks {
			f, err := filter.New(filter.Spec{Expr: c.expr, MatchVLAN: c.vlan})
			if err != nil {
				if !errors.Is(err, filter.ErrCompile) {
					t.Fatalf("%s: %v", c.expr, err)
				}
				refused[c.expr] = true
				continue
			}
			compiled++
			for i, r := range recs {
				if !f.Match(r.Data, r.OrigLen) {
					continue
				}
				selected++
				if !c.q.Match(r) {
					t.Errorf("%s frame %d: tcpdump %q selects it, Match does not", file, i+1, c.expr)
				}
			}
		}
	}
	t.Logf("%d filters compiled (%d refused), %d frames selected", compiled, len(refused), selected)
}

func keyAddr(k key) netip.Addr {
	var b [16]byte
	for i := range 8 {
		b[i] = byte(k.hi >> (56 - 8*i))
		b[8+i] = byte(k.lo >> (56 - 8*i))
	}
	return netip.AddrFrom16(b).Unmap()
}
