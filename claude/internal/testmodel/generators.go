package testmodel

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"unicode/utf8"

	"github.com/pensieve-llm/pensieve/core"
)

// Script is a Generator that streams fixed text in chunks, one token per
// byte, then stops with Reason (StopEndTurn when empty).
type Script struct {
	Chunks       []string
	Reason       core.StopReason
	StopSequence string
	Cached       int // prompt tokens reported as cached
}

// Generate implements core.Generator. The events are ready at once.
func (s Script) Generate(ctx context.Context, req *core.Request) (<-chan core.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, core.E(core.KindCanceled, "testmodel.Script", err)
	}
	ch := make(chan core.Event, len(s.Chunks)+1)
	n := 0
	for _, c := range s.Chunks {
		toks := make([]core.TokenID, len(c))
		for i := range c {
			toks[i] = core.TokenID(c[i])
		}
		n += len(toks)
		ch <- core.Event{Text: c, Tokens: toks}
	}
	reason := s.Reason
	if reason == "" {
		reason = core.StopEndTurn
	}
	ch <- core.Event{Done: true, StopReason: reason, StopSequence: s.StopSequence,
		Usage: core.Usage{PromptTokens: len(req.Prompt), CachedTokens: s.Cached, GeneratedTokens: n}}
	close(ch)
	return ch, nil
}

// Random is a Generator over a tokenizer whose logits are random normal
// values, as a random-weight model's are: it samples greedily (or at
// Temperature) after the request's constraint masks the logits, releases
// text on UTF-8 boundaries, and stops at an end-of-generation token, when
// the constraint is done, or at MaxTokens.
type Random struct {
	Tok         core.Tokenizer
	Seed        uint64
	Temperature float64
}

// Generate implements core.Generator. The whole generation runs before it
// returns; the channel then holds every event.
func (g Random) Generate(ctx context.Context, req *core.Request) (<-chan core.Event, error) {
	if req.MaxTokens <= 0 {
		return nil, core.Errorf(core.KindInvalid, "testmodel.Random", "max_tokens must be positive")
	}
	rng := rand.New(rand.NewPCG(g.Seed, 7))
	vocab := g.Tok.Vocab()
	logits := make([]float32, vocab.Size)
	var gen []core.TokenID
	var pending []byte
	events := []core.Event{}
	reason := core.StopMaxTokens
	for len(gen) < req.MaxTokens {
		if err := ctx.Err(); err != nil {
			events = append(events, core.Event{Done: true, Err: core.E(core.KindCanceled, "testmodel.Random", err)})
			return send(events), nil
		}
		for i := range logits {
			logits[i] = float32(rng.NormFloat64() * 3)
		}
		if req.Constraint != nil {
			if err := req.Constraint.Mask(gen, logits); err != nil {
				events = append(events, core.Event{Done: true, Err: err})
				return send(events), nil
			}
		}
		id := g.sample(rng, logits)
		gen = append(gen, id)
		if vocab.IsEOG(id) && !req.IgnoreEOS {
			reason = core.StopEndTurn
			break
		}
		var text string
		text, pending = release(g.Tok.Decode(pending, id))
		events = append(events, core.Event{Text: text, Tokens: []core.TokenID{id}})
		if req.Constraint != nil && req.Constraint.Done(gen) {
			reason = core.StopEndTurn
			break
		}
	}
	events = append(events, core.Event{Done: true, StopReason: reason,
		Usage: core.Usage{PromptTokens: len(req.Prompt), GeneratedTokens: len(gen)}})
	return send(events), nil
}

func (g Random) sample(rng *rand.Rand, logits []float32) core.TokenID {
	best := -1
	if g.Temperature <= 0 {
		for i, l := range logits {
			if !math.IsInf(float64(l), -1) && (best < 0 || l > logits[best]) {
				best = i
			}
		}
		return core.TokenID(best)
	}
	var sum float64
	weights := make([]float64, len(logits))
	for i, l := range logits {
		if !math.IsInf(float64(l), -1) {
			weights[i] = math.Exp(float64(l) / g.Temperature)
			sum += weights[i]
		}
	}
	r := rng.Float64() * sum
	for i, w := range weights {
		if r -= w; r <= 0 && w > 0 {
			return core.TokenID(i)
		}
		if w > 0 {
			best = i
		}
	}
	return core.TokenID(best)
}

// release returns the text of the complete characters of b, invalid
// bytes replaced by U+FFFD, and the bytes of a character still incomplete.
func release(b []byte) (string, []byte) {
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			if !utf8.FullRune(b) {
				break
			}
			sb.WriteRune(utf8.RuneError)
			b = b[1:]
			continue
		}
		sb.Write(b[:size])
		b = b[size:]
	}
	return sb.String(), append([]byte(nil), b...)
}

func send(events []core.Event) <-chan core.Event {
	ch := make(chan core.Event, len(events))
	for _, e := range events {
		ch <- e
	}
	close(ch)
	return ch
}
