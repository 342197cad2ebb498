//go:build !darwin

package metal

import "github.com/pensieve-llm/pensieve/core"

// Available reports whether a Metal device can be opened: never on this
// platform.
func Available() bool { return false }

func newDevice() (core.Backend, error) {
	return nil, core.Errorf(core.KindUnavailable, "metal.Open",
		"Metal GPU backend is only available on macOS (darwin/arm64); this is %s — use --device cpu", platform())
}
