package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Config is Pensieve's whole configuration. Load fills it from defaults, a
// file, the environment and flags; Default returns the defaults alone. Each
// field's doc gives its key (the koanf path used in files, PENSIEVE_*
// variables and the diff of a reload) and its default.
//
// A Config is a plain value: copy it freely; nothing in it is shared.
type Config struct {
	// Server configures the HTTP server (key "server").
	Server Server `koanf:"server"`
	// Models lists the models to serve (key "models"). Default: none, in
	// which case models come from flags (`serve --model FILE`).
	Models []Model `koanf:"models"`
	// ModelsDir is where `models pull` stores files and where relative model
	// paths are looked up (key "models_dir"). Default "~/.cache/pensieve/models".
	ModelsDir string `koanf:"models_dir"`
	// Engine configures the inference engine (key "engine").
	Engine Engine `koanf:"engine"`
	// Device selects the compute device: "auto" (Metal when available, else
	// the CPU), "cpu" or "metal" (key "device"). Default "auto".
	Device string `koanf:"device"`
	// Log configures logging (key "log").
	Log Log `koanf:"log"`
	// Hub configures downloads from a Hugging Face compatible hub (key "hub").
	Hub Hub `koanf:"hub"`

	// Source records where this configuration came from. It is filled by
	// Load and is not itself configurable.
	Source Source `koanf:"-"`
}

// Source records where a loaded configuration came from.
type Source struct {
	// File is the configuration file that was read; empty when none was.
	File string
	// Profile is the profile that was applied; empty when none was.
	Profile string
	// SecretFiles lists the *_file paths whose contents were read (API
	// keys, tokens); a Watcher reloads when one of them changes.
	SecretFiles []string
}

// Server configures the HTTP server.
type Server struct {
	// Addr is the host:port to listen on (key "server.addr"). Default
	// "127.0.0.1:8080". Port 0 picks a free port.
	Addr string `koanf:"addr"`
	// APIKeys are the accepted client keys, sent as `x-api-key` or
	// `Authorization: Bearer` (key "server.api_keys"). Default: none, which
	// leaves the server open to anyone who can reach it. Secret: redacted in
	// output and logs. Safe to change while running.
	APIKeys []string `koanf:"api_keys"`
	// APIKeysFile names a file holding more API keys, one per line; blank
	// lines and lines starting with '#' are skipped (key
	// "server.api_keys_file"). Load appends its keys to APIKeys. Default: none.
	APIKeysFile string `koanf:"api_keys_file"`
	// BodyLimit is the largest accepted request body (key
	// "server.body_limit"), in bytes or with a unit ("32MiB"). Default 32MiB.
	BodyLimit ByteSize `koanf:"body_limit"`
	// RateLimit limits requests per API key (key "server.rate_limit").
	// Safe to change while running.
	RateLimit RateLimit `koanf:"rate_limit"`
	// MaxConcurrentPerKey bounds the generation requests (messages, chat
	// completions, WebSocket requests) one API key — or one client address
	// when no keys are configured — may have in flight, streams included;
	// more get 429 (key "server.max_concurrent_per_key"). Default 0: no
	// limit.
	MaxConcurrentPerKey int `koanf:"max_concurrent_per_key"`
	// ImageURLs governs image blocks whose source is a URL (key
	// "server.image_urls").
	ImageURLs ImageURLs `koanf:"image_urls"`
	// LogPrompts logs the rendered prompt of every generation request, and
	// the generated text when it ends, at info level with the request id
	// (key "server.log_prompts"). Default false: prompts and completions
	// never reach the logs. API keys are never logged either way.
	LogPrompts bool `koanf:"log_prompts"`
	// ReadTimeout bounds reading one request, body included (key
	// "server.read_timeout"). Default 1m; 0 means no limit.
	ReadTimeout time.Duration `koanf:"read_timeout"`
	// WriteTimeout bounds writing one non-streaming response (key
	// "server.write_timeout"). Streams are never cut by it. Default 10m; 0
	// means no limit.
	WriteTimeout time.Duration `koanf:"write_timeout"`
	// IdleTimeout closes keep-alive connections idle this long (key
	// "server.idle_timeout"). Default 2m; 0 means no limit.
	IdleTimeout time.Duration `koanf:"idle_timeout"`
	// ShutdownTimeout bounds how long a graceful shutdown waits for requests
	// in flight (key "server.shutdown_timeout"). Default 30s.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
	// CORSOrigins lists the browser origins allowed by CORS, e.g.
	// "http://localhost:3000", or "*" for any (key "server.cors_origins").
	// Default: none, which turns CORS off.
	CORSOrigins []string `koanf:"cors_origins"`
	// MetricsAuth makes GET /metrics require an API key when keys are
	// configured (key "server.metrics_auth"). Default true; false serves
	// /metrics to anyone, e.g. for a Prometheus scraper without a key.
	MetricsAuth bool `koanf:"metrics_auth"`
	// ClaudeAliasDefault sends requests for unknown model ids starting with
	// "claude-" to the default model, so Claude Code works unchanged (key
	// "server.claude_alias_default"). Default true. Safe to change while
	// running.
	ClaudeAliasDefault bool `koanf:"claude_alias_default"`
	// KeepAlive unloads a model after it has been idle this long, for
	// every model without a keep_alive of its own (key
	// "server.keep_alive"). Default 0: models stay loaded.
	KeepAlive time.Duration `koanf:"keep_alive"`
	// MemoryBudget bounds the memory of the models loaded at once (weights
	// plus KV cache), in bytes or with a unit ("24GiB"); loading another
	// unloads idle models, least recently used first (key
	// "server.memory_budget"). Default 0: three quarters of the machine's
	// memory.
	MemoryBudget ByteSize `koanf:"memory_budget"`
}

// RateLimit limits requests per API key (or per client address when no keys
// are configured).
type RateLimit struct {
	// RequestsPerMinute is the sustained number of requests one key may make
	// per minute (key "server.rate_limit.requests_per_minute"). Default 0:
	// no limit.
	RequestsPerMinute int `koanf:"requests_per_minute"`
	// Burst is how many requests a key may make at once above the sustained
	// rate (key "server.rate_limit.burst"). Default 0, meaning the same as
	// RequestsPerMinute.
	Burst int `koanf:"burst"`
}

// ImageURLs governs image blocks whose source is a URL ({"type":"url"}).
type ImageURLs struct {
	// Fetch lets the server download URL images (key
	// "server.image_urls.fetch"): only http and https, only from public
	// addresses (every address dialled, redirects included, is checked;
	// loopback, private, link-local and the like are refused), and the
	// image then reaches the model as a base64 image — which text-only
	// models refuse like any image. Default false: a request with a URL
	// image gets 400 and nothing is fetched.
	Fetch bool `koanf:"fetch"`
	// MaxBytes is the largest image fetched, in bytes or with a unit (key
	// "server.image_urls.max_bytes"). Default 20MiB.
	MaxBytes ByteSize `koanf:"max_bytes"`
	// Timeout bounds one fetch, redirects included (key
	// "server.image_urls.timeout"). Default 10s.
	Timeout time.Duration `koanf:"timeout"`
}

// Model is one model to serve.
type Model struct {
	// ID is the model id clients send (key "models[N].id"). Default: the
	// file name of Path without its extension.
	ID string `koanf:"id"`
	// Name is the human-readable display name reported by GET /v1/models
	// (key "models[N].name"). Default: the ID.
	Name string `koanf:"name"`
	// Path is the model file (GGUF or SafeTensors) or directory (key
	// "models[N].path"). Required. A leading "~/" is the home directory; a
	// relative path is relative to ModelsDir.
	Path string `koanf:"path"`
	// Aliases are other ids that select this model, such as
	// "claude-sonnet-4-5" (key "models[N].aliases"). Default: none. Safe to
	// change while running.
	Aliases []string `koanf:"aliases"`
	// ContextLength caps the context window in tokens (key
	// "models[N].context_length"). Default 0: the model's own length, or
	// Engine.Context when that is set.
	ContextLength int `koanf:"context_length"`
	// MaxOutputTokens caps a request's max_tokens for this model (key
	// "models[N].max_output_tokens"); larger values get 400 with the
	// upstream wording. Default 0: the context length.
	MaxOutputTokens int `koanf:"max_output_tokens"`
	// KeepAlive unloads the model after it has been idle this long; it is
	// loaded again by the next request that names it (key
	// "models[N].keep_alive"). Default 0: Server.KeepAlive applies.
	KeepAlive time.Duration `koanf:"keep_alive"`
	// Default marks the model used for "claude-*" ids and when a request
	// names no known model (key "models[N].default"). Default false; when no
	// model is marked, the first one is the default. At most one may be.
	Default bool `koanf:"default"`
}

// Engine configures the inference engine.
type Engine struct {
	// Slots is how many sequences are decoded together in one batch (key
	// "engine.slots"). Default 4.
	Slots int `koanf:"slots"`
	// Context is the context window per slot in tokens (key
	// "engine.context"). Default 0: each model's own context length.
	Context int `koanf:"context"`
	// BatchSize is the most prompt tokens processed in one forward pass (key
	// "engine.batch_size"). Default 512.
	BatchSize int `koanf:"batch_size"`
	// MaxQueue is how many requests may wait for a free slot; beyond it
	// requests fail at once as overloaded (key "engine.max_queue"). Default
	// 64; 0 means none wait.
	MaxQueue int `koanf:"max_queue"`
	// Threads is the number of CPU threads for the forward pass (key
	// "engine.threads"). Default 0: one per CPU core.
	Threads int `koanf:"threads"`
	// KVMemory is the memory budget of the KV cache, in bytes or with a unit
	// ("4GiB") (key "engine.kv_memory"). Default 0: enough for every slot's
	// full context.
	KVMemory ByteSize `koanf:"kv_memory"`
}

// Log configures logging.
type Log struct {
	// Level is the lowest level logged: "debug", "info", "warn" or "error"
	// (key "log.level"). Default "info". Safe to change while running.
	Level string `koanf:"level"`
	// Format is "console" (human-readable) or "json" (key "log.format").
	// Default "console".
	Format string `koanf:"format"`
}

// Hub configures downloads from a Hugging Face compatible hub.
type Hub struct {
	// Endpoint is the hub's base URL (key "hub.endpoint"; the HF_ENDPOINT
	// variable also sets it). Default "https://huggingface.co".
	Endpoint string `koanf:"endpoint"`
	// Token is the access token sent as a Bearer token, needed for gated and
	// private repositories (key "hub.token"; the HF_TOKEN variable also sets
	// it). Default: none. Secret: redacted in output and logs.
	Token string `koanf:"token"`
	// TokenFile names a file whose first line is the token; it is used when
	// Token is empty (key "hub.token_file"). Default: none.
	TokenFile string `koanf:"token_file"`
}

// Default values that are not obvious zero values.
const (
	DefaultAddr        = "127.0.0.1:8080"
	DefaultHubEndpoint = "https://huggingface.co"
	DefaultModelsDir   = "~/.cache/pensieve/models"
	DefaultBodyLimit   = 32 * MiB
)

// Default returns the configuration used when nothing else is set.
func Default() Config {
	return Config{
		Server: Server{
			Addr:               DefaultAddr,
			BodyLimit:          DefaultBodyLimit,
			ReadTimeout:        time.Minute,
			WriteTimeout:       10 * time.Minute,
			IdleTimeout:        2 * time.Minute,
			ShutdownTimeout:    30 * time.Second,
			ClaudeAliasDefault: true,
			MetricsAuth:        true,
			ImageURLs:          ImageURLs{MaxBytes: 20 * MiB, Timeout: 10 * time.Second},
		},
		ModelsDir: DefaultModelsDir,
		Engine:    Engine{Slots: 4, BatchSize: 512, MaxQueue: 64},
		Device:    "auto",
		Log:       Log{Level: "info", Format: "console"},
		Hub:       Hub{Endpoint: DefaultHubEndpoint},
	}
}

// DefaultModel returns the model marked Default, else the first model; ok is
// false when no model is configured.
func (c Config) DefaultModel() (m Model, ok bool) {
	for _, m := range c.Models {
		if m.Default {
			return m, true
		}
	}
	if len(c.Models) == 0 {
		return Model{}, false
	}
	return c.Models[0], true
}

// Clone returns a deep copy of c: no slice is shared with c.
func (c Config) Clone() Config {
	out := c
	out.Server.APIKeys = cloneStrings(c.Server.APIKeys)
	out.Server.CORSOrigins = cloneStrings(c.Server.CORSOrigins)
	out.Source.SecretFiles = cloneStrings(c.Source.SecretFiles)
	if c.Models != nil {
		out.Models = make([]Model, len(c.Models))
		for i, m := range c.Models {
			m.Aliases = cloneStrings(m.Aliases)
			out.Models[i] = m
		}
	}
	return out
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}

// ByteSize is a size in bytes. In configuration it is written as an integer
// number of bytes or as a number with a unit: B, kB, MB, GB, TB (powers of
// 1000) or KiB, MiB, GiB, TiB (powers of 1024); units are case-insensitive.
type ByteSize int64

// Byte size units.
const (
	KiB ByteSize = 1 << 10
	MiB ByteSize = 1 << 20
	GiB ByteSize = 1 << 30
	TiB ByteSize = 1 << 40
)

var byteUnits = map[string]float64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": float64(KiB), "mib": float64(MiB), "gib": float64(GiB), "tib": float64(TiB),
}

// ParseByteSize parses s as described on ByteSize.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	}
	mult, ok := byteUnits[unit]
	if !ok || num == "" {
		return 0, fmt.Errorf("invalid size %q: want bytes or a number with a unit such as 512MiB or 2GB", s)
	}
	if n, err := strconv.ParseInt(num, 10, 64); err == nil && mult == 1 {
		return ByteSize(n), nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: %w", s, err)
	}
	v := math.Round(f * mult)
	if v > math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return ByteSize(v), nil
}

// UnmarshalText parses b as described on ByteSize.
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalText formats b as String does.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// String formats b with the largest binary unit that divides it exactly,
// e.g. "32MiB", or as plain bytes ("1000").
func (b ByteSize) String() string {
	for _, u := range []struct {
		size ByteSize
		name string
	}{{TiB, "TiB"}, {GiB, "GiB"}, {MiB, "MiB"}, {KiB, "KiB"}} {
		if b != 0 && b%u.size == 0 {
			return strconv.FormatInt(int64(b/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10)
}
