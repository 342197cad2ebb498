package claude

// Version is an Anthropic API version, the value of the anthropic-version
// request header (§2). Some validation rules depend on it (§3.2).
type Version string

// The API versions Pensieve serves.
const (
	Version20230601 Version = "2023-06-01"
	Version20261021 Version = "2026-10-21"
)

// ParseVersion returns the version named by an anthropic-version header
// value. An empty value means 2023-06-01 (§2); any other unknown value is a
// KindInvalid error whose message names the header.
func ParseVersion(header string) (Version, error) {
	switch Version(header) {
	case "":
		return Version20230601, nil
	case Version20230601, Version20261021:
		return Version(header), nil
	}
	return "", invalid("claude.ParseVersion", "anthropic-version",
		"%q is not a supported API version; use %s or %s", header, Version20230601, Version20261021)
}

// removesSampling reports whether v rejects temperature, top_p and top_k.
func (v Version) removesSampling() bool { return v == Version20261021 }

// strictBlocks reports whether v applies the 2026-10-21 block placement
// rules: no document blocks in assistant turns and no citations on user text.
func (v Version) strictBlocks() bool { return v == Version20261021 }
