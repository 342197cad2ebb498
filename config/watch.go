package config

import (
	"crypto/sha256"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Change is one key whose value differs between two configurations.
type Change struct {
	// Key is the configuration key, e.g. "log.level" or "models[0].aliases".
	Key string
	// Old and New are the printed values, secrets redacted; empty when the
	// key does not exist on that side (a model added or removed).
	Old, New string
}

// String formats the change as "key: old -> new".
func (c Change) String() string { return c.Key + ": " + c.Old + " -> " + c.New }

// Diff lists the keys whose values differ between a and b, sorted by key.
// Secret values are redacted, but a changed secret is still listed.
func Diff(a, b Config) []Change {
	fa, fb := map[string]any{}, map[string]any{}
	flatten(toMap(reflect.ValueOf(a)), "", fa)
	flatten(toMap(reflect.ValueOf(b)), "", fb)
	ra, rb := map[string]any{}, map[string]any{}
	flatten(toMap(reflect.ValueOf(a.Redacted())), "", ra)
	flatten(toMap(reflect.ValueOf(b.Redacted())), "", rb)
	keys := map[string]bool{}
	for k := range fa {
		keys[k] = true
	}
	for k := range fb {
		keys[k] = true
	}
	var out []Change
	for k := range keys {
		va, okA := fa[k]
		vb, okB := fb[k]
		if okA == okB && reflect.DeepEqual(va, vb) {
			continue
		}
		c := Change{Key: k}
		if okA {
			c.Old = formatValue(ra[k])
		}
		if okB {
			c.New = formatValue(rb[k])
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func formatValue(v any) string {
	if list, ok := v.([]any); ok {
		parts := make([]string, len(list))
		for i, e := range list {
			parts[i] = fmt.Sprint(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// SafeKey reports whether a key may change while the server runs: the log
// level, the API keys (and their file), the rate limits and model aliases
// (including server.claude_alias_default). Other changes need a restart.
func SafeKey(key string) bool {
	switch key {
	case "log.level", "server.api_keys", "server.api_keys_file", "server.claude_alias_default":
		return true
	}
	if strings.HasPrefix(key, "server.rate_limit.") {
		return true
	}
	var i int
	n, err := fmt.Sscanf(key, "models[%d].aliases", &i)
	return err == nil && n == 1 && key == fmt.Sprintf("models[%d].aliases", i)
}

// applySafe returns cur with the safe changes taken from next, and splits
// changes into those applied and those ignored.
func applySafe(cur, next Config, changes []Change) (out Config, applied, ignored []Change) {
	out = cur.Clone()
	for _, ch := range changes {
		if !SafeKey(ch.Key) {
			ignored = append(ignored, ch)
			continue
		}
		switch {
		case ch.Key == "log.level":
			out.Log.Level = next.Log.Level
		case ch.Key == "server.api_keys" || ch.Key == "server.api_keys_file":
			out.Server.APIKeys = cloneStrings(next.Server.APIKeys)
			out.Server.APIKeysFile = next.Server.APIKeysFile
			out.Source.SecretFiles = cloneStrings(next.Source.SecretFiles)
		case ch.Key == "server.claude_alias_default":
			out.Server.ClaudeAliasDefault = next.Server.ClaudeAliasDefault
		case strings.HasPrefix(ch.Key, "server.rate_limit."):
			out.Server.RateLimit = next.Server.RateLimit
		default: // models[i].aliases
			var i int
			fmt.Sscanf(ch.Key, "models[%d].aliases", &i)
			// Aliases move only when the model they belong to is the same
			// one on both sides; otherwise the model list itself changed.
			if i >= len(cur.Models) || i >= len(next.Models) || cur.Models[i].ID != next.Models[i].ID {
				ignored = append(ignored, ch)
				continue
			}
			out.Models[i].Aliases = cloneStrings(next.Models[i].Aliases)
		}
		applied = append(applied, ch)
	}
	return out, applied, ignored
}

// Reload reports one reload of a watched configuration.
type Reload struct {
	// Config is the configuration now in effect: the previous one with the
	// Applied changes. On error it is the previous one unchanged.
	Config Config
	// Applied are the safe changes now in effect (see SafeKey).
	Applied []Change
	// Ignored are changes that need a restart; they are not in Config.
	Ignored []Change
	// Err is why the changed files could not be loaded; nothing was applied.
	Err error
}

// WatchOption configures a Watcher.
type WatchOption func(*watchOptions)

type watchOptions struct {
	interval time.Duration
	log      *zap.Logger
}

// WithInterval sets how often the watched files are checked. Default 2s.
func WithInterval(d time.Duration) WatchOption { return func(o *watchOptions) { o.interval = d } }

// WithLogger sets the logger for reloads: applied changes at Info, ignored
// ones at Warn, failures at Error. The default discards all output.
func WithLogger(l *zap.Logger) WatchOption { return func(o *watchOptions) { o.log = l } }

// Watcher reloads a configuration when its file or one of its *_file
// secrets changes, applies only the changes that are safe while running and
// reports each reload. It polls file contents, which also sees editors that
// replace a file by renaming and symlink swaps (Kubernetes config maps); a
// change is loaded once the contents have been stable for one interval.
//
// A Watcher owns one goroutine, stopped by Close. Its methods are safe for
// concurrent use.
type Watcher struct {
	opts     Options
	onReload func(Reload)
	o        watchOptions
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once

	mu  sync.Mutex // guards cur
	cur Config
}

// Watch starts watching the files that current was loaded from
// (current.Source): opts must be the Options that loaded it, so a reload
// keeps the environment and flags on top of the file. onReload is called
// from the Watcher's goroutine after every reload that changed something or
// failed (nil: only log); it must not call Close. With no file to watch the
// Watcher does nothing until closed.
func Watch(opts Options, current Config, onReload func(Reload), options ...WatchOption) *Watcher {
	o := watchOptions{interval: 2 * time.Second, log: zap.NewNop()}
	for _, opt := range options {
		opt(&o)
	}
	if onReload == nil {
		onReload = func(Reload) {}
	}
	if opts.Environ == nil {
		// Freeze the environment so reloads differ only by the files.
		opts.Environ = os.Environ()
	}
	opts.File, opts.Profile = current.Source.File, current.Source.Profile
	w := &Watcher{opts: opts, onReload: onReload, o: o, cur: current.Clone(),
		stop: make(chan struct{}), done: make(chan struct{})}
	// Fingerprint before returning, so a change made right after Watch
	// returns is seen as a change.
	go w.run(fingerprint(w.watched()))
	return w
}

// Config returns the configuration in effect: the one given to Watch plus
// every change applied since.
func (w *Watcher) Config() Config {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cur.Clone()
}

// Close stops the Watcher and waits for its goroutine, including a reload
// in progress. It always returns nil and may be called more than once.
func (w *Watcher) Close() error {
	w.once.Do(func() { close(w.stop) })
	<-w.done
	return nil
}

func (w *Watcher) run(last [sha256.Size]byte) {
	defer close(w.done)
	if w.opts.File == "" {
		<-w.stop
		return
	}
	t := time.NewTicker(w.o.interval)
	defer t.Stop()
	pending := last
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		fp := fingerprint(w.watched())
		// Reload only once the files have stayed the same for one interval,
		// so a file caught half-written is not loaded.
		if fp == last || fp != pending {
			pending = fp
			continue
		}
		last = fp
		before := w.watched()
		w.reload()
		if after := w.watched(); !slices.Equal(before, after) {
			// The reload changed which secret files are watched.
			last = fingerprint(after)
			pending = last
		}
	}
}

func (w *Watcher) watched() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string{w.opts.File}, w.cur.Source.SecretFiles...)
}

// fingerprint hashes the contents of files; a missing file hashes as empty.
func fingerprint(files []string) [sha256.Size]byte {
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			b = nil
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(b))
		h.Write(b)
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// reload loads the files again and reports the result.
func (w *Watcher) reload() {
	cur := w.Config()
	next, err := Load(w.opts)
	if err != nil {
		w.o.log.Error("config reload failed", zap.String("file", w.opts.File), zap.Error(err))
		w.onReload(Reload{Config: cur, Err: err})
		return
	}
	changes := Diff(cur, next)
	if len(changes) == 0 {
		return
	}
	out, applied, ignored := applySafe(cur, next, changes)
	if err := out.Validate(); err != nil {
		w.o.log.Error("config reload failed", zap.String("file", w.opts.File), zap.Error(err))
		w.onReload(Reload{Config: cur, Err: err})
		return
	}
	if len(applied) > 0 {
		w.mu.Lock()
		w.cur = out
		w.mu.Unlock()
		w.o.log.Info("config reloaded", zap.String("file", w.opts.File), zap.Strings("applied", changeStrings(applied)))
	}
	if len(ignored) > 0 {
		w.o.log.Warn("config changes need a restart", zap.String("file", w.opts.File), zap.Strings("ignored", changeStrings(ignored)))
	}
	w.onReload(Reload{Config: out.Clone(), Applied: applied, Ignored: ignored})
}

func changeStrings(cs []Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.String()
	}
	return out
}
