// Package hub downloads model files from a Hugging Face compatible hub:
// GET {endpoint}/{org}/{repo}/resolve/{revision}/{file}, following the hub's
// redirect to its CDN, resuming an interrupted download with an HTTP range
// from a ".partial" file, checking the SHA-256 the hub reports and renaming
// the finished file into place.
package hub

import (
	"net/url"
	"path"
	"strings"

	"github.com/pensieve-llm/pensieve/core"
)

// DefaultRevision is the revision downloaded when a Ref names none.
const DefaultRevision = "main"

// Ref names one file in a hub repository.
type Ref struct {
	// Repo is "org/name", e.g. "Qwen/Qwen2.5-0.5B-Instruct-GGUF".
	Repo string
	// File is the path of the file inside the repository, e.g.
	// "qwen2.5-0.5b-instruct-q4_k_m.gguf" or "Q4_K_M/model.gguf".
	File string
	// Revision is a branch, tag or commit; empty means DefaultRevision.
	Revision string
}

// ParseRef parses "ORG/REPO/FILE" or "hf://ORG/REPO/FILE"; FILE may contain
// slashes (a file in a folder of the repository). The revision is left empty.
func ParseRef(s string) (Ref, error) {
	const op = "hub.ParseRef"
	rest := strings.TrimPrefix(s, "hf://")
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) < 3 || parts[2] == "" {
		return Ref{}, core.Errorf(core.KindInvalid, op, "%q: want ORG/REPO/FILE, e.g. Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf", s)
	}
	r := Ref{Repo: parts[0] + "/" + parts[1], File: parts[2]}
	if err := r.Validate(); err != nil {
		return Ref{}, err
	}
	return r, nil
}

// Validate checks that the ref names a repository and a file without path
// tricks ("..", absolute paths, backslashes).
func (r Ref) Validate() error {
	const op = "hub.Ref"
	org, name, ok := strings.Cut(r.Repo, "/")
	if !ok || !validName(org) || !validName(name) {
		return core.Errorf(core.KindInvalid, op, "repository %q: want ORG/NAME of letters, digits, '-', '_' and '.'", r.Repo)
	}
	if r.File == "" || strings.HasPrefix(r.File, "/") || strings.Contains(r.File, "\\") || strings.ContainsRune(r.File, 0) {
		return core.Errorf(core.KindInvalid, op, "file %q: want a relative path inside the repository", r.File)
	}
	for _, seg := range strings.Split(r.File, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return core.Errorf(core.KindInvalid, op, "file %q: empty, '.' or '..' path segment", r.File)
		}
	}
	if strings.ContainsAny(r.Revision, " \t\r\n") {
		return core.Errorf(core.KindInvalid, op, "revision %q contains whitespace", r.Revision)
	}
	return nil
}

func validName(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		ok := r == '-' || r == '_' || r == '.' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}

// revision returns the revision to download.
func (r Ref) revision() string {
	if r.Revision == "" {
		return DefaultRevision
	}
	return r.Revision
}

// Name is the local file name: the last path segment of File.
func (r Ref) Name() string { return path.Base(r.File) }

// String formats the ref as "ORG/REPO/FILE@REVISION".
func (r Ref) String() string { return r.Repo + "/" + r.File + "@" + r.revision() }

// resolveURL is {endpoint}/{repo}/resolve/{revision}/{file}; the revision is
// one escaped segment ("refs/pr/1" → "refs%2Fpr%2F1"), as the hub expects.
func (r Ref) resolveURL(endpoint string) string {
	segs := strings.Split(r.File, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.TrimRight(endpoint, "/") + "/" + r.Repo + "/resolve/" +
		url.PathEscape(r.revision()) + "/" + strings.Join(segs, "/")
}
