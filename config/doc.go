// Package config loads Pensieve's configuration with koanf: defaults, a file,
// the environment and flags, into one typed and validated struct.
package config
