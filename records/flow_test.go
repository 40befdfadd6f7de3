package records

import (
	"encoding/json"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/fastcapa-go/fastcapa/internal/pcaptest"
	"github.com/fastcapa-go/fastcapa/internal/testenv"
	"github.com/fastcapa-go/fastcapa/packet"
	"github.com/fastcapa-go/fastcapa/pcap"
)

var (
	client = [4]byte{10, 0, 0, 1}
	server = [4]byte{10, 0, 0, 2}
)

const (
	fin = 0x01
	syn = 0x02
	rst = 0x04
	ack = 0x10
)

// flows runs frames (at times in seconds) through a Table and returns
// the records it wrote, the open flows last with End "end".
func flows(t *testing.T, to Timeouts, frames ...timed) []Flow {
	t.Helper()
	var out []Flow
	tab := NewTable(to, func(f *Flow) { out = append(out, f.clone()) })
	for i, f := range frames {
		d := Decode(int64(f.at*float64(time.Second)), uint32(len(f.data)), pcap.LinkTypeEthernet, f.data, "x.pcap", int64(i+1))
		if cid := tab.Add(&d); cid == "" {
			t.Fatalf("frame %d: no flow", i)
		}
	}
	tab.Flush()
	return out
}

type timed struct {
	at   float64
	data []byte
}

func c2s(at float64, flags uint8) timed {
	return timed{at, packet.TCPFrame(client, server, 40000, 80, flags, 1, 10)}
}

func s2c(at float64, flags uint8) timed {
	return timed{at, packet.TCPFrame(server, client, 80, 40000, flags, 1, 10)}
}

// TestTCPStates: Zeek's conn_state of each way a connection can go, the
// originator the sender of the first packet but for a SYN-ACK first.
func TestTCPStates(t *testing.T) {
	for _, c := range []struct {
		name   string
		frames []timed
		state  string
		orig   string
		end    string
	}{
		{"SF", []timed{c2s(0, syn), s2c(0.1, syn|ack), c2s(0.2, ack), c2s(0.3, fin|ack), s2c(0.4, fin|ack), c2s(0.5, ack)}, "SF", "10.0.0.1", "end"},
		{"S0", []timed{c2s(0, syn), c2s(1, syn)}, "S0", "10.0.0.1", "end"},
		{"S1", []timed{c2s(0, syn), s2c(0.1, syn|ack), c2s(0.2, ack)}, "S1", "10.0.0.1", "end"},
		{"REJ", []timed{c2s(0, syn), s2c(0.1, rst|ack)}, "REJ", "10.0.0.1", "end"},
		{"RSTO", []timed{c2s(0, syn), s2c(0.1, syn|ack), c2s(0.2, rst)}, "RSTO", "10.0.0.1", "end"},
		{"RSTR", []timed{c2s(0, syn), s2c(0.1, syn|ack), s2c(0.2, rst)}, "RSTR", "10.0.0.1", "end"},
		{"RSTOS0", []timed{c2s(0, syn), c2s(0.2, rst)}, "RSTOS0", "10.0.0.1", "end"},
		{"SH", []timed{c2s(0, syn), c2s(0.2, fin)}, "SH", "10.0.0.1", "end"},
		{"S2", []timed{c2s(0, syn), s2c(0.1, syn|ack), c2s(0.2, fin|ack)}, "S2", "10.0.0.1", "end"},
		{"S3", []timed{c2s(0, syn), s2c(0.1, syn|ack), s2c(0.2, fin|ack)}, "S3", "10.0.0.1", "end"},
		{"SYN-ACK first", []timed{s2c(0, syn|ack), c2s(0.1, ack)}, "OTH", "10.0.0.1", "end"},
		{"RSTRH", []timed{s2c(0, syn|ack), s2c(0.1, rst)}, "RSTRH", "10.0.0.1", "end"},
		{"SHR", []timed{s2c(0, syn|ack), s2c(0.1, fin)}, "SHR", "10.0.0.1", "end"},
		{"OTH midstream", []timed{s2c(0, ack), c2s(0.1, ack)}, "OTH", "10.0.0.2", "end"},
		// A closed connection is written once the close delay passed
		// without a packet, not at the end.
		{"closed", []timed{c2s(0, syn), s2c(0.1, syn|ack), c2s(0.2, rst), timed{7, packet.UDPFrame(60, 1, 2)}}, "RSTO", "10.0.0.1", "closed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := flows(t, Timeouts{}, c.frames...)
			f := fs[0]
			if f.State == nil || *f.State != c.state || f.OrigAddr != c.orig || f.End != c.end {
				t.Fatalf("state %v, orig %s, end %s; want %s, %s, %s", deref(f.State), f.OrigAddr, f.End, c.state, c.orig, c.end)
			}
			var n int64
			for _, fr := range c.frames {
				if len(fr.data) > 14 && fr.data[23] == 6 {
					n++
				}
			}
			if f.OrigPackets+f.RespPackets != n {
				t.Fatalf("%d+%d packets, want %d", f.OrigPackets, f.RespPackets, n)
			}
		})
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestTimeouts: the idle timeout ends a flow and a later packet of the
// same endpoints starts another (a new UID); the active timeout writes
// a long flow in parts that keep its UID and add up.
func TestTimeouts(t *testing.T) {
	to := Timeouts{Idle: 60 * time.Second, Active: 30 * time.Second}
	fs := flows(t, to, c2s(0, ack), s2c(1, ack), c2s(62, ack), c2s(63, ack))
	if len(fs) != 2 || fs[0].End != "idle" || fs[1].End != "end" || fs[0].UID == fs[1].UID ||
		fs[0].OrigPackets != 1 || fs[0].RespPackets != 1 || fs[1].OrigPackets != 2 {
		t.Fatalf("idle: %+v", fs)
	}
	var frames []timed
	for at := 0.0; at <= 100; at += 10 {
		frames = append(frames, c2s(at, ack))
	}
	fs = flows(t, to, frames...)
	var n int64
	for i, f := range fs {
		n += f.OrigPackets
		if f.UID != fs[0].UID || i < len(fs)-1 && f.End != "active" {
			t.Fatalf("active: record %d: %+v", i, f)
		}
	}
	if n != int64(len(frames)) || len(fs) < 3 {
		t.Fatalf("active: %d records of %d packets, want %d", len(fs), n, len(frames))
	}
}

// TestFlowKey: the endpoints' order does not matter; a VLAN tag, a port
// or the protocol does.
func TestFlowKey(t *testing.T) {
	tagged := func(f []byte, vlan uint16) []byte {
		return slices.Concat(f[:12], []byte{0x81, 0x00, byte(vlan >> 8), byte(vlan)}, f[12:])
	}
	a := packet.TCPFrame(client, server, 1, 2, ack, 0, 0)
	b := packet.TCPFrame(server, client, 2, 1, ack, 0, 0)
	fs := flows(t, Timeouts{}, timed{0, a}, timed{0, b}, timed{0, tagged(a, 7)}, timed{0, tagged(b, 7)},
		timed{0, packet.TCPFrame(client, server, 1, 3, ack, 0, 0)}, timed{0, packet.UDPFrame(60, 1, 2)})
	if len(fs) != 4 {
		t.Fatalf("%d flows, want 4: %+v", len(fs), fs)
	}
	if fs[0].OrigPackets != 1 || fs[0].RespPackets != 1 || fs[0].VLAN != nil || fs[1].VLAN == nil || *fs[1].VLAN != 7 ||
		fs[0].CommunityID != fs[1].CommunityID {
		t.Fatalf("%+v", fs[:2])
	}
	// The Community ID of the specification's own example, both ways.
	want := CommunityID(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("127.0.0.1"), 6, 1234, 80, true)
	if got := CommunityID(netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.0.0.1"), 6, 80, 1234, true); got != want {
		t.Fatalf("%s != %s", got, want)
	}
}

// TestTableSaveRestore: a table saved (through the JSON of the state
// file) and restored in another goes on as if it had never stopped:
// every flow record it writes equals the uninterrupted table's, field
// for field (UIDs aside, which each table draws anew for its new flows).
func TestTableSaveRestore(t *testing.T) {
	recs := pcaptest.ReadAll(t, filepath.Join(testenv.Pcaps(t), "metron-example.pcap"))
	var whole, split []Flow
	keep := func(out *[]Flow) func(*Flow) { return func(f *Flow) { *out = append(*out, f.clone()) } }
	add := func(tab *Table, rs []pcap.Record) {
		for i, r := range rs {
			d := Decode(r.Timestamp, r.OrigLen, r.LinkType, r.Data, "m.pcap", int64(i))
			tab.Add(&d)
		}
	}
	a := NewTable(Timeouts{}, keep(&whole))
	add(a, recs)
	a.Flush()

	b := NewTable(Timeouts{}, keep(&split))
	add(b, recs[:400])
	saved, err := json.Marshal(b.Save())
	if err != nil {
		t.Fatal(err)
	}
	var st TableState
	if err := json.Unmarshal(saved, &st); err != nil {
		t.Fatal(err)
	}
	c := NewTable(Timeouts{}, keep(&split))
	c.Restore(&st)
	add(c, recs[400:])
	c.Flush()

	if len(whole) != len(split) || len(whole) < 20 {
		t.Fatalf("%d flow records, %d without the restart", len(split), len(whole))
	}
	for i := range whole {
		w, s := whole[i], split[i]
		w.UID, s.UID = "", ""
		if !reflect.DeepEqual(w, s) {
			t.Errorf("record %d:\n restarted %+v\n whole     %+v", i, s, w)
		}
	}
}
