package cliflag

import (
	"flag"
	"io"
	"testing"
)

func TestFlags(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var l List
	p := Properties{}
	fs.Var(&l, "v", "")
	fs.Var(p, "X", "")
	if err := fs.Parse([]string{"-v", "a", "-v", "b", "-X", "k=v=w", "-X", "e="}); err != nil {
		t.Fatal(err)
	}
	if len(l) != 2 || l[1] != "b" || p["k"] != "v=w" || p["e"] != "" {
		t.Errorf("got %v %v", l, p)
	}
	for _, bad := range []string{"novalue", "=v"} {
		if err := fs.Parse([]string{"-X", bad}); err == nil {
			t.Errorf("-X %s accepted", bad)
		}
	}
}
