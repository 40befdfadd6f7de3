package query

import (
	"fmt"
	"time"

	"github.com/fastcapa-go/fastcapa/pattern"
)

// Request is a query as people and programs ask for it: pcapstore
// query's command line, and pcapstore serve's Metron jobs and streaming
// queries. Spec turns it into the Spec Run takes, so that a query means
// the same packets whichever way it was asked.
type Request struct {
	// Fixed, if set, is Metron's fixed query; else Expr is a tcpdump
	// expression ("" for every packet).
	Fixed *FixedFields
	Expr  string
	// Tunnels tests a fixed query on every IP header (Fixed.Matchers).
	Tunnels bool
	// MatchVLAN matches inside one or two VLAN tags (Spec.MatchVLAN).
	MatchVLAN bool
	// Pattern is Metron's packet filter, a byte pattern (package
	// pattern) the packet must hold as well; "" for none.
	Pattern string
	// Start and End bound the packet times, both inclusive; the zero
	// Time leaves that side open.
	Start, End time.Time
	// MaxPackets and MaxBytes limit the answer (Spec's), 0 for none.
	MaxPackets, MaxBytes int64
	// Workers is Spec.Workers.
	Workers int
	// NoIndex scans every capture: it prunes none by its sidecar index
	// or FMADIO name.
	NoIndex bool
	// IndexOf loads a capture's index for the pruner (nil: index.Load,
	// the sidecar beside a file).
	IndexOf IndexOf
	// Sources are Spec.Sources: captures besides the files under the
	// paths.
	Sources []Found
}

// Spec is the query r over paths, validated (its filter compiled).
// Errors wrap ErrSpec, or are filter's for an expression that does not
// compile.
func (r Request) Spec(paths []string) (Spec, error) {
	spec := Spec{
		Paths: paths, Sources: r.Sources, Filter: r.Expr, MatchVLAN: r.MatchVLAN,
		Start: r.Start, End: r.End,
		MaxPackets: r.MaxPackets, MaxBytes: r.MaxBytes, Workers: r.Workers,
	}
	if r.Pattern != "" {
		p, err := pattern.Compile(r.Pattern)
		if err != nil {
			return spec, fmt.Errorf("%w: packet filter %q: %v", ErrSpec, r.Pattern, err)
		}
		spec.Payload = p
	}
	var fixed *Fixed
	if r.Fixed != nil {
		f, err := ParseFixed(*r.Fixed)
		if err != nil {
			return spec, err
		}
		fixed = &f
		spec.Filter, spec.Payload = f.Matchers(r.Tunnels, spec.Payload)
	}
	if !r.NoIndex {
		spec.Prune = NamePruner(spec.Start, IndexPrunerOf(spec.Start, spec.End, fixed, r.IndexOf))
	}
	return spec, spec.Validate()
}

// Validate checks r as Spec does (its filter and pattern compiled)
// without paths to search: a query checked as it is typed.
func (r Request) Validate() error {
	_, err := r.Spec([]string{"."})
	return err
}
