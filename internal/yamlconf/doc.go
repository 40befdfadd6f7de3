// Package yamlconf holds what the programs' configurations share about
// reading YAML: strict decoding over defaults (an unknown field is an
// error, reported on one line with the file's line number), the
// *FieldError a Validate returns (the field, what is wrong, the fix), and
// the check that an example file documents every field. Each program's
// configuration lives with the program (config for fastcapa, sink for
// pcapstore sink); this package imports none of them and knows no field.
package yamlconf
