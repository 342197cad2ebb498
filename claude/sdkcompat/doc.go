// Package sdkcompat holds the wire-compatibility tests of package claude
// against the official Anthropic Go SDK (a test-only dependency). They
// live apart so that claude's own test binary, fuzzed often, does not link
// the SDK.
package sdkcompat
