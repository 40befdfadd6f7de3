// Package config holds the capture daemon's configuration: its YAML form,
// decoded strictly, the defaults, and one Validate that names each bad
// field and how to fix it. It starts nothing and touches no device.
package config
