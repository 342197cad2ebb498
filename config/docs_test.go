package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The user documentation lives next to the modules in the repository; a
// copy of this module used alone as a library has no docs directory.
const configDoc = "../docs/configuration.md"

// docKey is one key as the Config struct defines it.
type docKey struct {
	key     string
	typ     string // the name used in the Type column
	env     string // "" when the key has no environment variable
	def     any    // the default from Default(); nil for per-model keys
	inModel bool   // a field of one entry of the models list
}

// docRow is one row of a key table in docs/configuration.md.
type docRow struct {
	line                     int
	key, typ, def, env, flag string
	description              string
}

// TestConfigDoc checks docs/configuration.md against the Config struct:
// every key is listed exactly once, with its type, its environment
// variable and (outside the models list) its default; no listed key is
// missing from the struct.
func TestConfigDoc(t *testing.T) {
	b, err := os.ReadFile(configDoc)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s not found: this module is outside the Pensieve repository, so there is no documentation to check", configDoc)
	}
	if err != nil {
		t.Fatal(err)
	}
	rows, err := parseKeyTables(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no key tables found (a table must start with | Key | Type | Default | Environment | Flag | Description |)", configDoc)
	}
	want := structKeys()

	documented := map[string]docRow{}
	for _, r := range rows {
		if prev, dup := documented[r.key]; dup {
			t.Errorf("%s:%d: key %q is listed again (first on line %d)", configDoc, r.line, r.key, prev.line)
			continue
		}
		documented[r.key] = r
	}
	var missing, stale []string
	for k := range want {
		if _, ok := documented[k]; !ok {
			missing = append(missing, k)
		}
	}
	for k, r := range documented {
		if _, ok := want[k]; !ok {
			stale = append(stale, fmt.Sprintf("%s (line %d)", k, r.line))
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("%s does not document these configuration keys; add a row for each:\n  %s",
			configDoc, strings.Join(missing, "\n  "))
	}
	if len(stale) > 0 {
		t.Errorf("%s documents keys that config.Config no longer has; remove or rename them:\n  %s",
			configDoc, strings.Join(stale, "\n  "))
	}

	for _, k := range sortedKeys(want) {
		r, ok := documented[k]
		if !ok {
			continue
		}
		dk := want[k]
		t.Run(k, func(t *testing.T) {
			if r.typ != dk.typ {
				t.Errorf("line %d: type %q, want %q", r.line, r.typ, dk.typ)
			}
			envs := codeSpans(r.env)
			switch {
			case dk.env == "" && r.env != "—":
				t.Errorf("line %d: environment %q, want — (this key cannot be set from the environment)", r.line, r.env)
			case dk.env != "" && (len(envs) == 0 || envs[0] != dk.env):
				t.Errorf("line %d: environment %q, want it to start with `%s`", r.line, r.env, dk.env)
			}
			if r.description == "" {
				t.Errorf("line %d: no description", r.line)
			}
			if dk.inModel {
				return // per-model defaults are rules ("the file name of path"), not values
			}
			if err := checkDocDefault(r.def, dk.def); err != nil {
				t.Errorf("line %d: default %s: %v", r.line, r.def, err)
			}
		})
	}
}

// structKeys walks Config by its koanf tags and returns every key the
// documentation must list: scalar and list-of-strings leaves, each list of
// tables itself ("models") and each field of its entries ("models[N].id").
func structKeys() map[string]docKey {
	out := map[string]docKey{}
	var walk func(t reflect.Type, v reflect.Value, prefix string, inModel bool)
	walk = func(t reflect.Type, v reflect.Value, prefix string, inModel bool) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("koanf")
			if tag == "" || tag == "-" || !f.IsExported() {
				continue
			}
			key := prefix + tag
			var fv reflect.Value
			if v.IsValid() {
				fv = v.Field(i)
			}
			switch {
			case f.Type.Kind() == reflect.Struct:
				walk(f.Type, fv, key+".", inModel)
				continue
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
				out[key] = docKey{key: key, typ: "list of tables", def: fv.Interface()}
				walk(f.Type.Elem(), reflect.Value{}, key+"[N].", true)
				continue
			}
			k := docKey{key: key, typ: docType(f.Type), inModel: inModel}
			if !inModel {
				k.env = envName(key)
				k.def = fv.Interface()
			}
			out[key] = k
		}
	}
	walk(configType, reflect.ValueOf(Default()), "", false)
	return out
}

// docType names a field type the way the Value formats table does.
func docType(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t == byteSizeType:
		return "size"
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() == reflect.Bool:
		return "bool"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "int"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return "list of strings"
	}
	return "unknown type " + t.String()
}

// checkDocDefault reports whether cell (one code span holding a TOML value)
// means the same value as def.
func checkDocDefault(cell string, def any) error {
	spans := codeSpans(cell)
	if len(spans) != 1 || strings.TrimSpace(cell) != "`"+spans[0]+"`" {
		return fmt.Errorf("want exactly one code span holding the value, such as `\"30s\"` or `4`")
	}
	lit := spans[0]
	unquote := func() (string, error) {
		if !strings.HasPrefix(lit, `"`) {
			return lit, nil
		}
		return strconv.Unquote(lit)
	}
	var got any
	var err error
	switch def.(type) {
	case string:
		if !strings.HasPrefix(lit, `"`) {
			return fmt.Errorf("want a quoted string")
		}
		got, err = strconv.Unquote(lit)
	case bool:
		got, err = strconv.ParseBool(lit)
	case int:
		got, err = strconv.Atoi(lit)
	case time.Duration:
		var s string
		if s, err = unquote(); err == nil {
			got, err = time.ParseDuration(s)
		}
	case ByteSize:
		var s string
		if s, err = unquote(); err == nil {
			got, err = ParseByteSize(s)
		}
	case []string:
		if lit != "[]" {
			var items []string
			for _, it := range strings.Split(strings.Trim(lit, "[]"), ",") {
				s, uerr := strconv.Unquote(strings.TrimSpace(it))
				if uerr != nil {
					return fmt.Errorf("want a list of quoted strings: %w", uerr)
				}
				items = append(items, s)
			}
			got = items
		} else {
			got = []string(nil)
		}
	case []Model:
		if lit != "[]" {
			return fmt.Errorf("want [] (the default models list is empty)")
		}
		got = []Model(nil)
	default:
		return fmt.Errorf("no rule to compare a default of type %T", def)
	}
	if err != nil {
		return err
	}
	if diff := cmp.Diff(def, got); diff != "" {
		return fmt.Errorf("does not match Default() (-want +got):\n%s", diff)
	}
	return nil
}

var codeSpanRE = regexp.MustCompile("`([^`]*)`")

func codeSpans(s string) []string {
	var out []string
	for _, m := range codeSpanRE.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// keyTableHeader is the header row of every key table.
var keyTableHeader = []string{"Key", "Type", "Default", "Environment", "Flag", "Description"}

// parseKeyTables returns the rows of every Markdown table whose header is
// keyTableHeader. Cells must not contain '|'.
func parseKeyTables(doc []byte) ([]docRow, error) {
	var rows []docRow
	in := false
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			in = false
			continue
		}
		cells := splitRow(line)
		switch {
		case cmp.Equal(cells, keyTableHeader):
			in = true
			continue
		case !in || strings.Trim(line, "|-: ") == "":
			continue
		}
		if len(cells) != len(keyTableHeader) {
			return nil, fmt.Errorf("%s:%d: %d cells, want %d", configDoc, n, len(cells), len(keyTableHeader))
		}
		keys := codeSpans(cells[0])
		if len(keys) != 1 || cells[0] != "`"+keys[0]+"`" {
			return nil, fmt.Errorf("%s:%d: the Key cell must be one code span, got %q", configDoc, n, cells[0])
		}
		rows = append(rows, docRow{line: n, key: keys[0], typ: cells[1], def: cells[2],
			env: cells[3], flag: cells[4], description: cells[5]})
	}
	return rows, sc.Err()
}

func splitRow(line string) []string {
	parts := strings.Split(strings.Trim(line, "|"), "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// TestConfigDocPath makes sure the skip in TestConfigDoc is only taken
// outside the repository: inside it (next to go.work) the file must exist.
func TestConfigDocPath(t *testing.T) {
	if _, err := os.Stat(filepath.Join("..", "go.work")); err != nil {
		t.Skip("not inside the Pensieve repository (no ../go.work)")
	}
	if _, err := os.Stat(configDoc); err != nil {
		t.Fatalf("inside the repository %s must exist: %v", configDoc, err)
	}
}
