// Package server is Pensieve's HTTP server (echo): the Messages API with SSE,
// models, count_tokens, batches, an OpenAI-compatible endpoint, auth, limits
// and metrics. The contract is ../shared/specs/anthropic-messages.md (cited
// as spec §N).
//
// # Routes
//
//	POST   /v1/messages                       JSON or SSE (also ?beta=true: routing ignores queries)
//	POST   /v1/messages/count_tokens          {"input_tokens":N}
//	GET    /v1/models, /v1/models/{id}        ids, aliases; "claude-*" names map to the default model
//	POST   /v1/messages/batches               create; GET list, GET {id}, POST {id}/cancel,
//	                                          GET {id}/results (JSONL), DELETE {id}
//	POST   /v1/chat/completions               OpenAI dialect, translated to and from Messages
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
// Shutdown stops accepting connections, lets requests in flight (streams
// included) and batch requests finish until its context ends, then cancels
// what remains and waits for it. The server owns no model or engine: close
// them after Shutdown returns.
package server
