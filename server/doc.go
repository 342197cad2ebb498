// Package server is Pensieve's HTTP server (echo): the Messages API with SSE,
// models, count_tokens, batches, an OpenAI-compatible endpoint, auth, limits
// and metrics. The contract is ../shared/specs/anthropic-messages.md (cited
// as spec §N).
//
// # Routes
//
//	POST   /v1/messages                       JSON or SSE (also ?beta=true: routing ignores queries)
//	GET    /v1/messages/ws                    WebSocket: a request per text message, an event per answer
//	POST   /v1/messages/count_tokens          {"input_tokens":N}
//	GET    /v1/models, /v1/models/{id}        ids, aliases; "claude-*" names map to the default model;
//	                                          a "pensieve" object tells whether each is loaded
//	POST   /v1/messages/batches               create; GET list, GET {id}, POST {id}/cancel,
//	                                          GET {id}/results (JSONL), DELETE {id}
//	POST   /v1/chat/completions               OpenAI dialect, translated to and from Messages
//	GET    /api/status                        loaded models, their load, memory, uptime, version
//	POST   /api/unload                        {"model":"…"}: unload an on-demand model
//	GET    /health, /ready, /metrics          unauthenticated; /ready fails during Shutdown
//
// Every response carries a request-id header ("req_…"); every failure is the
// Anthropic error envelope, its status and type chosen by one mapping from
// core error kinds (statusOf).
//
// # Use
//
//	srv, err := server.New(server.Config{APIKeys: keys}, []server.Model{{
//		ID: "qwen", Generator: eng, Tokenizer: tok, Template: tmpl,
//	}}, server.WithLogger(log))
//	err = srv.ListenAndServe(ctx) // or Serve(ctx, ln); both shut down gracefully when ctx ends
//
// # Models
//
// A Model given with its pieces (Generator, Tokenizer, Template) is served
// as is. A Model given without them is loaded on demand by the Loader of
// WithLoader when a request first names it; concurrent requests wait for
// one load. The server unloads such a model once it has been idle for its
// KeepAlive, when POST /api/unload asks, or — least recently used first —
// when loading another would exceed Config.MemoryBudget; a model with
// requests in flight is never unloaded. Loads and unloads are logged and
// counted (pensieve_model_loads_total, pensieve_model_unloads_total,
// pensieve_models_loaded).
//
// Shutdown stops accepting connections, lets requests in flight (streams
// and WebSocket generations included) and batch requests finish until its
// context ends, then cancels what remains and waits for it, and finally
// unloads the on-demand models. The server owns no model or engine given
// to it with their pieces: close them after Shutdown returns.
package server
