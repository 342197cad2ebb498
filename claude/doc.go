// Package claude is the Anthropic Messages domain: request, response and
// stream types, validation, prompt building, tool-call and thinking parsing,
// logit constraints for forced tool use, and token counting. It does no I/O;
// the server reads bodies and writes what this package produces.
//
// The contract is ../shared/specs/anthropic-messages.md (cited as §N below).
//
// # The path of one request
//
//	v, err := claude.ParseVersion(r.Header.Get("anthropic-version"))   // 400 on unknown values
//	req, err := claude.DecodeRequest(body, v)                           // shape and model-free rules
//	prof := profiles[req.Model]                                         // built once per model with NewProfile
//	prep, err := prof.Prepare(req)                                      // prompt tokens, core.Request, limits
//	s := prep.NewStream(claude.StreamOptions{})                         // one per response
//	first := s.Start()                                                  // message_start, may be sent at once
//	events, err := generator.Generate(ctx, &prep.Request)
//	for ev := range events {
//		for _, out := range s.Feed(ev) { write(claude.AppendSSE(nil, out)) }
//		if s.Finished() { cancel(); break }                            // e.g. disable_parallel_tool_use
//	}
//
// A non-streaming response feeds the same events into an Accumulator (or calls
// Collect), so a streamed and a non-streamed reply of one generation agree.
// max_tokens 0 needs no generation: feed prep.EmptyCompletion() instead.
//
// count_tokens uses DecodeCountTokensRequest and Profile.CountTokens, which
// runs the same prompt builder as Prepare, so its answer equals the sum of the
// prompt-side usage fields of the same request (§5, §8).
//
// Errors are *core.Error values classified by kind; the message a client
// must see verbatim is carried by an *APIError in the chain, and
// NewErrorResponse builds the §7.1 envelope from any error.
package claude
