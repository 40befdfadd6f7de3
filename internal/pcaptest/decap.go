package pcaptest

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/fastcapa-go/fastcapa/internal/testenv"
)

// The kinds of innermost packet, numbered as dpdk's C enum fc_inner_kind.
const (
	InnerNone = 0 // nothing removed: the frame as is
	InnerEth  = 1 // an Ethernet header at Off
	InnerIP4  = 2 // an IPv4 header at Off
	InnerIP6  = 3 // an IPv6 header at Off
)

// Decap is tshark's view of one frame's innermost packet, by the rule
// dpdk/decap.h writes down: the last Ethernet or IP header that comes
// right after a removed VLAN tag, MPLS stack or tunnel.
type Decap struct {
	Off    int    // where the innermost packet starts
	Kind   int    // InnerNone, InnerEth, InnerIP4, InnerIP6
	Layers int    // removals before it (each VLAN tag, MPLS stack, tunnel)
	Frame  []byte // the innermost packet as an Ethernet frame, as fc_inner_enter presents it
	// Stream is tshark's conversation of the TCP or UDP header right
	// after the innermost IP header ("tcp 3", "udp 0"), "" if none.
	Stream string
	// Tuple is that conversation's protocol and endpoints (address and
	// port, in tshark's text, the lower endpoint first), "" if none.
	Tuple string
	// Protos are tshark's top-level protocols of the frame, in order.
	Protos []string
}

// decapProtos are the protocols the rule walks through; tshark decoding
// any other one (ARP, PPPoE, NSH, a pseudowire...) ends the walk.
var decapProtos = map[string]bool{
	"eth": true, "vlan": true, "ieee8021ad": true, "mpls": true, "ip": true, "ipv6": true, "gre": true, "erspan": true,
	"vxlan": true, "geneve": true, "gtp": true, "udp": true, "tcp": true, "sctp": true,
}

// Decapsulated is the oracle of decapsulation: tshark's decode of every
// frame of the Ethernet capture path (with UDP port 8472 decoded as
// VXLAN, IP reassembly off), reduced to each frame's innermost packet. It
// never decodes a byte itself: positions are tshark's (pdml "pos").
// The records are read with ReadAll; an error fails the test.
func Decapsulated(tb testing.TB, path string) []Decap {
	tb.Helper()
	recs := ReadAll(tb, path)
	cmd := exec.Command(testenv.RequireTool(tb, "tshark"), "-r", path, "-T", "pdml",
		"-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE", "-o", "tcp.desegment_tcp_streams:FALSE",
		"-d", "udp.port==8472,vxlan")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	frames, perr := readPdml(out)
	io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		tb.Fatalf("tshark %s: %v: %s", path, err, stderr.String())
	}
	if perr != nil {
		tb.Fatalf("tshark %s: pdml: %v", path, perr)
	}
	if len(frames) != len(recs) {
		tb.Fatalf("%s: tshark decodes %d frames, the file holds %d", path, len(frames), len(recs))
	}
	ds := make([]Decap, len(recs))
	for i, protos := range frames {
		ds[i] = innermost(protos, recs[i].Data)
	}
	return ds
}

// pdmlProto is one top-level <proto> of a pdml packet.
type pdmlProto struct {
	name      string
	pos, size int
	stream    string // its <field name="NAME.stream" show=...>
	src, dst  string // NAME.src, NAME.dst, or NAME.srcport, NAME.dstport
}

// readPdml reads tshark -T pdml: each packet's top-level protocols.
func readPdml(r io.Reader) ([][]pdmlProto, error) {
	d := xml.NewDecoder(r)
	var frames [][]pdmlProto
	var cur []pdmlProto
	depth := 0 // protos open
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return frames, nil
		}
		if err != nil {
			return nil, err
		}
		switch e := tok.(type) {
		case xml.StartElement:
			switch e.Name.Local {
			case "packet":
				cur = nil
			case "proto":
				depth++
				if depth == 1 {
					p := pdmlProto{name: attr(e, "name")}
					p.pos, _ = strconv.Atoi(attr(e, "pos"))
					p.size, _ = strconv.Atoi(attr(e, "size"))
					cur = append(cur, p)
				}
			case "field":
				if depth != 1 || len(cur) == 0 {
					break
				}
				p := &cur[len(cur)-1]
				switch attr(e, "name") {
				case p.name + ".stream":
					p.stream = attr(e, "show")
				case p.name + ".src", p.name + ".srcport":
					p.src = attr(e, "show")
				case p.name + ".dst", p.name + ".dstport":
					p.dst = attr(e, "show")
				}
			}
		case xml.EndElement:
			switch e.Name.Local {
			case "packet":
				frames = append(frames, cur)
			case "proto":
				depth--
			}
		}
	}
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// innermost applies decap.h's rule to tshark's protocols of one frame.
func innermost(protos []pdmlProto, data []byte) Decap {
	d := Decap{}
	for _, p := range protos {
		d.Protos = append(d.Protos, p.name)
	}
	layers, removed := 0, false
	prev := "" // the previous protocol walked, IPv6 extension headers skipped
	var ip pdmlProto
	reach := func(p pdmlProto, kind, min int) bool {
		if p.size < min || p.pos+p.size > len(data) {
			return false // truncated: tshark shows what there is
		}
		if removed {
			d.Off, d.Kind, d.Layers = p.pos, kind, layers
		}
		removed = false
		d.Stream, d.Tuple = "", ""
		return true
	}
walk:
	for _, p := range protos {
		switch {
		case p.name == "geninfo" || p.name == "frame" || strings.HasPrefix(p.name, "ipv6."):
			continue
		case !decapProtos[p.name]:
			break walk
		}
		switch p.name {
		case "eth": // the outer header, or one after a tunnel
			if !reach(p, InnerEth, 14) {
				break walk
			}
		case "vlan", "ieee8021ad", "gre", "vxlan", "geneve", "gtp":
			layers++
			removed = true
		case "mpls":
			if prev != "mpls" {
				layers++
			}
			removed = true
		case "erspan":
			if prev != "gre" {
				layers++
			}
			removed = true
		case "ip", "ipv6":
			if prev == "ip" || prev == "ipv6" {
				layers++ // IP in IP
				removed = true
			}
			kind, min := InnerIP4, 20
			if p.name == "ipv6" {
				kind, min = InnerIP6, 40
			}
			if !reach(p, kind, min) {
				break walk
			}
			ip = p
		case "tcp", "udp", "sctp":
			if (prev == "ip" || prev == "ipv6") && p.stream != "" {
				d.Stream = p.name + " " + p.stream
				a, b := ip.src+" "+p.src, ip.dst+" "+p.dst
				if a > b {
					a, b = b, a
				}
				d.Tuple = p.name + " " + a + " " + b
			}
		}
		prev = p.name
	}
	switch d.Kind {
	case InnerNone:
		d.Frame = data
	case InnerEth:
		d.Frame = data[d.Off:]
	default:
		f := make([]byte, 0, 14+len(data)-d.Off)
		f = append(f, data[:12]...)
		if d.Kind == InnerIP4 {
			f = append(f, 0x08, 0x00)
		} else {
			f = append(f, 0x86, 0xDD)
		}
		d.Frame = append(f, data[d.Off:]...)
	}
	return d
}

// String is d in one line, for messages.
func (d Decap) String() string {
	return fmt.Sprintf("kind %d at %d, %d layers (%s)", d.Kind, d.Off, d.Layers, strings.Join(d.Protos, ":"))
}
