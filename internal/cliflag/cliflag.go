// Package cliflag holds the flag types the commands share.
package cliflag

import (
	"fmt"
	"strings"
)

// List is a repeatable string flag.
type List []string

func (l *List) String() string     { return strings.Join(*l, ",") }
func (l *List) Set(s string) error { *l = append(*l, s); return nil }

// Properties is a repeatable -X key=value flag (librdkafka properties).
type Properties map[string]string

func (p Properties) String() string {
	var kv []string
	for k, v := range p {
		kv = append(kv, k+"="+v)
	}
	return strings.Join(kv, ",")
}

// Set takes one key=value.
func (p Properties) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want key=value", s)
	}
	p[k] = v
	return nil
}
