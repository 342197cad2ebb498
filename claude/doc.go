// Package claude is the Anthropic Messages domain: request, response and
// stream types, validation, prompt building, tool-call and thinking parsing,
// logit constraints for forced tool use, and token counting. It does no I/O;
// the server reads bodies and writes what this package produces.
//
// The contract is ../shared/specs/anthropic-messages.md (cited as §N);
// CONFORMANCE.md maps its checklist to this package's tests.
//
// # One request
//
//	v, err := claude.ParseVersion(r.Header.Get("anthropic-version")) // 400 on unknown values
//	req, err := claude.DecodeRequest(body, v)                         // shapes and model-free rules
//	prof := profiles[model]                                           // one NewProfile per model, at load
//	prep, err := prof.Prepare(req)                                    // prompt tokens, limits, constraint
//	s := prep.NewStream(claude.StreamOptions{})                       // one per response
//	write(s.Start())                                                  // message_start, may go out at once
//	events, err := generator.Generate(ctx, &prep.Request)
//	for ev := range events {
//		write(s.Feed(ev))                                            // frame each with AppendSSE
//		if s.Finished() {                                            // e.g. disable_parallel_tool_use
//			cancel()
//			break
//		}
//	}
//
// Every error before the first event (ParseVersion, DecodeRequest,
// Prepare, Generate) is an ordinary HTTP error: NewErrorResponse builds its
// body, and the server maps core.KindOf(err) to the status. A generation
// that fails later yields an ErrorEvent from Feed, the last event.
//
// A non-streaming response runs the same events through Collect (or an
// Accumulator), so streamed and non-streamed replies of one generation are
// identical. max_tokens 0 needs no generation: feed prep.EmptyCompletion().
//
// count_tokens uses DecodeCountTokensRequest and Profile.CountTokens, the
// same rendering and tokenization as Prepare, so its answer equals the sum
// of the prompt-side usage fields of the same request (§5, §8).
//
// Errors are *core.Error values classified by kind; the message a client
// must see verbatim is an *APIError in the chain (ErrorMessage returns it).
//
// Models, pages (Paginate) and Message Batches (DecodeBatchCreate,
// MessageBatch, AppendJSONL) have their wire types here; their state lives
// in the server.
package claude
