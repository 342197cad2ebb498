package core

import (
	"errors"
	"fmt"
)

// Kind classifies an error by what the caller can do about it. Kinds are
// mapped to HTTP statuses only at the edge (server, proxy); everything below
// that classifies failures with a Kind and never speaks HTTP.
//
// A Kind is itself an error value so that errors.Is(err, core.KindNotFound)
// works on any error chain that holds a *Error of that kind.
type Kind uint8

// The error kinds. The zero value is KindInternal: an unclassified error is a
// bug on our side, never the caller's fault.
const (
	KindInternal        Kind = iota // a bug or an unexpected failure
	KindInvalid                     // the request is malformed or asks for something unsupported
	KindNotFound                    // a named thing (model, batch, file) does not exist
	KindUnauthenticated             // missing or wrong credentials
	KindPermission                  // credentials are valid but not allowed to do this
	KindTooLarge                    // the request body or a file is beyond a configured limit
	KindRateLimited                 // the caller exceeded a rate limit; retry later
	KindOverloaded                  // the server is at capacity (full queue); retry later
	KindContextLength               // prompt plus max_tokens exceeds the model's context
	KindCanceled                    // the caller canceled the work (context canceled)
	KindUnavailable                 // a dependency (model, upstream) is not ready or is down
)

var kindNames = [...]string{
	KindInternal:        "internal",
	KindInvalid:         "invalid",
	KindNotFound:        "not_found",
	KindUnauthenticated: "unauthenticated",
	KindPermission:      "permission",
	KindTooLarge:        "too_large",
	KindRateLimited:     "rate_limited",
	KindOverloaded:      "overloaded",
	KindContextLength:   "context_length",
	KindCanceled:        "canceled",
	KindUnavailable:     "unavailable",
}

// String returns the kind's snake_case name, e.g. "not_found".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Error implements error so that a Kind can be the target of errors.Is.
func (k Kind) Error() string { return k.String() }

// Error is the error type shared by all Pensieve modules: what kind of failure
// it is, which operation failed, and the underlying cause.
type Error struct {
	Kind Kind   // classification, see Kind
	Op   string // the failing operation, e.g. "gguf.Open" or "engine.Submit"
	Err  error  // the cause; may be nil when Op says it all
}

// Error formats the error as "op: cause".
func (e *Error) Error() string {
	switch {
	case e.Err == nil && e.Op == "":
		return e.Kind.String()
	case e.Err == nil:
		return e.Op + ": " + e.Kind.String()
	case e.Op == "":
		return e.Err.Error()
	}
	return e.Op + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is this error's Kind.
func (e *Error) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k == e.Kind
}

// E returns a *Error of kind k for operation op wrapping err.
func E(k Kind, op string, err error) error { return &Error{Kind: k, Op: op, Err: err} }

// Errorf returns a *Error of kind k for operation op whose cause is
// fmt.Errorf(format, args...); %w verbs wrap as usual.
func Errorf(k Kind, op, format string, args ...any) error {
	return &Error{Kind: k, Op: op, Err: fmt.Errorf(format, args...)}
}

// KindOf returns the kind of the outermost *Error in err's chain. A context
// cancellation without a *Error is KindCanceled; anything else unclassified
// is KindInternal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	if isContextErr(err) {
		return KindCanceled
	}
	return KindInternal
}
