package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/fastcapa-go/fastcapa/query"
)

// Params is a query as JSON: Metron's FixedPcapRequest and
// QueryPcapRequest fields (the body of POST /api/v1/pcap/fixed and
// /query), and of POST /query with Content-Type application/json, which
// pcapstore query -server sends. Metron's query field is a tcpdump
// expression here, not Stellar. Unknown fields are refused.
type Params struct {
	// BasePath, if set, narrows the search to one of the server's stores
	// or a path under one; any other path is refused.
	BasePath string `json:"basePath,omitempty"`
	// Both inclusive, in milliseconds since the epoch; unset: open.
	StartTimeMs *int64 `json:"startTimeMs,omitempty"`
	EndTimeMs   *int64 `json:"endTimeMs,omitempty"`

	// Metron's fixed query; each unset field matches anything.
	IPSrcAddr      string `json:"ipSrcAddr,omitempty"`
	IPDstAddr      string `json:"ipDstAddr,omitempty"`
	IPSrcPort      Port   `json:"ipSrcPort,omitempty"`
	IPDstPort      Port   `json:"ipDstPort,omitempty"`
	Protocol       string `json:"protocol,omitempty"`
	IncludeReverse bool   `json:"includeReverse,omitempty"`
	// PacketFilter is Metron's byte pattern the packet must hold too.
	PacketFilter string `json:"packetFilter,omitempty"`

	// Query is a tcpdump expression; set (even to ""), it makes the
	// query an expression one and the fixed fields must be unset.
	Query *string `json:"query,omitempty"`

	// Ours: -tunnels, -vlan (default: true for fixed, false for an
	// expression, as pcapstore query's), the limits, -no-index.
	Tunnels    bool  `json:"tunnels,omitempty"`
	VLAN       *bool `json:"vlan,omitempty"`
	MaxPackets int64 `json:"maxPackets,omitempty"`
	MaxBytes   int64 `json:"maxBytes,omitempty"`
	NoIndex    bool  `json:"noIndex,omitempty"`

	// Metron's Hadoop fields: accepted, no effect.
	BaseInterimResultPath string `json:"baseInterimResultPath,omitempty"`
	FinalOutputPath       string `json:"finalOutputPath,omitempty"`
	NumReducers           int    `json:"numReducers,omitempty"`
}

// Port is a port as Metron's JSON gives it: a number, or a string of
// one (0 or "": any).
type Port string

func (p *Port) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*p = ""
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		*p = Port(n)
	} else {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("a port is a number")
		}
		*p = Port(s)
	}
	if *p == "0" {
		*p = ""
	}
	return nil
}

func (p Port) MarshalJSON() ([]byte, error) {
	if n, err := strconv.ParseUint(string(p), 10, 16); err == nil {
		return strconv.AppendUint(nil, n, 10), nil
	}
	return json.Marshal(string(p))
}

// DecodeParams reads a JSON Params, refusing unknown fields and
// trailing data. Errors wrap query.ErrSpec.
func DecodeParams(b []byte) (Params, error) {
	var p Params
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&p); err != nil {
		return p, fmt.Errorf("%w: JSON body: %v", query.ErrSpec, err)
	}
	if d.More() {
		return p, fmt.Errorf("%w: JSON body: more than one object", query.ErrSpec)
	}
	return p, nil
}

// fixedSet reports whether a fixed field is set.
func (p *Params) fixedSet() bool {
	return p.IPSrcAddr != "" || p.IPDstAddr != "" || p.IPSrcPort != "" || p.IPDstPort != "" ||
		p.Protocol != "" || p.IncludeReverse
}

// Request is the query p asks for: fixed unless p.Query is set. Errors
// wrap query.ErrSpec.
func (p *Params) Request() (query.Request, error) {
	r := query.Request{
		Pattern: p.PacketFilter, Tunnels: p.Tunnels, NoIndex: p.NoIndex,
		MaxPackets: p.MaxPackets, MaxBytes: p.MaxBytes,
	}
	if p.Query != nil {
		if p.fixedSet() {
			return r, fmt.Errorf("%w: query is an expression: leave ipSrcAddr, ipDstAddr, ipSrcPort, ipDstPort, protocol and includeReverse unset (or write them in the expression)", query.ErrSpec)
		}
		if p.Tunnels {
			return r, fmt.Errorf("%w: tunnels is for fixed queries", query.ErrSpec)
		}
		r.Expr = *p.Query
	} else {
		r.Fixed = &query.FixedFields{
			SrcAddr: p.IPSrcAddr, DstAddr: p.IPDstAddr, SrcPort: string(p.IPSrcPort), DstPort: string(p.IPDstPort),
			Protocol: p.Protocol, IncludeReverse: p.IncludeReverse,
		}
	}
	r.MatchVLAN = r.Fixed != nil
	if p.VLAN != nil {
		r.MatchVLAN = *p.VLAN
	}
	if p.StartTimeMs != nil {
		r.Start = time.UnixMilli(*p.StartTimeMs)
	}
	if p.EndTimeMs != nil {
		r.End = time.UnixMilli(*p.EndTimeMs) // inclusive, as Metron's ts <= end in ns
	}
	if p.MaxPackets < 0 || p.MaxBytes < 0 {
		return r, fmt.Errorf("%w: maxPackets and maxBytes take a number ≥ 0", query.ErrSpec)
	}
	return r, nil
}

// ParamsOf is the Params that asks for r, for a client: times are sent
// to the millisecond, as Metron's fields hold them (and pcapstore
// query's -st and -et give them). Workers is the server's to choose.
func ParamsOf(r query.Request) Params {
	p := Params{
		PacketFilter: r.Pattern, Tunnels: r.Tunnels, NoIndex: r.NoIndex,
		MaxPackets: r.MaxPackets, MaxBytes: r.MaxBytes,
	}
	vlan := r.MatchVLAN
	p.VLAN = &vlan
	if r.Fixed != nil {
		f := r.Fixed
		p.IPSrcAddr, p.IPDstAddr, p.Protocol, p.IncludeReverse = f.SrcAddr, f.DstAddr, f.Protocol, f.IncludeReverse
		p.IPSrcPort, p.IPDstPort = Port(f.SrcPort), Port(f.DstPort)
	} else {
		e := r.Expr
		p.Query = &e
	}
	if !r.Start.IsZero() {
		ms := r.Start.UnixMilli()
		p.StartTimeMs = &ms
	}
	if !r.End.IsZero() {
		ms := r.End.UnixMilli()
		p.EndTimeMs = &ms
	}
	return p
}
