package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/json"
	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/rawbytes"
	"github.com/knadh/koanf/v2"

	"github.com/pensieve-llm/pensieve/core"
)

// EnvPrefix starts the name of every environment variable Load reads. A key
// maps to a variable by upper-casing it and replacing dots with underscores:
// server.addr is PENSIEVE_SERVER_ADDR, server.api_keys is
// PENSIEVE_SERVER_API_KEYS. List values are comma-separated, and an empty
// value is an empty list; an empty value for any other key counts as unset.
// Lists of tables (models) cannot be set from the environment. Unknown
// PENSIEVE_* variables are ignored.
const EnvPrefix = "PENSIEVE_"

// Environment variables with a special meaning.
const (
	// EnvConfig names the configuration file when Options.File is empty.
	EnvConfig = "PENSIEVE_CONFIG"
	// EnvProfile names the profile when Options.Profile is empty.
	EnvProfile = "PENSIEVE_PROFILE"
	// EnvHFToken is the Hugging Face convention for hub.token; PENSIEVE_HUB_TOKEN wins over it.
	EnvHFToken = "HF_TOKEN"
	// EnvHFEndpoint is the Hugging Face convention for hub.endpoint; PENSIEVE_HUB_ENDPOINT wins over it.
	EnvHFEndpoint = "HF_ENDPOINT"
)

// Options says where Load looks. The zero value reads the default file (if
// present) and the process environment.
type Options struct {
	// File is the configuration file; its extension (.toml, .yaml, .yml,
	// .json) selects the format. Empty: $PENSIEVE_CONFIG, else DefaultFile
	// when it exists, else no file. A named file that does not exist is an
	// error.
	File string
	// Profile selects the [profiles.NAME] section of the file, which
	// overrides the rest of the file. Empty: $PENSIEVE_PROFILE, else none.
	Profile string
	// Environ is the environment as "KEY=value" strings. Nil means
	// os.Environ().
	Environ []string
	// Flags are values set on the command line, keyed by configuration key
	// ("server.addr", "engine.threads", "models"). They override everything
	// else. Lists are []string or []any; "models" is a list of tables
	// ([]any of map[string]any).
	Flags map[string]any
	// HomeDir replaces "~" in paths and locates DefaultFile. Empty means
	// os.UserHomeDir().
	HomeDir string
}

// DefaultFile returns the configuration file used when none is named:
// $XDG_CONFIG_HOME/pensieve/config.toml, else ~/.config/pensieve/config.toml.
func (o Options) DefaultFile() (string, error) {
	if x := o.env()["XDG_CONFIG_HOME"]; x != "" {
		return filepath.Join(x, "pensieve", "config.toml"), nil
	}
	home, err := o.home()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".config", "pensieve", "config.toml"), nil
}

func (o Options) env() map[string]string {
	environ := o.Environ
	if environ == nil {
		environ = os.Environ()
	}
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

func (o Options) home() (string, error) {
	if o.HomeDir != "" {
		return o.HomeDir, nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the home directory: %w", err)
	}
	return h, nil
}

// Load builds the configuration from, in increasing precedence: Default(),
// the file, the file's selected profile, the environment and opts.Flags. It
// then expands "~" in paths, reads the *_file secrets, fills model ids and
// validates the result.
//
// Errors are core.Errors: KindNotFound when a named file does not exist,
// KindInvalid for anything wrong with the configuration itself, carrying a
// *ValidationError (find it with errors.As) that names each bad key.
func Load(opts Options) (Config, error) {
	const op = "config.Load"
	env := opts.env()
	if opts.File == "" {
		opts.File = env[EnvConfig]
	}
	if opts.Profile == "" {
		opts.Profile = env[EnvProfile]
	}
	home, err := opts.home()
	if err != nil {
		return Config{}, core.E(core.KindInternal, op, err)
	}
	file, err := opts.findFile()
	if err != nil {
		return Config{}, core.E(core.KindInternal, op, err)
	}

	k := koanf.New(".")
	if err := k.Load(confmap.Provider(toMap(reflect.ValueOf(Default())), ""), nil); err != nil {
		return Config{}, core.E(core.KindInternal, op, err)
	}
	var probs []FieldError
	if file != "" {
		if err := loadFile(k, file, opts.Profile, &probs); err != nil {
			return Config{}, err
		}
	} else if opts.Profile != "" {
		probs = append(probs, FieldError{Path: "profiles." + opts.Profile, Msg: "a profile needs a configuration file, and none was found"})
	}
	if err := k.Load(confmap.Provider(envLayer(env), "."), nil); err != nil {
		return Config{}, core.E(core.KindInternal, op, err)
	}
	if err := loadFlags(k, opts.Flags); err != nil {
		return Config{}, err
	}

	// Report every problem at once: unknown keys do not stop decoding, and
	// values that decode are validated even when other keys are unknown.
	c := Config{}
	decodeProbs := decode(k, &c)
	probs = append(probs, decodeProbs...)
	if len(decodeProbs) == 0 {
		c.Source = Source{File: file, Profile: opts.Profile}
		probs = append(probs, c.normalize(home)...)
		var ve *ValidationError
		if err := c.Validate(); errors.As(err, &ve) {
			probs = append(probs, ve.Problems...)
		}
	}
	if len(probs) > 0 {
		return Config{}, core.E(core.KindInvalid, op, &ValidationError{Source: file, Problems: dedupe(probs)})
	}
	return c, nil
}

// dedupe drops repeated reports of one key (a value of the wrong shape is
// reported by the key check and again by the decoder), keeping the first.
func dedupe(probs []FieldError) []FieldError {
	seen := map[string]bool{}
	out := probs[:0:0]
	for _, p := range probs {
		if !seen[p.Path] {
			seen[p.Path] = true
			out = append(out, p)
		}
	}
	return out
}

// findFile resolves which file to read: "" when none.
func (o Options) findFile() (string, error) {
	if o.File != "" {
		return o.File, nil
	}
	def, err := o.DefaultFile()
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(def); err != nil {
		return "", nil
	}
	return def, nil
}

func parserFor(path string) (koanf.Parser, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".toml":
		return toml.Parser(), nil
	case ".yaml", ".yml":
		return yaml.Parser(), nil
	case ".json":
		return json.Parser(), nil
	}
	return nil, fmt.Errorf("%s: unknown format: the name must end in .toml, .yaml, .yml or .json", path)
}

// loadFile merges the file, then its selected profile, into k. Problems with
// keys are appended to probs; a file that cannot be read or parsed is an
// error.
func loadFile(k *koanf.Koanf, path, profile string, probs *[]FieldError) error {
	const op = "config.Load"
	p, err := parserFor(path)
	if err != nil {
		return core.E(core.KindInvalid, op, err)
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return core.E(core.KindNotFound, op, err)
	} else if err != nil {
		return core.E(core.KindInvalid, op, err)
	}
	fk := koanf.New(".")
	if err := fk.Load(rawbytes.Provider(b), p); err != nil {
		return core.Errorf(core.KindInvalid, op, "parse %s: %w", path, err)
	}
	raw := fk.Raw()
	profiles := map[string]any{}
	if v, ok := raw["profiles"]; ok {
		m, isMap := v.(map[string]any)
		if !isMap {
			*probs = append(*probs, FieldError{Path: "profiles", Msg: "want a table of profiles, got " + describe(v)})
		}
		profiles = m
		delete(raw, "profiles")
	}
	checkKeys(raw, configType, "", probs)
	for _, name := range sortedKeys(profiles) {
		if m, ok := profiles[name].(map[string]any); ok {
			checkKeys(m, configType, "profiles."+name+".", probs)
		} else {
			*probs = append(*probs, FieldError{Path: "profiles." + name, Msg: "want a table, got " + describe(profiles[name])})
		}
	}
	if err := k.Load(confmap.Provider(raw, ""), nil); err != nil {
		return core.E(core.KindInternal, op, err)
	}
	if profile == "" {
		return nil
	}
	sel, ok := profiles[profile].(map[string]any)
	if !ok {
		have := "none"
		if len(profiles) > 0 {
			have = strings.Join(sortedKeys(profiles), ", ")
		}
		*probs = append(*probs, FieldError{Path: "profiles." + profile, Msg: "no such profile (defined: " + have + ")"})
		return nil
	}
	if err := k.Load(confmap.Provider(sel, ""), nil); err != nil {
		return core.E(core.KindInternal, op, err)
	}
	return nil
}

// envLayer maps the PENSIEVE_* (and HF_*) variables of env to a flat map of
// keys.
func envLayer(env map[string]string) map[string]any {
	keys := map[string]reflect.Type{}
	leafKeys(configType, "", keys)
	out := map[string]any{}
	if v := env[EnvHFToken]; v != "" {
		out["hub.token"] = v
	}
	if v := env[EnvHFEndpoint]; v != "" {
		out["hub.endpoint"] = v
	}
	for key, typ := range keys {
		v, ok := env[envName(key)]
		if !ok || (v == "" && typ.Kind() != reflect.Slice) {
			continue
		}
		if typ.Kind() == reflect.Slice {
			out[key] = splitList(v)
		} else {
			out[key] = v
		}
	}
	return out
}

// splitList splits a comma-separated list, trimming spaces and dropping
// empty items.
func splitList(s string) []any {
	out := []any{}
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func loadFlags(k *koanf.Koanf, flags map[string]any) error {
	if len(flags) == 0 {
		return nil
	}
	known := topKeys()
	for _, key := range sortedKeys(flags) {
		if _, ok := known[key]; !ok {
			return core.Errorf(core.KindInvalid, "config.Load", "flag value for unknown key %q", key)
		}
	}
	if err := k.Load(confmap.Provider(flags, "."), nil); err != nil {
		return core.E(core.KindInternal, "config.Load", err)
	}
	return nil
}

// decode unmarshals k into c, reporting each value that does not fit its
// field.
func decode(k *koanf.Koanf, c *Config) []FieldError {
	dc := &mapstructure.DecoderConfig{
		DecodeHook:       mapstructure.ComposeDecodeHookFunc(durationHook, integerHook, mapstructure.TextUnmarshallerHookFunc()),
		WeaklyTypedInput: true,
		TagName:          "koanf",
	}
	err := k.UnmarshalWithConf("", c, koanf.UnmarshalConf{Tag: "koanf", DecoderConfig: dc})
	if err == nil {
		return nil
	}
	var probs []FieldError
	collectDecodeErrors(err, &probs)
	if len(probs) == 0 {
		probs = append(probs, FieldError{Path: "(config)", Msg: err.Error()})
	}
	return probs
}

// collectDecodeErrors walks a tree of joined mapstructure errors.
func collectDecodeErrors(err error, probs *[]FieldError) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			collectDecodeErrors(e, probs)
		}
		return
	}
	var de *mapstructure.DecodeError
	if errors.As(err, &de) {
		*probs = append(*probs, FieldError{Path: de.Name(), Msg: decodeMsg(de.Unwrap())})
		return
	}
	*probs = append(*probs, FieldError{Path: "(config)", Msg: err.Error()})
}

func decodeMsg(err error) string {
	var ut *mapstructure.UnconvertibleTypeError
	if errors.As(err, &ut) {
		return fmt.Sprintf("want %s, got %s", ut.Expected.Type(), describe(ut.Value))
	}
	var pe *mapstructure.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("want %s, got %s", pe.Expected.Type(), describe(pe.Value))
	}
	return err.Error()
}

// durationHook parses duration strings ("30s", "2m") and rejects bare
// numbers, which would silently mean nanoseconds.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	if s, ok := data.(string); ok {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("want a duration such as \"30s\" or \"5m\", got %q", s)
		}
		return d, nil
	}
	if from == durationType {
		return data, nil
	}
	return nil, fmt.Errorf("want a duration string such as \"30s\" or \"5m\", got %v", data)
}

// integerHook rejects fractional numbers for integer fields, which the
// decoder would otherwise truncate. (JSON numbers are all floats, so whole
// floats must pass.)
func integerHook(from, to reflect.Type, data any) (any, error) {
	switch to.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
	default:
		return data, nil
	}
	if f, ok := data.(float64); ok && f != math.Trunc(f) {
		return nil, fmt.Errorf("want a whole number, got %v", f)
	}
	return data, nil
}

// normalize expands "~", resolves relative model paths, reads the *_file
// secrets and fills defaulted model fields.
func (c *Config) normalize(home string) []FieldError {
	var probs []FieldError
	// Empty lists are nil, so a loaded Config compares equal to one built in code.
	c.Server.APIKeys = nilIfEmpty(c.Server.APIKeys)
	c.Server.CORSOrigins = nilIfEmpty(c.Server.CORSOrigins)
	if len(c.Models) == 0 {
		c.Models = nil
	}
	c.ModelsDir = expandHome(c.ModelsDir, home)
	if c.Server.APIKeysFile != "" {
		c.Server.APIKeysFile = expandHome(c.Server.APIKeysFile, home)
		keys, err := readSecretLines(c.Server.APIKeysFile)
		if err != nil {
			probs = append(probs, FieldError{Path: "server.api_keys_file", Msg: err.Error()})
		}
		c.Server.APIKeys = append(c.Server.APIKeys, keys...)
		c.Source.SecretFiles = append(c.Source.SecretFiles, c.Server.APIKeysFile)
	}
	if c.Hub.TokenFile != "" {
		c.Hub.TokenFile = expandHome(c.Hub.TokenFile, home)
		lines, err := readSecretLines(c.Hub.TokenFile)
		switch {
		case err != nil:
			probs = append(probs, FieldError{Path: "hub.token_file", Msg: err.Error()})
		case len(lines) == 0:
			probs = append(probs, FieldError{Path: "hub.token_file", Msg: "holds no token"})
		case c.Hub.Token == "":
			c.Hub.Token = lines[0]
		}
		c.Source.SecretFiles = append(c.Source.SecretFiles, c.Hub.TokenFile)
	}
	for i := range c.Models {
		m := &c.Models[i]
		m.Aliases = nilIfEmpty(m.Aliases)
		if m.Path != "" {
			m.Path = expandHome(m.Path, home)
			if !filepath.IsAbs(m.Path) {
				m.Path = filepath.Join(c.ModelsDir, m.Path)
			}
		}
		if m.ID == "" && m.Path != "" {
			base := filepath.Base(m.Path)
			m.ID = strings.TrimSuffix(base, filepath.Ext(base))
		}
		if m.Name == "" {
			m.Name = m.ID
		}
	}
	return probs
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func expandHome(p, home string) string {
	switch {
	case p == "~":
		return home
	case strings.HasPrefix(p, "~/"):
		return filepath.Join(home, p[2:])
	}
	return p
}

// readSecretLines reads one secret per line, skipping blank lines and
// '#' comments. Errors never include the file's contents.
func readSecretLines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}
