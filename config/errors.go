package config

import "github.com/fastcapa-go/fastcapa/internal/yamlconf"

// FieldError is a bad value: the field's path, what is wrong, the fix.
// Validate and Spec return one (the type is shared with pcapstore sink's
// configuration, package yamlconf).
type FieldError = yamlconf.FieldError

// fieldError is a *FieldError, its message formatted.
func fieldError(field, format string, a ...any) error { return yamlconf.Errorf(field, format, a...) }
