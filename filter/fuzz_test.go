package filter

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastcapa-go/fastcapa/filter/internal/libpcap"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// libpcapWords are libpcap 1.10's keywords (scanner.l). FuzzMatch only
// compiles expressions whose words are among them, so that no fuzzed
// word is looked up as a host name over DNS.
var libpcapWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`aarp action addr1 addr2 addr3 addr4 address1 address2 address3 address4 ah and arp atalk bcc broadcast byte carp
	clnp connectmsg csnp decnet dir direction dpc dst es-is esis esp ether fddi fisu gateway geneve greater hdpc hfisu hlssu hmsu hopc host hsio
	hsls icmp icmp-echo icmp-echoreply icmp-ireq icmp-ireqreply icmp-maskreply icmp-maskreq icmp-paramprob icmp-redirect icmp-routeradvert
	icmp-routersolicit icmp-sourcequench icmp-timxceed icmp-tstamp icmp-tstampreply icmp-unreach icmp6 icmp6-destinationunreach icmp6-echo
	icmp6-echoreply icmp6-neighboradvert icmp6-neighborsolicit icmp6-packettoobig icmp6-parameterproblem icmp6-redirect icmp6-routeradvert
	icmp6-routersolicit icmp6-timeexceeded icmp6code icmp6type icmpcode icmptype ifindex ifname igmp igrp iih ilmic inbound ip ip6 ipx is-is
	isis iso l1 l2 lane lat len length less link llc lsp lssu lsu mask metac metaconnect mopdl moprc mpls msu multicast net netbeui not oam
	oamf4 oamf4ec oamf4sc on opc or outbound pim port portrange ppp pppoed pppoes proto protochain psnp ra radio rarp reason rnr rset rulenum
	ruleset sc sca sctp sio slip sls snp src srnr stp subrulenum subtype ta tcp tcp-ack tcp-cwr tcp-ece tcp-fin tcp-push tcp-rst tcp-syn
	tcp-urg tcpflags tr type udp vci vlan vpi vrrp wlan`) {
		libpcapWords[w] = true
	}
}

// offline reports whether compiling expr looks nothing up over the
// network: every word is a keyword, a number or address (starts with a
// digit), or hex digits beside a ':' (a MAC or IPv6 address).
func offline(expr string) bool {
	isWord := func(r byte) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-'
	}
	for i := 0; i < len(expr); {
		if !isWord(expr[i]) {
			i++
			continue
		}
		j := i
		for j < len(expr) && isWord(expr[j]) {
			j++
		}
		w := expr[i:j]
		nearColon := i > 0 && expr[i-1] == ':' || j < len(expr) && expr[j] == ':'
		hex := strings.Trim(w, "0123456789abcdefABCDEF") == ""
		if !libpcapWords[w] && !(w[0] >= '0' && w[0] <= '9') && !(hex && nearColon) {
			return false
		}
		i = j
	}
	return true
}

// FuzzMatch: for any expression libpcap compiles (optimized or not,
// plain or as VLANExpr) and any bytes and wire length, our interpreter
// decides as libpcap's pcap_offline_filter on the same program. A run
// cut short by maxBackwardJumps is not handed to libpcap, which may
// loop forever on it (see ahLoop). Seeded with the oracle's filters over
// real frames, truncated ones and the AH loop.
func FuzzMatch(f *testing.F) {
	var frames [][]byte
	for _, name := range []string{
		"metron-example.pcap", "tcpdump-tests/various_gre.pcap", "tcpdump-tests/icmpv6.pcap",
		"tcpdump-tests/ipv6-routing-header.pcap", "tcpdump-tests/dns_udp.pcap", "tcpdump-tests/arp-oobr.pcap",
		"tcpdump-tests/tok2str-oobr-2.pcap", "tcpdump-tests/ipv4_tcp_http_xml.pcap", "tcpdump-tests/LLDP_and_CDP.pcap",
	} {
		c, err := readCapture(filepath.Join(testenv.Pcaps(f), name))
		if err != nil {
			f.Fatal(err)
		}
		for _, r := range c.recs[:min(3, len(c.recs))] {
			frames = append(frames, r.Data, r.Data[:min(len(r.Data), 40)])
		}
	}
	for i, e := range append(append([]string{}, oracleFilters...), innerFilters...) {
		for k := 0; k < 3; k++ {
			f.Add(e, frames[(3*i+k)%len(frames)], uint16(k))
		}
	}
	f.Add("ip6 protochain 6", ahLoop(), uint16(0))
	f.Fuzz(func(t *testing.T, expr string, data []byte, extra uint16) {
		if len(expr) > 256 || strings.IndexByte(expr, 0) >= 0 || !offline(expr) {
			return
		}
		optimize := extra&1 == 0
		if extra&2 != 0 {
			if _, err := libpcap.Compile(expr, LinkTypeEthernet, snapLen, true); err != nil {
				return
			}
			expr = VLANExpr(expr)
		}
		wireLen := uint32(len(data)) + uint32(extra>>2)
		p, err := libpcap.Compile(expr, LinkTypeEthernet, snapLen, optimize)
		if err != nil {
			return
		}
		defer p.Free()
		prog := p.Instructions()
		if err := validate(prog); err != nil {
			t.Fatalf("%q: libpcap's program fails validate: %v", expr, err)
		}
		ours, capped := run(prog, data, wireLen)
		if capped {
			return
		}
		if theirs := p.Match(data, wireLen); (ours != 0) != theirs {
			t.Errorf("%q (optimize %v) on %d of %d bytes % x: we %v, libpcap %v", expr, optimize, len(data), wireLen, data, ours != 0, theirs)
		}
	})
}
