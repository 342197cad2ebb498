package config

import (
	"bytes"
	stdjson "encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/knadh/koanf/parsers/json"
	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/v2"

	"github.com/pensieve-llm/pensieve/core"
)

// Redacted replaces each secret in Redacted copies.
const Redacted = "[redacted]"

// secretKeys are the keys whose values are secrets. Lists of secrets keep
// their length when redacted, so `config show` still tells how many keys
// there are.
var secretKeys = map[string]bool{"server.api_keys": true, "hub.token": true}

// Redacted returns a deep copy of c with every secret (API keys, the hub
// token) replaced by the Redacted marker; empty secrets stay empty. Use it
// for anything printed or logged.
func (c Config) Redacted() Config {
	out := c.Clone()
	for i := range out.Server.APIKeys {
		out.Server.APIKeys[i] = Redacted
	}
	if out.Hub.Token != "" {
		out.Hub.Token = Redacted
	}
	return out
}

// Marshal renders the configuration with its secrets redacted, in the format
// named by ext: "toml", "yaml" (or "yml") or "json". The result reads back
// with Load as the same configuration, except for the secrets and for keys
// merged from *_file secrets.
func (c Config) Marshal(ext string) ([]byte, error) {
	var p koanf.Parser
	switch strings.ToLower(strings.TrimPrefix(ext, ".")) {
	case "toml":
		p = toml.Parser()
	case "yaml", "yml":
		p = yaml.Parser()
	case "json":
		p = json.Parser()
	default:
		return nil, core.Errorf(core.KindInvalid, "config.Marshal", "unknown format %q: want toml, yaml or json", ext)
	}
	b, err := p.Marshal(toMap(reflect.ValueOf(c.Redacted())))
	if err != nil {
		return nil, core.E(core.KindInternal, "config.Marshal", fmt.Errorf("encode %s: %w", ext, err))
	}
	if _, isJSON := p.(*json.JSON); isJSON {
		var out bytes.Buffer
		if err := stdjson.Indent(&out, b, "", "  "); err != nil {
			return nil, core.E(core.KindInternal, "config.Marshal", err)
		}
		out.WriteByte('\n')
		return out.Bytes(), nil
	}
	return b, nil
}
