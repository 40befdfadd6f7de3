package yamlconf

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// item decodes over its defaults (A: 7), as a config's list entries do.
type item struct {
	A int    `yaml:"a"`
	B string `yaml:"b"`
}

func (it *item) UnmarshalYAML(n *yaml.Node) error {
	type plain item // without this method
	p := plain{A: 7}
	if err := DecodeNode(n, &p, "an item"); err != nil {
		return err
	}
	if p.B == "bad" {
		return Errorf("b", "%q: use anything else", p.B)
	}
	*it = item(p)
	return nil
}

type doc struct {
	Name   string `yaml:"name"`
	Items  []item `yaml:"items"`
	Sub    *item  `yaml:"sub"`
	Hidden int    `yaml:"-"`
	NoTag  int
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       doc
		err        string // the whole error, if one is wanted
	}{
		{"empty keeps the defaults", "", doc{Name: "default"}, ""},
		{"set", "name: x\n", doc{Name: "x"}, ""},
		{"items from their defaults", "items:\n  - b: one\n  - a: 2\n", doc{Name: "default", Items: []item{{7, "one"}, {2, ""}}}, ""},
		{"unknown field", "name: x\nbogus: 1\n", doc{}, "config: line 2: field bogus not found in type yamlconf.doc"},
		{"unknown item field, the file's line", "name: x\nitems:\n  - a: 1\n  - b: y\n    c: 3\n", doc{},
			"config: line 5: field c not found in an item"},
		{"bad item type, the file's line", "items:\n  - a: 1\n\n  - a: many\n", doc{},
			"config: line 4: cannot unmarshal !!str `many` into int"},
		{"bad type", "name: [a]\n", doc{}, "config: line 1: cannot unmarshal !!seq into string"},
		{"syntax", "name: [\n", doc{}, "config: line 1: did not find expected node content"},
		{"field error passes through", "sub:\n  b: bad\n", doc{}, `b: "bad": use anything else`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := doc{Name: "default"}
			err := Decode(strings.NewReader(tc.yaml), &d)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(d, tc.want) {
				t.Errorf("decoded %+v, want %+v", d, tc.want)
			}
		})
	}
}

func TestFieldError(t *testing.T) {
	err := Errorf("targets[1].time_zone", "%v: give an IANA name", "Mars/Olympus")
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "targets[1].time_zone" || fe.Msg != "Mars/Olympus: give an IANA name" {
		t.Fatalf("Errorf gave %#v", err)
	}
	if err.Error() != "targets[1].time_zone: Mars/Olympus: give an IANA name" {
		t.Errorf("Error() = %q", err)
	}
}

func TestUndocumented(t *testing.T) {
	typ := reflect.TypeOf(doc{})
	for _, tc := range []struct {
		name, example string
		want          []string
	}{
		{"all set", "name: x\nitems:\n  - a: 1\n    b: 2\nsub: {}\n", nil},
		{"commented out counts", "# name: x\nitems:\n  # - a: 1\n  #   b: 2\n# sub:\n", nil},
		// A key is looked for anywhere in the file, not under its parent.
		{"missing nested", "name: x\nitems:\n  - a: 1\n", []string{"items.b", "sub", "sub.b"}},
		{"mid-line is not documentation", "name: x # items: no\n", []string{"items", "items.a", "items.b", "sub", "sub.a", "sub.b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Undocumented([]byte(tc.example), typ); !slices.Equal(got, tc.want) {
				t.Errorf("Undocumented = %q, want %q", got, tc.want)
			}
		})
	}
}
