// Package server is Pensieve's HTTP server (echo): the Messages API with SSE,
// models, count_tokens, batches, an OpenAI-compatible endpoint, auth, limits
// and metrics.
package server
