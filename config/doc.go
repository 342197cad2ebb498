// Package config loads Pensieve's configuration with koanf: defaults, a file,
// the environment and flags, into one typed and validated struct.
//
// Load merges, in increasing precedence: Default(), a TOML, YAML or JSON file
// (chosen by extension), the file's selected profile, PENSIEVE_* environment
// variables and flag values. The result is checked by Config.Validate; every
// problem names its key ("server.addr: want host:port …"). Secrets (API keys,
// the hub token) may come from *_file paths and are redacted by
// Config.Redacted, Config.Marshal and Diff. A Watcher reloads the file while
// the server runs and applies only the keys SafeKey allows.
//
// The package keeps no global state: each Load builds its own koanf instance.
package config
