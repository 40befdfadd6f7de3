package filter

import (
	"path/filepath"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/fastcapa-go/fastcapa/filter/internal/libpcap"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// longFilter is a long expression of the kind a target might carry.
const longFilter = "(tcp and (port 80 or port 443 or port 8080) and not src net 10.0.0.0/8) or " +
	"(udp and portrange 5000-6000) or (icmp and ip[8] < 64) or " +
	"(ip6 and tcp[tcpflags] & tcp-push != 0) or (arp and ether broadcast) or " +
	"(len >= 1500 and ip[9] = 17) or ip6 protochain 58"

var benchFilters = []struct {
	name, expr string
	vlan       bool
}{
	{"tcp", "tcp", false},
	{"udp_port_53", "udp port 53", false},
	{"host_10.0.0.1", "host 10.0.0.1", false},
	{"vlan_and_tcp", "vlan and tcp", false},
	{"long", longFilter, false},
	{"host_10.0.0.1_MatchVLAN", "host 10.0.0.1", true},
}

// benchPackets are metron-example.pcap's frames (HTTP and DNS, 651 B on
// average), as the sink would see them.
func benchPackets(b testing.TB) []pcap.Record {
	_, recs, err := pcap.ReadFile(filepath.Join(testenv.Pcaps(b), "metron-example.pcap"))
	if err != nil {
		b.Fatal(err)
	}
	return recs
}

// BenchmarkMatch measures one packet a op: our interpreter (vm),
// golang.org/x/net/bpf's VM on the same program (xnet; it reads "len"
// as the captured length, see TestXNetVMLenIsCaptured), and libpcap's
// pcap_offline_filter through one cgo call a packet (cgo).
func BenchmarkMatch(b *testing.B) {
	pkts := benchPackets(b)
	for _, bf := range benchFilters {
		f, err := New(Spec{Expr: bf.expr, MatchVLAN: bf.vlan})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bf.name+"/vm", func(b *testing.B) {
			b.ReportAllocs()
			kept := 0
			for i := 0; i < b.N; i++ {
				r := &pkts[i%len(pkts)]
				if f.Match(r.Data, r.OrigLen) {
					kept++
				}
			}
			b.ReportMetric(float64(kept)/float64(b.N), "kept/op")
		})
		b.Run(bf.name+"/xnet", func(b *testing.B) {
			insns, ok := bpf.Disassemble(f.Program())
			if !ok {
				b.Skip("x/net/bpf cannot disassemble the program")
			}
			vm, err := bpf.NewVM(insns)
			if err != nil {
				b.Skipf("x/net/bpf refuses the program: %v", err)
			}
			b.ReportAllocs()
			kept := 0
			for i := 0; i < b.N; i++ {
				if n, _ := vm.Run(pkts[i%len(pkts)].Data); n != 0 {
					kept++
				}
			}
			b.ReportMetric(float64(kept)/float64(b.N), "kept/op")
		})
		b.Run(bf.name+"/cgo", func(b *testing.B) {
			p, err := libpcap.Compile(f.Expr(), LinkTypeEthernet, snapLen, true)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Free()
			b.ReportAllocs()
			kept := 0
			for i := 0; i < b.N; i++ {
				r := &pkts[i%len(pkts)]
				if p.Match(r.Data, r.OrigLen) {
					kept++
				}
			}
			b.ReportMetric(float64(kept)/float64(b.N), "kept/op")
		})
	}
}

// BenchmarkNew measures a compile (libpcap, serialized).
func BenchmarkNew(b *testing.B) {
	for _, bf := range benchFilters {
		b.Run(bf.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := New(Spec{Expr: bf.expr, MatchVLAN: bf.vlan}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Why not golang.org/x/net/bpf's VM: it loads "len" as the captured
// length, where libpcap loads the wire length, so it disagrees on every
// truncated packet a "len", "less" or "greater" test reads.
func TestXNetVMLenIsCaptured(t *testing.T) {
	f, err := New(Spec{Expr: "greater 1000"})
	if err != nil {
		t.Fatal(err)
	}
	insns, _ := bpf.Disassemble(f.Program())
	vm, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 64) // 64 bytes captured of a 1500-byte frame
	n, _ := vm.Run(data)
	p, err := libpcap.Compile("greater 1000", LinkTypeEthernet, snapLen, true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Free()
	if libpcapSays := p.Match(data, 1500); !libpcapSays || !f.Match(data, 1500) || n != 0 {
		t.Errorf("libpcap %v, ours %v, x/net %v; want true, true, false", libpcapSays, f.Match(data, 1500), n != 0)
	}
}
