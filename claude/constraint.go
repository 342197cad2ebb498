package claude

import (
	"bytes"
	"math"
	"unicode/utf8"

	"github.com/pensieve-llm/pensieve/claude/internal/jsonmatch"
	"github.com/pensieve-llm/pensieve/core"
)

// vocabIndex holds every token's bytes and class, computed once per
// tokenizer (a Profile builds it on first use). It is read-only after
// construction and shared by all constraints of a model.
type vocabIndex struct {
	bytes    [][]byte            // by id: the decoded bytes
	eog      []bool              // by id: ends a generation
	eogIDs   []core.TokenID      // the EOG ids
	byFirst  [256][]core.TokenID // usable ids by first byte
	plain    []core.TokenID      // usable ids of plain string characters
	nonPlain []core.TokenID      // usable ids that are not plain
	nchars   []int32             // by id: characters of a plain token
}

// newVocabIndex decodes every token of tok once. Tokens that decode to
// nothing and end-of-generation tokens are never "usable": a constraint
// must make progress and must not let the generation end early.
func newVocabIndex(tok core.Tokenizer) *vocabIndex {
	v := tok.Vocab()
	vi := &vocabIndex{
		bytes:  make([][]byte, v.Size),
		eog:    make([]bool, v.Size),
		nchars: make([]int32, v.Size),
	}
	for _, id := range v.EOG {
		if id >= 0 && int(id) < v.Size {
			vi.eog[id] = true
			vi.eogIDs = append(vi.eogIDs, id)
		}
	}
	for id := range v.Size {
		b := tok.Decode(nil, core.TokenID(id))
		vi.bytes[id] = b
		if len(b) == 0 || vi.eog[id] {
			continue
		}
		tid := core.TokenID(id)
		vi.byFirst[b[0]] = append(vi.byFirst[b[0]], tid)
		if isPlainString(b) {
			vi.plain = append(vi.plain, tid)
			vi.nchars[id] = int32(utf8.RuneCount(b))
		} else {
			vi.nonPlain = append(vi.nonPlain, tid)
		}
	}
	return vi
}

// isPlainString reports whether b can sit inside a JSON string as is.
func isPlainString(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return utf8.Valid(b)
}

func (vi *vocabIndex) tokenBytes(id core.TokenID) []byte {
	if id < 0 || int(id) >= len(vi.bytes) {
		return nil
	}
	return vi.bytes[id]
}

// maskTo sets every logit not in allowed to -Inf.
func maskTo(logits []float32, allowed []bool) {
	inf := float32(math.Inf(-1))
	for i := range logits {
		if i >= len(allowed) || !allowed[i] {
			logits[i] = inf
		}
	}
}

// jsonConstraint restricts generated text to a jsonmatch grammar: a tool
// call wrapper with a schema-valid input, or a JSON document for
// output_config.format. It finishes within maxTokens whenever the grammar
// allows it: a token is allowed only if the shortest completion after it
// still fits the tokens left.
type jsonConstraint struct {
	vi        *vocabIndex
	prog      *jsonmatch.Program
	maxTokens int    // generated tokens allowed in total; ≤ 0: no budget
	lead      []byte // bytes before the first token (after a thinking block)

	m, tmp, tmp2 *jsonmatch.Matcher
	consumed     int
	allowed      []bool
}

func newJSONConstraint(vi *vocabIndex, prog *jsonmatch.Program, maxTokens int) *jsonConstraint {
	return &jsonConstraint{vi: vi, prog: prog, maxTokens: maxTokens,
		m: jsonmatch.NewMatcher(prog), tmp: jsonmatch.NewMatcher(prog), tmp2: jsonmatch.NewMatcher(prog),
		allowed: make([]bool, len(vi.bytes))}
}

// reset returns to the start (after the lead bytes).
func (c *jsonConstraint) reset() error {
	c.m = jsonmatch.NewMatcher(c.prog)
	c.consumed = 0
	if !c.m.FeedBytes(c.lead) {
		return core.Errorf(core.KindInternal, "claude.constraint", "text %q cannot start the constrained output", c.lead)
	}
	return nil
}

// sync feeds the tokens generated since the last call.
func (c *jsonConstraint) sync(generated []core.TokenID) error {
	if len(generated) < c.consumed {
		if err := c.reset(); err != nil {
			return err
		}
	}
	for ; c.consumed < len(generated); c.consumed++ {
		id := generated[c.consumed]
		if !c.m.FeedBytes(c.vi.tokenBytes(id)) {
			return core.Errorf(core.KindInternal, "claude.constraint",
				"token %d (%q) at %d breaks the constrained output", id, c.vi.tokenBytes(id), c.consumed)
		}
	}
	return nil
}

// Mask implements core.Constraint.
func (c *jsonConstraint) Mask(generated []core.TokenID, logits []float32) error {
	if err := c.sync(generated); err != nil {
		return err
	}
	clear(c.allowed)
	if c.m.Done() {
		for _, id := range c.vi.eogIDs {
			c.allowed[id] = true
		}
		if len(c.vi.eogIDs) > 0 {
			maskTo(logits, c.allowed)
		}
		return nil
	}
	budget := -1
	if c.maxTokens > 0 {
		budget = max(0, c.maxTokens-len(generated)-1)
	}
	if c.mark(budget) == 0 && (budget < 0 || c.mark(-1) == 0) {
		return core.Errorf(core.KindInternal, "claude.constraint", "no token of the vocabulary continues the constrained output")
	}
	maskTo(logits, c.allowed)
	return nil
}

// Done implements core.Constraint.
func (c *jsonConstraint) Done(generated []core.TokenID) bool {
	if c.sync(generated) != nil {
		return false
	}
	return c.m.Done()
}

// mark sets allowed for every token that keeps the output valid and whose
// shortest completion fits budget more tokens (budget < 0: unbounded). It
// returns the number of allowed tokens.
func (c *jsonConstraint) mark(budget int) int {
	n := 0
	fits := func(cost int) bool { return budget < 0 || cost <= budget }
	try := func(from *jsonmatch.Matcher, id core.TokenID, skip int) {
		c.tmp2.CopyFrom(from)
		if c.tmp2.FeedBytes(c.vi.bytes[id][skip:]) && fits(c.tmp2.MinRemaining()) {
			c.allowed[id] = true
			n++
		}
	}
	if p, ok := c.m.PlainString(); ok {
		// Inside a string most of the vocabulary is acceptable as is.
		for _, id := range c.vi.plain {
			if ch := int(c.vi.nchars[id]); (p.Room < 0 || ch <= p.Room) && fits(p.CostAfter(ch)) {
				c.allowed[id] = true
				n++
			}
		}
		for _, id := range c.vi.nonPlain {
			try(c.m, id, 0)
		}
		return n
	}
	for b := range 256 {
		ids := c.vi.byFirst[b]
		if len(ids) == 0 {
			continue
		}
		c.tmp.CopyFrom(c.m)
		if !c.tmp.Feed(byte(b)) {
			continue
		}
		for _, id := range ids {
			try(c.tmp, id, 1)
		}
	}
	return n
}

// think phases
const (
	thinkWatch  = iota // before any output: an open tag may start thinking
	thinkOpen          // forcing the open tag
	thinkInside        // thinking; the close tag ends it
	thinkClose         // forcing the close tag (budget spent)
	thinkAfter         // thinking is over
)

// thinkConstraint enforces thinking.budget_tokens (§3.5): once the
// thinking block has used budget tokens, only the tokens that spell its
// close tag are allowed. With an inner JSON constraint it first forces the
// open tag (unless the prompt already opened the block) and hands the
// output after the close tag to the inner constraint.
type thinkConstraint struct {
	vi          *vocabIndex
	open, close []byte
	startInside bool // the prompt ends with the open tag
	budget      int  // thinking tokens allowed; < 0: unbounded
	maxTokens   int  // all generated tokens allowed; ≤ 0: no budget
	inner       *jsonConstraint
	innerFresh  bool // the block just closed: reset inner before use

	phase    int
	pos      int // bytes of the open or close tag matched
	thinking int // tokens spent inside
	after    int // index of the first token after the block
	consumed int
	allowed  []bool
}

func newThinkConstraint(vi *vocabIndex, open, close string, startInside bool, budget, maxTokens int, inner *jsonConstraint) *thinkConstraint {
	c := &thinkConstraint{vi: vi, open: []byte(open), close: []byte(close), startInside: startInside,
		budget: budget, maxTokens: maxTokens, inner: inner, allowed: make([]bool, len(vi.bytes))}
	c.reset()
	return c
}

func (c *thinkConstraint) reset() {
	c.phase, c.pos, c.thinking, c.after, c.consumed = thinkWatch, 0, 0, 0, 0
	switch {
	case c.startInside:
		c.phase = thinkInside
	case c.inner != nil:
		c.phase = thinkOpen
	}
}

func (c *thinkConstraint) sync(generated []core.TokenID) {
	if len(generated) < c.consumed {
		c.reset()
	}
	for ; c.consumed < len(generated); c.consumed++ {
		c.feed(c.vi.tokenBytes(generated[c.consumed]))
	}
}

// feed advances over one token's bytes.
func (c *thinkConstraint) feed(tok []byte) {
	switch c.phase {
	case thinkWatch, thinkOpen:
		for i, b := range tok {
			if c.pos == 0 && c.phase == thinkWatch && isSpaceByte(b) {
				continue
			}
			if c.open[c.pos] != b {
				c.phase = thinkAfter // no thinking block: the rest is output
				c.after = c.consumed
				return
			}
			c.pos++
			if c.pos == len(c.open) {
				c.phase, c.pos = thinkInside, 0
				c.feedInside(tok[i+1:], true)
				return
			}
		}
	case thinkInside, thinkClose:
		c.feedInside(tok, false)
	}
}

// feedInside scans thinking text for the close tag; partial is true for
// the rest of the token that opened the block (not counted as a token).
func (c *thinkConstraint) feedInside(b []byte, partial bool) {
	if !partial {
		c.thinking++
	}
	for i, x := range b {
		switch {
		case x == c.close[c.pos]:
			c.pos++
		case x == c.close[0]:
			c.pos = 1
		default:
			c.pos = 0
		}
		if c.pos == len(c.close) {
			c.phase, c.pos = thinkAfter, 0
			c.after = c.consumed + 1
			if c.inner != nil {
				c.inner.lead = bytes.TrimLeft(b[i+1:], " \t\r\n")
				c.innerFresh = true
			}
			return
		}
	}
}

func isSpaceByte(b byte) bool { return b == ' ' || b == '\n' || b == '\t' || b == '\r' }

// Mask implements core.Constraint.
func (c *thinkConstraint) Mask(generated []core.TokenID, logits []float32) error {
	c.sync(generated)
	if c.phase == thinkInside && c.budget >= 0 && c.thinking >= c.budget {
		c.phase = thinkClose
	}
	switch c.phase {
	case thinkOpen:
		return c.force(c.open[c.pos:], false, logits)
	case thinkClose:
		return c.force(c.close[c.pos:], c.inner == nil, logits)
	case thinkAfter:
		if c.inner != nil {
			view, err := c.innerView(generated)
			if err != nil {
				return err
			}
			return c.inner.Mask(view, logits)
		}
	}
	return nil
}

// innerView returns the tokens the inner constraint sees: those after the
// thinking block. The first call after the block closed resets the inner
// constraint with the bytes that followed the close tag in its token, and
// gives it the tokens the thinking left.
func (c *thinkConstraint) innerView(generated []core.TokenID) ([]core.TokenID, error) {
	if c.innerFresh {
		c.innerFresh = false
		if c.maxTokens > 0 {
			c.inner.maxTokens = max(1, c.maxTokens-c.after)
		}
		if err := c.inner.reset(); err != nil {
			return nil, err
		}
	}
	return generated[c.after:], nil
}

// force allows only the tokens that spell a prefix of rest, or (when more
// is true) rest followed by anything.
func (c *thinkConstraint) force(rest []byte, more bool, logits []float32) error {
	clear(c.allowed)
	n := 0
	for _, id := range c.vi.byFirst[rest[0]] {
		b := c.vi.bytes[id]
		if bytes.HasPrefix(rest, b) || more && bytes.HasPrefix(b, rest) {
			c.allowed[id] = true
			n++
		}
	}
	if n == 0 {
		return core.Errorf(core.KindInternal, "claude.constraint", "no token spells %q", rest)
	}
	maskTo(logits, c.allowed)
	return nil
}

// Done implements core.Constraint.
func (c *thinkConstraint) Done(generated []core.TokenID) bool {
	c.sync(generated)
	if c.phase != thinkAfter || c.inner == nil {
		return false
	}
	view, err := c.innerView(generated)
	return err == nil && c.inner.Done(view)
}
