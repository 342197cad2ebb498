// Package engine turns generation requests into token streams for many users
// at once: sampling, stop sequences, continuous batching, the prefix KV cache
// and cancellation. It drives any core.Model and implements core.Generator.
package engine
