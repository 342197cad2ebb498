package core

import "context"

// Constraint restricts which tokens may come next, e.g. so that a tool call's
// arguments are JSON valid against a schema. One Constraint serves one
// generation: the engine calls it from a single goroutine, with generated
// growing by exactly the sampled token between calls.
type Constraint interface {
	// Mask sets to -Inf (math.Inf(-1)) the logits of every token that may
	// not follow generated (the tokens produced so far, prompt excluded).
	// logits has one value per vocabulary entry and is owned by the caller.
	Mask(generated []TokenID, logits []float32) error

	// Done reports whether generated is complete, so that generation stops
	// with StopEndTurn even without an end-of-generation token.
	Done(generated []TokenID) bool
}

// Sampling selects how the next token is drawn from the logits. The zero
// value with Temperature 0 is greedy (argmax).
type Sampling struct {
	Temperature float32 // 0 = greedy
	TopK        int     // keep the k most likely tokens; 0 = off
	TopP        float32 // nucleus: keep the smallest set with mass ≥ p; 0 or 1 = off
	MinP        float32 // drop tokens with p < MinP·p(max); 0 = off
	Seed        uint64  // seeds the request's own random source
}

// StopReason tells why a generation ended.
type StopReason string

// Stop reasons.
const (
	StopEndTurn      StopReason = "end_turn"      // an end-of-generation token or Constraint.Done
	StopMaxTokens    StopReason = "max_tokens"    // Request.MaxTokens reached
	StopSequence     StopReason = "stop_sequence" // one of Request.Stop matched
	StopContextLimit StopReason = "context_limit" // the model's context is full
)

// Request asks for one generation. The engine does not modify it and does
// not retain it after the stream ends.
type Request struct {
	Prompt     []TokenID  // the full prompt, BOS included if wanted
	Sampling   Sampling   // how to draw tokens
	MaxTokens  int        // generated-token limit; must be > 0
	Stop       []string   // stop sequences matched on the generated text
	IgnoreEOS  bool       // keep going past end-of-generation tokens
	Constraint Constraint // optional; applied before sampling
}

// Usage counts tokens of one generation.
type Usage struct {
	PromptTokens    int // tokens in Request.Prompt
	CachedTokens    int // prompt tokens reused from the prefix cache, not evaluated again
	GeneratedTokens int // tokens sampled
}

// Event is one item of a generation stream.
//
// Every event but the last carries Text and/or Tokens. The last event has
// Done set and carries StopReason (and StopSequence when it is StopSequence),
// the final Usage, or Err when the generation failed.
type Event struct {
	Text         string     // newly released text; always valid UTF-8
	Tokens       []TokenID  // tokens sampled since the previous event
	Done         bool       // this is the last event
	StopReason   StopReason // set on the last event unless Err
	StopSequence string     // the stop sequence that matched, if any
	Usage        Usage      // cumulative counts
	Err          error      // set on the last event when the generation failed
}

// Generator runs generations: the engine implements it.
//
// Generate validates req and queues it. It fails at once with KindOverloaded
// when the queue is full, KindContextLength when prompt plus MaxTokens cannot
// fit the model's context, and KindInvalid for a malformed request.
// Otherwise it returns a channel that delivers the events of the generation
// in order; the sender closes the channel right after the event with Done.
// A consumer that stops early must cancel ctx; the generation then stops
// within one step, frees its memory, and the channel is closed (its last
// event carrying Err of KindCanceled). Generate is safe for concurrent use.
type Generator interface {
	Generate(ctx context.Context, req *Request) (<-chan Event, error)
}
