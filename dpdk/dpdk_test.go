package dpdk

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/pcap"
)

// One EAL per process: TestMain starts it with the vdevs every test here
// uses, each test opening its own port.
var (
	ealInfo EALInfo
	ealErr  error
	pcaps   string
)

func TestMain(m *testing.M) {
	pcaps = os.Getenv("FASTCAPA_PCAPS")
	if pcaps == "" {
		pcaps = filepath.Join(testenv.Root(), "..", "shared", "pcaps")
	}
	if os.Geteuid() == 0 {
		ealInfo, ealErr = Init([]string{
			"-l", "0,1", "--no-huge", "--no-pci", "-m", "512", "--no-telemetry",
			"--file-prefix", fmt.Sprintf("fc-dpdk-test-%d", os.Getpid()),
			"--vdev", "net_pcap_metron,rx_pcap=" + filepath.Join(pcaps, "metron-example.pcap"),
			"--vdev", "net_pcap_big,rx_pcap=" + filepath.Join(pcaps, "tcpdump-tests", "bigtcp-ipv6.pcap"),
			"--vdev", "net_pcap_jumbo,rx_pcap=" + filepath.Join(pcaps, "tcpdump-tests", "dns_fwdptr.pcap"),
			"--vdev", "net_pcap_poison,rx_pcap=" + filepath.Join(pcaps, "metron-example.pcap"),
			// For openPort's failures (port_test.go).
			"--vdev", "net_null_nopool",
			"--vdev", "net_null_tiny",
		})
	}
	code := m.Run()
	if ealErr == nil && os.Geteuid() == 0 {
		Cleanup()
		os.RemoveAll(fmt.Sprintf("/var/run/dpdk/fc-dpdk-test-%d", os.Getpid())) // EAL leaves it
	}
	os.Exit(code)
}

// openReplayPort hot-plugs a net_pcap port named name that replays the
// sample from memory forever, and opens it with one RX queue on pool.
// Each benchmark has its own (closing a port releases it) and closes it
// before its pool; the vdev goes at cleanup.
func openReplayPort(b *testing.B, name string, pool *Mempool) *Port {
	b.Helper()
	if err := addVdevForTest(name, "rx_pcap="+filepath.Join(pcaps, "metron-example.pcap")+",infinite_rx=1"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { removeVdevForTest(name) })
	port, err := OpenPort(PortSpec{Name: name, RxQueues: 1, RxDescriptors: 512, Promiscuous: true,
		PoolFor: func(int) (*Mempool, error) { return pool, nil }})
	if err != nil {
		b.Fatal(err)
	}
	return port
}

func requireEAL(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t)
	if ealErr != nil {
		t.Fatalf("eal: %v", ealErr)
	}
	if len(ealInfo.Workers) == 0 {
		t.Fatal("no worker lcore")
	}
}

type rig struct {
	pool *Mempool
	port *Port
	ring *Ring
	rx   *RxLcore
}

func newRig(t *testing.T, port string, mbufs uint32) *rig {
	t.Helper()
	requireEAL(t)
	r := &rig{}
	var err error
	r.pool, err = NewMempool(MempoolSpec{Name: "p-" + port, Mbufs: mbufs, Cache: 32, DataRoom: 2048 + 128, Socket: -1})
	if err != nil {
		t.Fatal(err)
	}
	r.port, err = OpenPort(PortSpec{Name: port, RxQueues: 1, RxDescriptors: 512, Promiscuous: true,
		PoolFor: func(int) (*Mempool, error) { return r.pool, nil }})
	if err != nil {
		t.Fatal(err)
	}
	r.ring, err = NewRing(RingSpec{Name: "r-" + port, Size: 8192, Socket: -1})
	if err != nil {
		t.Fatal(err)
	}
	r.rx, err = NewRxLcore(RxSpec{Lcore: ealInfo.Workers[0], Queues: []RxQueue{{r.port, 0}}, Ring: r.ring, Burst: 32})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// drain receives until want packets came through the ring or 10 s pass,
// handing each to fn while the burst still owns it.
func (r *rig) drain(t *testing.T, want int, fn func(b *Burst, i, seq int)) {
	t.Helper()
	if err := r.rx.Launch(); err != nil {
		t.Fatal(err)
	}
	b, err := NewBurst(32)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	deadline := time.Now().Add(10 * time.Second)
	for got < want && time.Now().Before(deadline) {
		n := b.Cycle(r.ring)
		for i := 0; i < n; i++ {
			fn(b, i, got)
			got++
		}
		if n == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	r.rx.Stop()
	for n := b.Cycle(r.ring); n > 0; n = b.Cycle(r.ring) {
		got += n
	}
	b.Close()
	if got != want {
		t.Errorf("received %d packets through the ring, want %d", got, want)
	}
}

func (r *rig) close(t *testing.T) MempoolAudit {
	t.Helper()
	r.rx.Close()
	if err := r.port.Close(); err != nil {
		t.Errorf("close port: %v", err)
	}
	r.ring.Close()
	a := r.pool.Audit()
	r.pool.Close()
	return a
}

func TestReplayKeepsBytesAndFileTimestamps(t *testing.T) {
	r := newRig(t, "net_pcap_metron", 4095)
	_, recs, err := pcap.ReadFile(filepath.Join(pcaps, "metron-example.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	r.drain(t, len(recs), func(b *Burst, i, seq int) {
		p := b.Packet(i)
		want := recs[seq]
		if !bytes.Equal(p.Data, want.Data) || p.Len != len(want.Data) {
			t.Errorf("packet %d: %d bytes differ from the file's %d", seq, p.Len, len(want.Data))
		}
		if p.Timestamp != uint64(want.Timestamp) {
			t.Errorf("packet %d: timestamp %d, file has %d", seq, p.Timestamp, want.Timestamp)
		}
	})
	st := r.rx.Stats()[0]
	if st.Packets != uint64(len(recs)) || st.RingDropped != 0 || st.DeviceStamp != uint64(len(recs)) {
		t.Errorf("stats %+v, want %d packets, all device-stamped, no ring drops", st, len(recs))
	}
	if a := r.close(t); a.InUse != 0 {
		t.Errorf("after close %d mbufs in use (%+v)", a.InUse, a)
	}
}

// A frame larger than one mbuf arrives as a chain; Copy returns all of it.
// Frames net_pcap chained wrongly (over 65535 B) are flagged Malformed,
// never passed on short.
func TestMultiSegmentFramesArriveWhole(t *testing.T) {
	for _, c := range []struct{ port, file string }{
		{"net_pcap_jumbo", "dns_fwdptr.pcap"},
		{"net_pcap_big", "bigtcp-ipv6.pcap"},
	} {
		t.Run(c.file, func(t *testing.T) {
			r := newRig(t, c.port, 8191)
			_, recs, err := pcap.ReadFile(filepath.Join(pcaps, "tcpdump-tests", c.file))
			if err != nil {
				t.Fatal(err)
			}
			var multi, malformed int
			buf := make([]byte, 1<<18)
			r.drain(t, len(recs), func(b *Burst, i, seq int) {
				p := b.Packet(i)
				want := recs[seq].Data
				if p.Len != len(want) {
					t.Errorf("packet %d: length %d, file has %d", seq, p.Len, len(want))
				}
				data := p.Data
				if p.Segments > 1 {
					multi++
					var err error
					data, err = b.Copy(i, buf)
					if p.Malformed {
						malformed++
						if err == nil {
							t.Errorf("packet %d: copy of a malformed chain succeeded", seq)
						}
						if len(want) <= 65535 {
							t.Errorf("packet %d: %d B flagged malformed", seq, len(want))
						}
						return
					}
					if err != nil {
						t.Fatalf("packet %d: copy: %v", seq, err)
					}
				}
				if !bytes.Equal(data, want) {
					t.Errorf("packet %d (%d segments): bytes differ from the file", seq, p.Segments)
				}
			})
			t.Logf("%d frames, %d multi-segment, %d malformed by the PMD", len(recs), multi, malformed)
			if multi == 0 {
				t.Error("no multi-segment frame seen; the test proves nothing")
			}
			if a := r.close(t); a.InUse != 0 {
				t.Errorf("after close %d mbufs in use", a.InUse)
			}
		})
	}
}

// Audit must see a double free, the original fastcapa's bug.
func TestAuditSeesDoubleFree(t *testing.T) {
	requireEAL(t)
	pool, err := NewMempool(MempoolSpec{Name: "doublefree", Mbufs: 100, Cache: 0, DataRoom: 2176, Socket: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if a := pool.Audit(); a.InUse != 0 {
		t.Fatalf("fresh pool: %+v", a)
	}
	if err := doubleFreeForTest(pool); err != nil {
		t.Fatal(err)
	}
	if a := pool.Audit(); a.InUse != -1 {
		t.Errorf("after a double free Audit says %+v, want InUse -1", a)
	}
}

// With poisoning on, a burst's data is overwritten when it is freed: a
// reader that kept a view would see 0xEE.
func TestPoisonOnFree(t *testing.T) {
	r := newRig(t, "net_pcap_poison", 4095)
	SetPoisonOnFree(true)
	defer SetPoisonOnFree(false)
	var kept []byte
	var copied []byte
	r.drain(t, 761, func(b *Burst, i, seq int) {
		if seq == 0 {
			kept = b.Packet(i).Data
			copied = append([]byte(nil), kept...)
		}
	})
	if len(kept) == 0 || bytes.Equal(kept, copied) {
		t.Fatal("data seen after free is unchanged: poisoning did not happen")
	}
	if kept[0] != 0xEE && kept[len(kept)-1] != 0xEE {
		t.Errorf("freed data starts %x, want 0xEE poison", kept[:4])
	}
	r.close(t)
}
