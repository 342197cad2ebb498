package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/engine/sample"
)

const opGenerate = "engine.Generate"

// scheduler owns the batch loop, the KV cache and every sequence. It runs
// on one goroutine; the rest of the engine talks to it through e.submit,
// e.drain, e.abort and each request's mailbox.
type scheduler struct {
	e       *Engine
	model   core.Model
	tok     core.Tokenizer
	vocab   core.Vocab
	nVocab  int // rows of the logits
	slots   *slotTable
	waiting []*request  // accepted, waiting for a slot, in arrival order
	active  []*sequence // holding a slot
	turn    int         // rotates who goes first in the batch, for fairness

	batch   core.Batch
	parts   []part             // the sequences of batch, in batch order
	logits  []float32          // (slots, nVocab) output rows of one forward pass
	scratch []sample.Candidate // (≤ nVocab,) sampler working storage
	piece   []byte             // decoded bytes of one token
}

// part is one sequence's share of a batch: n consecutive entries, the
// last of which asks for logits when wantLogits is set.
type part struct {
	q          *sequence
	n          int
	wantLogits bool
}

func (s *scheduler) run() {
	defer s.e.wg.Done()
	for s.intake() {
		s.reap()
		s.admit()
		s.step()
	}
	s.shutdown()
}

// intake moves submitted requests to the waiting list, blocking while the
// engine is idle. It returns false when the scheduler must stop: on abort,
// or on drain once no work is left.
func (s *scheduler) intake() bool {
	e := s.e
	if len(s.active) == 0 && len(s.waiting) == 0 {
		select {
		case r := <-e.submit:
			s.waiting = append(s.waiting, r)
		case <-e.drain:
			// Close waited for every Generate in flight, so all submitted
			// requests are in the channel by now.
			select {
			case r := <-e.submit:
				s.waiting = append(s.waiting, r)
			default:
				return false
			}
		case <-e.abort:
			return false
		}
	}
	for {
		select {
		case r := <-e.submit:
			s.waiting = append(s.waiting, r)
			continue
		case <-e.abort:
			return false
		default:
		}
		return true
	}
}

// reap ends every request whose context is done, waiting or running. It
// runs before each step, so a canceled request costs at most the step in
// flight when it was canceled.
func (s *scheduler) reap() {
	s.waiting = slices.DeleteFunc(s.waiting, func(r *request) bool {
		if r.ctx.Err() == nil {
			return false
		}
		s.e.queued.Add(-1)
		s.e.log.Debug("request canceled while queued")
		r.finish(core.Event{Err: core.E(core.KindCanceled, opGenerate, r.ctx.Err())})
		return true
	})
	for _, q := range s.active {
		if err := q.r.ctx.Err(); err != nil {
			s.e.log.Debug("request canceled", zap.Int("slot", int(q.slot)), zap.Int("generated_tokens", len(q.generated())))
			s.end(q, core.Event{Err: core.E(core.KindCanceled, opGenerate, err)})
		}
	}
	s.compact()
}

// admit gives free slots to waiting requests in arrival order, starting
// each from the longest prefix of its prompt found in the cache.
func (s *scheduler) admit() {
	for len(s.waiting) > 0 {
		r := s.waiting[0]
		p, ok := s.slots.plan(r.req.Prompt)
		if !ok {
			return
		}
		s.waiting = s.waiting[1:]
		s.e.queued.Add(-1)
		q := &sequence{
			r:       r,
			slot:    p.id,
			tokens:  make([]core.TokenID, len(r.req.Prompt), len(r.req.Prompt)+r.req.MaxTokens),
			nPrompt: len(r.req.Prompt),
			sampler: sample.New(r.req.Sampling),
			text:    newTextStream(r.req.Stop),
		}
		copy(q.tokens, r.req.Prompt)
		reuse, err := s.slots.acquire(p, q)
		if err != nil {
			s.slots.release(p.id, nil)
			r.finish(core.Event{Err: core.E(core.KindInternal, opGenerate, fmt.Errorf("preparing KV slot: %w", err))})
			continue
		}
		q.nPast, q.cached = reuse, reuse
		s.active = append(s.active, q)
		s.e.active.Add(1)
		s.e.requests.Add(1)
		s.e.promptTokens.Add(uint64(q.nPrompt))
		s.e.cachedTokens.Add(uint64(reuse))
		s.e.log.Debug("request admitted", zap.Int("slot", int(p.id)), zap.Int("prompt_tokens", q.nPrompt),
			zap.Int("cached_tokens", reuse), zap.Bool("copied", p.from >= 0 && reuse > 0))
	}
}

// step runs one forward pass over a batch that gives every decoding
// sequence its next token and shares the rest of the budget among
// prefilling sequences in chunks, then samples for every sequence whose
// logits came back.
func (s *scheduler) step() {
	s.plan()
	if s.batch.Len() == 0 {
		return
	}
	logits := s.logits[:s.batch.Outputs()*s.nVocab]
	start := time.Now()
	ctx, release := s.stepContext()
	err := s.model.Forward(ctx, s.slots.cache, &s.batch, logits)
	release()
	if err != nil {
		s.failBatch(err)
		return
	}
	row, sampled := 0, 0
	for _, p := range s.parts {
		p.q.nPast += p.n
		if p.wantLogits {
			s.accept(p.q, logits[row*s.nVocab:(row+1)*s.nVocab])
			row++
			sampled++
		}
	}
	s.compact()
	s.e.rate.add(time.Now(), sampled)
	if ce := s.e.log.Check(zap.DebugLevel, "step"); ce != nil {
		ce.Write(zap.Int("batch_tokens", s.batch.Len()), zap.Int("sequences", len(s.parts)), zap.Duration("elapsed", time.Since(start)))
	}
}

// stepContext returns the context of one forward pass and its release
// function. It ends when the engine aborts or when every request in the
// batch has been canceled, so a long prefill chunk whose clients all left
// stops at the model's next cancellation check instead of running to the
// end of the pass.
func (s *scheduler) stepContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(s.e.forwardCtx)
	var live atomic.Int32
	live.Store(int32(len(s.parts)))
	stops := make([]func() bool, len(s.parts))
	for i, p := range s.parts {
		stops[i] = context.AfterFunc(p.q.r.ctx, func() {
			if live.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

// plan fills s.batch and s.parts. Decode tokens go first so running
// generations advance on every step; the remaining budget goes to prompt
// chunks. The starting sequence rotates each step, so when the budget is
// short every sequence gets its turn.
func (s *scheduler) plan() {
	s.batch.Reset()
	s.parts = s.parts[:0]
	budget := s.e.opts.batchSize
	n := len(s.active)
	for i := 0; i < n && budget > 0; i++ {
		if q := s.active[(s.turn+i)%n]; q.decoding() {
			s.add(q, 1)
			budget--
		}
	}
	for i := 0; i < n && budget > 0; i++ {
		if q := s.active[(s.turn+i)%n]; !q.decoding() {
			k := min(len(q.pending()), s.e.opts.prefillChunk, budget)
			s.add(q, k)
			budget -= k
		}
	}
	s.turn++
}

// add appends the next k pending tokens of q to the batch; the last asks
// for logits when it is q's last pending token.
func (s *scheduler) add(q *sequence, k int) {
	last := q.nPast+k == len(q.tokens)
	for j := range k {
		pos := q.nPast + j
		s.batch.Add(q.tokens[pos], int32(pos), q.slot, last && j == k-1)
	}
	s.parts = append(s.parts, part{q: q, n: k, wantLogits: last})
}

// failBatch ends every sequence of a failed forward pass. Their slots'
// content is unspecified after the failure, so they are emptied.
func (s *scheduler) failBatch(err error) {
	aborted := false
	select {
	case <-s.e.abort:
		aborted = true
	default:
	}
	for _, p := range s.parts {
		q := p.q
		if q.done {
			continue
		}
		q.nPast = 0
		if terr := s.slots.cache.Truncate(q.slot, 0); terr != nil {
			err = errors.Join(err, terr)
		}
		ev := core.Event{Err: core.E(core.KindOf(err), opGenerate, fmt.Errorf("forward pass: %w", err))}
		if aborted {
			ev.Err = core.E(core.KindUnavailable, opGenerate, errors.New("engine closed"))
		}
		s.end(q, ev)
	}
	s.compact()
}

// accept takes the logits after q's last token: it applies the constraint,
// samples, releases text, and ends q when a limit is reached.
func (s *scheduler) accept(q *sequence, logits []float32) {
	req := &q.r.req
	if req.Constraint != nil {
		if err := req.Constraint.Mask(q.generated(), logits); err != nil {
			s.end(q, core.Event{Err: core.E(core.KindOf(err), opGenerate, fmt.Errorf("constraint: %w", err))})
			return
		}
	}
	tok, scratch, err := q.sampler.Sample(logits, s.scratch)
	s.scratch = scratch
	if err != nil {
		s.end(q, core.Event{Err: fmt.Errorf("engine: sampling after %d tokens: %w", len(q.generated()), err)})
		return
	}
	q.tokens = append(q.tokens, tok)
	s.e.generated.Add(1)

	ev := core.Event{Tokens: []core.TokenID{tok}}
	var last core.Event
	if !req.IgnoreEOS && s.isEOG(tok) {
		ev.Text, last.StopReason = q.text.flush(), core.StopEndTurn
	} else {
		s.piece = s.tok.Decode(s.piece[:0], tok)
		text, which := q.text.add(s.piece)
		ev.Text = text
		switch {
		case which >= 0:
			last.StopReason, last.StopSequence = core.StopSequence, req.Stop[which]
		case req.Constraint != nil && req.Constraint.Done(q.generated()):
			ev.Text += q.text.flush()
			last.StopReason = core.StopEndTurn
		case len(q.generated()) >= req.MaxTokens:
			ev.Text += q.text.flush()
			last.StopReason = core.StopMaxTokens
		}
	}
	ev.Usage = q.usage()
	q.r.post(ev)
	if last.StopReason != "" {
		last.Usage = ev.Usage
		s.e.log.Debug("request finished", zap.String("stop_reason", string(last.StopReason)),
			zap.Int("generated_tokens", ev.Usage.GeneratedTokens))
		s.end(q, last)
	}
}

func (s *scheduler) isEOG(tok core.TokenID) bool {
	return s.vocab.IsEOG(tok) || (s.vocab.EOS != core.NoToken && tok == s.vocab.EOS)
}

// end posts q's last event and returns its slot to the prefix cache with
// the tokens it evaluated. The caller compacts s.active.
func (s *scheduler) end(q *sequence, last core.Event) {
	last.Usage = q.usage()
	q.done = true
	s.slots.release(q.slot, q.tokens[:q.nPast])
	s.e.active.Add(-1)
	q.r.finish(last)
}

func (s *scheduler) compact() {
	s.active = slices.DeleteFunc(s.active, func(q *sequence) bool { return q.done })
}

// shutdown ends everything still queued or running when the engine stops.
func (s *scheduler) shutdown() {
	closed := core.E(core.KindUnavailable, opGenerate, errors.New("engine closed"))
	for _, q := range s.active {
		s.end(q, core.Event{Err: closed})
	}
	s.active = nil
	for {
		select {
		case r := <-s.e.submit:
			s.waiting = append(s.waiting, r)
			continue
		default:
		}
		break
	}
	for _, r := range s.waiting {
		s.e.queued.Add(-1)
		r.finish(core.Event{Err: closed})
	}
	s.waiting = nil
}
