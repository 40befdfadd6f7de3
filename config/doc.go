// Package config holds the capture daemon's configuration: its YAML form,
// decoded strictly, the defaults, and one Validate that names each bad
// field and how to fix it (*FieldError); the typed pipeline.Spec built
// from a Config (spec.go), every string parsed; and (metron.go) Metron
// fastcapa's command line and .ini Kafka file, mapped onto the same
// Config. It starts nothing and touches no device. pcapstore sink's
// configuration is the sink's own (package sink, config.go); what both
// share about reading YAML is package yamlconf's.
package config
