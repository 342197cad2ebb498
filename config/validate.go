package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// FieldError is one problem with one configuration key.
type FieldError struct {
	// Path is the key, e.g. "server.addr" or "models[1].path".
	Path string
	// Msg says what is wrong, e.g. `want host:port, got "8080"`.
	Msg string
}

// Error formats the problem as "path: msg".
func (e FieldError) Error() string { return e.Path + ": " + e.Msg }

// ValidationError lists every problem found in a configuration. Load wraps it
// in a core.Error of kind KindInvalid; find it with errors.As.
type ValidationError struct {
	// Source is the file the configuration came from, if any.
	Source string
	// Problems are the problems in key order of discovery; never empty.
	Problems []FieldError
}

// Error lists the problems one per line, each as "path: msg".
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration")
	if e.Source != "" {
		b.WriteString(" in " + e.Source)
	}
	if len(e.Problems) == 1 {
		b.WriteString(": " + e.Problems[0].Error())
		return b.String()
	}
	for _, p := range e.Problems {
		b.WriteString("\n  " + p.Error())
	}
	return b.String()
}

// Validate checks c and returns a *ValidationError naming every bad field, or
// nil. Load calls it; call it again after changing a Config by hand.
func (c Config) Validate() error {
	v := validator{}
	c.Server.validate(&v)
	v.check("models_dir", c.ModelsDir != "", "must not be empty")
	c.validateModels(&v)
	e := c.Engine
	v.check("engine.slots", e.Slots >= 1, "must be at least 1, got %d", e.Slots)
	v.check("engine.context", e.Context >= 0, "must not be negative, got %d", e.Context)
	v.check("engine.batch_size", e.BatchSize >= 1, "must be at least 1, got %d", e.BatchSize)
	v.check("engine.max_queue", e.MaxQueue >= 0, "must not be negative, got %d", e.MaxQueue)
	v.check("engine.threads", e.Threads >= 0, "must not be negative, got %d", e.Threads)
	v.check("engine.kv_memory", e.KVMemory >= 0, "must not be negative, got %d", e.KVMemory)
	v.oneOf("device", c.Device, "auto", "cpu", "metal")
	v.oneOf("log.level", c.Log.Level, logLevels...)
	v.oneOf("log.format", c.Log.Format, logFormats...)
	if err := checkHTTPURL(c.Hub.Endpoint); err != nil {
		v.add("hub.endpoint", "%v", err)
	}
	if len(v.probs) == 0 {
		return nil
	}
	return &ValidationError{Source: c.Source.File, Problems: v.probs}
}

// The accepted values of log.level (lowest first) and log.format; never written.
var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"console", "json"}
)

func (s Server) validate(v *validator) {
	if err := checkAddr(s.Addr); err != nil {
		v.add("server.addr", "%v", err)
	}
	for i, k := range s.APIKeys {
		// The key itself is never printed: it is a secret.
		v.check(fmt.Sprintf("server.api_keys[%d]", i), k != "" && !strings.ContainsAny(k, " \t\r\n"),
			"must be non-empty and contain no whitespace")
	}
	v.check("server.body_limit", s.BodyLimit > 0, "must be positive, got %d", s.BodyLimit)
	v.check("server.rate_limit.requests_per_minute", s.RateLimit.RequestsPerMinute >= 0,
		"must not be negative, got %d", s.RateLimit.RequestsPerMinute)
	v.check("server.rate_limit.burst", s.RateLimit.Burst >= 0, "must not be negative, got %d", s.RateLimit.Burst)
	v.check("server.max_concurrent_per_key", s.MaxConcurrentPerKey >= 0, "must not be negative, got %d", s.MaxConcurrentPerKey)
	v.check("server.image_urls.max_bytes", s.ImageURLs.MaxBytes > 0, "must be positive, got %d", s.ImageURLs.MaxBytes)
	v.check("server.image_urls.timeout", s.ImageURLs.Timeout > 0, "must be positive, got %s", s.ImageURLs.Timeout)
	v.check("server.read_timeout", s.ReadTimeout >= 0, "must not be negative, got %s", s.ReadTimeout)
	v.check("server.write_timeout", s.WriteTimeout >= 0, "must not be negative, got %s", s.WriteTimeout)
	v.check("server.idle_timeout", s.IdleTimeout >= 0, "must not be negative, got %s", s.IdleTimeout)
	v.check("server.shutdown_timeout", s.ShutdownTimeout > 0, "must be positive, got %s", s.ShutdownTimeout)
	v.check("server.keep_alive", s.KeepAlive >= 0, "must not be negative, got %s", s.KeepAlive)
	v.check("server.memory_budget", s.MemoryBudget >= 0, "must not be negative, got %d", s.MemoryBudget)
	for i, o := range s.CORSOrigins {
		if err := checkOrigin(o); err != nil {
			v.add(fmt.Sprintf("server.cors_origins[%d]", i), "%v", err)
		}
	}
}

func (c Config) validateModels(v *validator) {
	owner := map[string]string{} // id or alias → path of the key that claimed it
	firstDefault := ""
	for i, m := range c.Models {
		p := fmt.Sprintf("models[%d]", i)
		v.check(p+".path", m.Path != "", "must not be empty")
		if m.ID == "" || strings.ContainsAny(m.ID, " \t\r\n") {
			v.add(p+".id", "must be non-empty and contain no whitespace, got %q", m.ID)
		} else if prev, dup := owner[m.ID]; dup {
			v.add(p+".id", "%q is already used by %s", m.ID, prev)
		} else {
			owner[m.ID] = p + ".id"
		}
		for j, a := range m.Aliases {
			ap := fmt.Sprintf("%s.aliases[%d]", p, j)
			if a == "" || strings.ContainsAny(a, " \t\r\n") {
				v.add(ap, "must be non-empty and contain no whitespace, got %q", a)
			} else if prev, dup := owner[a]; dup {
				v.add(ap, "%q is already used by %s", a, prev)
			} else {
				owner[a] = ap
			}
		}
		v.check(p+".context_length", m.ContextLength >= 0, "must not be negative, got %d", m.ContextLength)
		v.check(p+".max_output_tokens", m.MaxOutputTokens >= 0, "must not be negative, got %d", m.MaxOutputTokens)
		v.check(p+".keep_alive", m.KeepAlive >= 0, "must not be negative, got %s", m.KeepAlive)
		if m.Default {
			if firstDefault != "" {
				v.add(p+".default", "only one model may be the default (%s already is)", firstDefault)
			} else {
				firstDefault = p
			}
		}
	}
}

type validator struct{ probs []FieldError }

func (v *validator) add(path, format string, args ...any) {
	v.probs = append(v.probs, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) check(path string, ok bool, format string, args ...any) {
	if !ok {
		v.add(path, format, args...)
	}
}

func (v *validator) oneOf(path, got string, allowed ...string) {
	for _, a := range allowed {
		if got == a {
			return
		}
	}
	v.add(path, "must be one of %s, got %q", strings.Join(allowed, ", "), got)
}

func checkAddr(addr string) error {
	if addr == "" {
		return fmt.Errorf("must not be empty")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port (e.g. %q), got %q", DefaultAddr, addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("port must be a number from 0 to 65535, got %q", port)
	}
	return nil
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("want an http or https URL, got %q", s)
	}
	return nil
}

func checkOrigin(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("want \"*\" or an origin such as \"https://example.com\", got %q", o)
	}
	return nil
}
