package yamlconf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Decode reads one YAML document from r into v, which holds the
// defaults: fields the document does not name keep them, an empty
// document changes nothing, an unknown field is an error. Errors read
// "config: line N: what"; a *FieldError, or an error DecodeNode made,
// from a field's UnmarshalYAML comes back as it is.
func Decode(r io.Reader, v any) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		var fe *FieldError
		if errors.As(err, &fe) {
			return err
		}
		return yamlError(err)
	}
	return nil
}

// DecodeNode decodes n into v refusing unknown fields, which
// yaml.Node.Decode does not do on its own: for an UnmarshalYAML that
// decodes over defaults. Line numbers in its errors are the document's;
// what names v in them ("a target") in place of its Go type.
func DecodeNode(n *yaml.Node, v any, what string) error {
	raw, err := yaml.Marshal(n)
	if err != nil {
		return yamlError(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		// Line numbers count from the node's first line: make them the
		// document's again.
		msg := lineNo.ReplaceAllStringFunc(yamlError(err).Error(), func(m string) string {
			k, _ := strconv.Atoi(strings.TrimPrefix(m, "line ")) // the regexp matched digits
			return "line " + strconv.Itoa(n.Line+k-1)
		})
		typ := reflect.TypeOf(v)
		if typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		return &decodeError{strings.ReplaceAll(msg, "type "+typ.String(), what)}
	}
	return nil
}

var lineNo = regexp.MustCompile(`line [0-9]+`)

// decodeError is a decoding error already worded for the user.
type decodeError struct{ msg string }

func (e *decodeError) Error() string { return e.msg }

// yamlError words a yaml.v3 error on one line: "config: line 3: field
// topik not found in type config.Kafka".
func yamlError(err error) error {
	var de *decodeError
	if errors.As(err, &de) {
		return de
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return &decodeError{"config: " + strings.Join(te.Errors, "; ")}
	}
	return &decodeError{"config: " + strings.TrimPrefix(err.Error(), "yaml: ")}
}

// FieldError is a bad value: the field's path, what is wrong, the fix.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Errorf is a *FieldError for field, its message formatted.
func Errorf(field, format string, a ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// Undocumented lists the YAML fields of typ, a struct (nested structs,
// and slices of and pointers to them, included, as "parent.child"), that
// example does not name as "key:" or "# key:" at the start of a line.
func Undocumented(example []byte, typ reflect.Type) []string {
	var missing []string
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			tag := f.Tag.Get("yaml")
			if tag == "" || tag == "-" {
				continue
			}
			re := regexp.MustCompile(`(?m)^\s*(#\s*)?(-\s+)?` + regexp.QuoteMeta(tag) + `:`)
			if !re.Match(example) {
				missing = append(missing, prefix+tag)
			}
			ft := f.Type
			if ft.Kind() == reflect.Slice || ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				walk(prefix+tag+".", ft)
			}
		}
	}
	walk("", typ)
	return missing
}
