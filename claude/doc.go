// Package claude is the Anthropic Messages domain: request, response and
// stream types, validation, prompt building, tool-call and thinking parsing,
// and token counting. It does no I/O; the server writes what it produces.
package claude
