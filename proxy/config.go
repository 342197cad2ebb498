package proxy

import (
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/json"
	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"

	"github.com/pensieve-llm/pensieve/core"
)

// Upstream kinds.
const (
	KindAnthropic = "anthropic" // any Anthropic-compatible server, Pensieve included
	KindOpenAI    = "openai"    // an OpenAI Chat Completions server
)

// Balancing strategies.
const (
	RoundRobin        = "round_robin"
	LeastOutstanding  = "least_outstanding"
	defaultAddr       = "127.0.0.1:8081"
	defaultBodyLimit  = 32 << 20
	defaultHealthPath = "/health"
)

// Config is the proxy's configuration. The zero value of each field means
// the default its comment gives.
type Config struct {
	Addr        string            `koanf:"addr"`         // listen address; default 127.0.0.1:8081
	Keys        []string          `koanf:"keys"`         // client keys accepted (x-api-key or Bearer); empty: open
	KeysFile    string            `koanf:"keys_file"`    // more client keys, one per line
	Balance     string            `koanf:"balance"`      // round_robin (default) or least_outstanding
	BodyLimit   int64             `koanf:"body_limit"`   // request body limit in bytes; default 32 MiB
	RateLimit   RateLimit         `koanf:"rate_limit"`   // per client key
	Upstreams   []Upstream        `koanf:"upstreams"`    // at least one
	Routes      []Route           `koanf:"routes"`       // model patterns → upstream names; none: every request may go to every upstream
	Aliases     map[string]string `koanf:"aliases"`      // model name → model name sent upstream
	HealthCheck HealthCheck       `koanf:"health_check"` // active checks
	Eject       Eject             `koanf:"eject"`        // passive ejection
	Shutdown    time.Duration     `koanf:"shutdown"`     // grace period for requests in flight; default 30s
	Log         Log               `koanf:"log"`
}

// RateLimit bounds each client key (or, with no keys, each client address).
type RateLimit struct {
	RequestsPerMinute int `koanf:"requests_per_minute"` // 0: unlimited
	TokensPerMinute   int `koanf:"tokens_per_minute"`   // input+output tokens; 0: unlimited
}

// Upstream is one server the proxy forwards to.
type Upstream struct {
	Name       string `koanf:"name"`         // unique; used in routes, logs and metrics
	URL        string `koanf:"url"`          // base URL, e.g. http://127.0.0.1:8080
	Kind       string `koanf:"kind"`         // anthropic (default) or openai
	APIKey     string `koanf:"api_key"`      // replaces the client's key when set
	APIKeyFile string `koanf:"api_key_file"` // the same, read from a file
	Model      string `koanf:"model"`        // model name sent upstream instead of the client's; empty: unchanged
	HealthPath string `koanf:"health_path"`  // default /health (anthropic) or /v1/models (openai)
}

// Route sends models matching Pattern (path.Match syntax, e.g. "claude-*")
// to the named upstreams.
type Route struct {
	Pattern   string   `koanf:"pattern"`
	Upstreams []string `koanf:"upstreams"`
}

// HealthCheck configures active health checks.
type HealthCheck struct {
	Interval time.Duration `koanf:"interval"` // default 10s; negative disables
	Timeout  time.Duration `koanf:"timeout"`  // default 2s
}

// Eject configures passive ejection: after Failures consecutive failed
// requests an upstream is skipped for Duration.
type Eject struct {
	Failures int           `koanf:"failures"` // default 3
	Duration time.Duration `koanf:"duration"` // default 30s
}

// Log configures the proxy's zap logger.
type Log struct {
	Level  string `koanf:"level"`  // debug, info (default), warn, error
	Format string `koanf:"format"` // console (default) or json
}

// LoadConfig reads a TOML, YAML or JSON file (by extension), then applies
// PENSIEVE_PROXY_* environment variables (PENSIEVE_PROXY_ADDR → addr,
// PENSIEVE_PROXY_RATE_LIMIT_REQUESTS_PER_MINUTE → rate_limit.requests_per_minute),
// fills defaults, reads key files and validates.
func LoadConfig(filename string) (Config, error) {
	const op = "proxy.LoadConfig"
	k := koanf.New(".")
	if filename != "" {
		var parser koanf.Parser
		switch strings.ToLower(filepath.Ext(filename)) {
		case ".toml":
			parser = toml.Parser()
		case ".yaml", ".yml":
			parser = yaml.Parser()
		case ".json":
			parser = json.Parser()
		default:
			return Config{}, core.Errorf(core.KindInvalid, op, "%s: unknown extension (want .toml, .yaml, .yml or .json)", filename)
		}
		if err := k.Load(file.Provider(filename), parser); err != nil {
			return Config{}, core.Errorf(core.KindInvalid, op, "%s: %w", filename, err)
		}
	}
	known := map[string]bool{}
	for _, key := range []string{"addr", "keys", "keys_file", "balance", "body_limit", "rate_limit.requests_per_minute",
		"rate_limit.tokens_per_minute", "shutdown", "log.level", "log.format", "health_check.interval",
		"health_check.timeout", "eject.failures", "eject.duration"} {
		known[key] = true
	}
	err := k.Load(env.Provider(".", env.Opt{
		Prefix: "PENSIEVE_PROXY_",
		TransformFunc: func(key, v string) (string, any) {
			key = strings.ToLower(strings.TrimPrefix(key, "PENSIEVE_PROXY_"))
			// Environment names flatten the dots: find the known key they spell.
			for kk := range known {
				if strings.ReplaceAll(kk, ".", "_") == key {
					if kk == "keys" {
						return kk, strings.Split(v, ",")
					}
					return kk, v
				}
			}
			return "", nil
		},
	}), nil)
	if err != nil {
		return Config{}, core.Errorf(core.KindInvalid, op, "environment: %w", err)
	}
	var c Config
	if err := k.UnmarshalWithConf("", &c, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		return Config{}, core.Errorf(core.KindInvalid, op, "%s: %w", filename, err)
	}
	if err := c.finish(); err != nil {
		return Config{}, core.E(core.KindInvalid, op, err)
	}
	return c, nil
}

// finish fills defaults, reads key files and validates, naming the field
// of the first problem.
func (c *Config) finish() error {
	if c.Addr == "" {
		c.Addr = defaultAddr
	}
	if c.Balance == "" {
		c.Balance = RoundRobin
	}
	if c.BodyLimit == 0 {
		c.BodyLimit = defaultBodyLimit
	}
	if c.Shutdown == 0 {
		c.Shutdown = 30 * time.Second
	}
	if c.HealthCheck.Interval == 0 {
		c.HealthCheck.Interval = 10 * time.Second
	}
	if c.HealthCheck.Timeout <= 0 {
		c.HealthCheck.Timeout = 2 * time.Second
	}
	if c.Eject.Failures <= 0 {
		c.Eject.Failures = 3
	}
	if c.Eject.Duration <= 0 {
		c.Eject.Duration = 30 * time.Second
	}
	if c.KeysFile != "" {
		keys, err := readLines(c.KeysFile)
		if err != nil {
			return fmt.Errorf("keys_file: %w", err)
		}
		c.Keys = append(c.Keys, keys...)
	}
	switch c.Balance {
	case RoundRobin, LeastOutstanding:
	default:
		return fmt.Errorf("balance: %q is not round_robin or least_outstanding", c.Balance)
	}
	if c.RateLimit.RequestsPerMinute < 0 || c.RateLimit.TokensPerMinute < 0 {
		return fmt.Errorf("rate_limit: limits must not be negative")
	}
	if len(c.Upstreams) == 0 {
		return fmt.Errorf("upstreams: at least one upstream is required")
	}
	names := map[string]bool{}
	for i := range c.Upstreams {
		if err := c.Upstreams[i].finish(); err != nil {
			return fmt.Errorf("upstreams[%d].%w", i, err)
		}
		if names[c.Upstreams[i].Name] {
			return fmt.Errorf("upstreams[%d].name: %q is used twice", i, c.Upstreams[i].Name)
		}
		names[c.Upstreams[i].Name] = true
	}
	for i, r := range c.Routes {
		if _, err := path.Match(r.Pattern, ""); err != nil || r.Pattern == "" {
			return fmt.Errorf("routes[%d].pattern: %q is not a valid pattern", i, r.Pattern)
		}
		if len(r.Upstreams) == 0 {
			return fmt.Errorf("routes[%d].upstreams: empty", i)
		}
		for _, n := range r.Upstreams {
			if !names[n] {
				return fmt.Errorf("routes[%d].upstreams: no upstream named %q", i, n)
			}
		}
	}
	return nil
}

func (u *Upstream) finish() error {
	if u.Kind == "" {
		u.Kind = KindAnthropic
	}
	if u.Kind != KindAnthropic && u.Kind != KindOpenAI {
		return fmt.Errorf("kind: %q is not anthropic or openai", u.Kind)
	}
	parsed, err := url.Parse(u.URL)
	if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
		return fmt.Errorf("url: %q is not an http(s) URL", u.URL)
	}
	u.URL = strings.TrimRight(u.URL, "/")
	if u.Name == "" {
		u.Name = parsed.Host
	}
	if u.APIKeyFile != "" {
		keys, err := readLines(u.APIKeyFile)
		if err != nil || len(keys) == 0 {
			return fmt.Errorf("api_key_file: cannot read a key from %s: %v", u.APIKeyFile, err)
		}
		u.APIKey = keys[0]
	}
	if u.HealthPath == "" {
		u.HealthPath = defaultHealthPath
		if u.Kind == KindOpenAI {
			u.HealthPath = "/v1/models"
		}
	}
	return nil
}

// readLines returns the non-empty, non-comment lines of a file, trimmed.
func readLines(name string) ([]string, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out, nil
}

// Redacted returns a copy of c with every secret replaced by "[redacted]".
func (c Config) Redacted() Config {
	r := c
	r.Keys = make([]string, len(c.Keys))
	for i := range r.Keys {
		r.Keys[i] = "[redacted]"
	}
	r.Upstreams = append([]Upstream(nil), c.Upstreams...)
	for i := range r.Upstreams {
		if r.Upstreams[i].APIKey != "" {
			r.Upstreams[i].APIKey = "[redacted]"
		}
	}
	return r
}
