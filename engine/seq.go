package engine

import (
	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/engine/sample"
)

// sequence is a request that holds a KV slot: its tokens, how far the
// cache has evaluated them, and its sampling and text state.
type sequence struct {
	r       *request
	slot    core.SeqID
	tokens  []core.TokenID // prompt, then every sampled token
	nPrompt int            // len(prompt)
	nPast   int            // tokens[:nPast] are in the slot's cache
	cached  int            // prompt tokens reused from the prefix cache
	sampler *sample.Sampler
	text    *textStream
	done    bool // finished; removed from the active list after the step
}

// decoding reports whether the prompt has been evaluated: the sequence
// then has exactly one pending token, the last one sampled.
func (q *sequence) decoding() bool { return q.nPast >= q.nPrompt }

// pending returns the tokens not yet in the cache.
func (q *sequence) pending() []core.TokenID { return q.tokens[q.nPast:] }

// generated returns the tokens sampled so far.
func (q *sequence) generated() []core.TokenID { return q.tokens[q.nPrompt:] }

func (q *sequence) usage() core.Usage {
	return core.Usage{PromptTokens: q.nPrompt, CachedTokens: q.cached, GeneratedTokens: len(q.tokens) - q.nPrompt}
}
