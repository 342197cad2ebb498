// Package engine turns generation requests into token streams for many users
// at once: sampling, stop sequences, continuous batching, the prefix KV cache
// and cancellation. It drives any core.Model and implements core.Generator.
//
// One scheduler goroutine owns the model's KV cache. Each step it ends
// requests whose context is done, gives free slots to queued requests, and
// runs one forward pass whose batch holds the next token of every decoding
// sequence plus prompt chunks (at most WithPrefillChunk tokens each, within
// WithBatchSize in total) of sequences still prefilling; the sequence that
// goes first rotates every step. After the pass it samples for every
// sequence whose logits came back (constraint mask, then the pipeline of
// package sample), decodes the token, holds back text that could still
// become a stop sequence or that ends mid-rune, and posts an event.
//
// Slots double as the prefix cache: a finished sequence leaves its keys and
// values in its slot, and a new request starts from the longest prefix of
// its prompt held by any slot, reused in place or copied with
// core.KVCache.CopyPrefix; the least recently used idle slot is evicted.
// The reused count is reported as core.Usage.CachedTokens.
//
// The scheduler never waits for a consumer: each request has a small
// forwarder goroutine that moves events to the caller's channel, merging
// events that pile up while the caller is slow, and that ends with the
// request. Package enginetest has a fake model and tokenizer for tests and
// MeasureDecode for throughput measurements on any core.Generator.
package engine
