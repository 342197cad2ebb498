// Package layering holds Pensieve's module layering policy and checks an
// import graph against it.
package layering

import (
	"fmt"
	"sort"
	"strings"
)

// Prefix is the module path prefix shared by every Pensieve module.
const Prefix = "github.com/pensieve-llm/pensieve/"

// Modules lists the nine Pensieve modules in layer order.
var Modules = []string{"core", "model", "engine", "metal", "claude", "config", "proxy", "server", "cli"}

// Allowed lists the Pensieve modules each module may import. This is policy:
// never widen it to make a build pass. L1 (core) imports nothing of ours; L2
// (model, engine, metal, claude) import only core; L3 wires the pieces and cli
// is the only composition root.
var Allowed = map[string][]string{
	"core":   {},
	"model":  {"core"},
	"engine": {"core"},
	"metal":  {"core"},
	"claude": {"core"},
	"config": {"core"},
	"proxy":  {"core", "claude"},
	"server": {"core", "engine", "model", "metal", "claude"},
	"cli":    {"core", "engine", "model", "metal", "claude", "config", "server", "proxy"},
}

// StdlibOnly lists the modules that may import nothing outside the standard
// library.
var StdlibOnly = map[string]bool{"core": true}

// Violation is one forbidden import edge.
type Violation struct {
	Module  string // the importing module
	Package string // the importing package
	Import  string // the forbidden import path
	Target  string // the Pensieve module imported, or "" for a non-standard import
}

func (v Violation) String() string {
	if v.Target == "" {
		return fmt.Sprintf("module %s must use only the standard library, but %s imports %s", v.Module, v.Package, v.Import)
	}
	return fmt.Sprintf("module %s must not import module %s (%s imports %s)", v.Module, v.Target, v.Package, v.Import)
}

// ModuleOf returns the Pensieve module an import path belongs to, or "".
func ModuleOf(path string) string {
	rest, ok := strings.CutPrefix(path, Prefix)
	if !ok {
		return ""
	}
	mod, _, _ := strings.Cut(rest, "/")
	return mod
}

// IsStdlib reports whether an import path belongs to the standard library:
// its first element has no dot.
func IsStdlib(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// Edge is one import: package From imports path To.
type Edge struct{ From, To string }

// Check returns the violations in deps, which maps each module to the import
// edges of the packages it builds, its dependencies included (as
// `go list -deps` prints them). Edges whose importer belongs to another
// module are that module's business and are skipped.
func Check(deps map[string][]Edge) []Violation {
	var out []Violation
	mods := make([]string, 0, len(deps))
	for m := range deps {
		mods = append(mods, m)
	}
	sort.Strings(mods)
	for _, mod := range mods {
		allowed := map[string]bool{mod: true}
		for _, a := range Allowed[mod] {
			allowed[a] = true
		}
		for _, e := range deps[mod] {
			if ModuleOf(e.From) != mod {
				continue
			}
			target := ModuleOf(e.To)
			switch {
			case target != "" && !allowed[target]:
				out = append(out, Violation{Module: mod, Package: e.From, Import: e.To, Target: target})
			case target == "" && StdlibOnly[mod] && !IsStdlib(e.To):
				out = append(out, Violation{Module: mod, Package: e.From, Import: e.To})
			}
		}
	}
	return out
}
