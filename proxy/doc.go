// Package proxy is an Anthropic-compatible gateway in front of Pensieve
// servers and OpenAI-compatible servers: passthrough, translation, routing,
// failover and rate limits.
package proxy
