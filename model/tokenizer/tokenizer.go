// Package tokenizer implements core.Tokenizer for GGUF vocabularies the way
// llama.cpp tokenizes them (spec §4, llama.cpp/src/llama-vocab.cpp):
// byte-level BPE ("gpt2", package bpe, with the pre-tokenizers of package
// pretok) and SentencePiece BPE by score ("llama", package spm), special-token
// partitioning, BOS/EOS/EOG sets, and a streaming detokenizer (Stream) that
// only emits complete UTF-8.
package tokenizer

import (
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/tokenizer/bpe"
	"github.com/pensieve-llm/pensieve/model/tokenizer/pretok"
	"github.com/pensieve-llm/pensieve/model/tokenizer/spm"
)

// Tokenizer implements core.Tokenizer for one vocabulary. It is immutable
// after New and safe for concurrent use.
type Tokenizer struct {
	model          string
	tokens         []string
	types          []TokenType
	ids            map[string]core.TokenID
	vocab          core.Vocab
	addSpacePrefix bool

	bpe *bpe.Model
	pre *pretok.Pretokenizer
	spm *spm.Model

	specials specialIndex
	lstrip   map[core.TokenID]bool
	rstrip   map[core.TokenID]bool

	pieces   []byte  // decoded bytes of every token, concatenated
	pieceOff []int32 // token i decodes to pieces[pieceOff[i]:pieceOff[i+1]]
}

var _ core.Tokenizer = (*Tokenizer)(nil)

type options struct {
	log *zap.Logger
}

// Option configures New and FromGGUF.
type Option func(*options)

// WithLogger sets the logger for load-time warnings (a defaulted pre-tokenizer,
// an out-of-range special id). The default discards all output.
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.log = l } }

func buildOptions(opts []Option) options {
	o := options{log: zap.NewNop()}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// New builds a tokenizer from plain vocabulary data. It fails with
// core.KindInvalid on an unsupported model or pre-tokenizer, on duplicate or
// empty token texts, and on per-token arrays of the wrong length.
func New(v Vocab, opts ...Option) (*Tokenizer, error) {
	const op = "tokenizer.New"
	o := buildOptions(opts)
	n := len(v.Tokens)
	if n == 0 {
		return nil, core.Errorf(core.KindInvalid, op, "empty vocabulary")
	}
	if n > 1<<30 {
		return nil, core.Errorf(core.KindInvalid, op, "vocabulary of %d tokens is too large", n)
	}
	if v.Scores != nil && len(v.Scores) != n {
		return nil, core.Errorf(core.KindInvalid, op, "%d scores for %d tokens", len(v.Scores), n)
	}
	if v.Types != nil && len(v.Types) != n {
		return nil, core.Errorf(core.KindInvalid, op, "%d token types for %d tokens", len(v.Types), n)
	}
	ids := make(map[string]core.TokenID, n)
	for i, t := range v.Tokens {
		if t == "" {
			return nil, core.Errorf(core.KindInvalid, op, "token %d has empty text", i)
		}
		if j, dup := ids[t]; dup {
			return nil, core.Errorf(core.KindInvalid, op, "token %q has ids %d and %d", t, j, i)
		}
		ids[t] = core.TokenID(i)
	}
	t := &Tokenizer{model: v.Model, tokens: v.Tokens, ids: ids, addSpacePrefix: v.AddSpacePrefix}
	var err error
	switch v.Model {
	case ModelBPE:
		if v.Pre == "" {
			o.log.Warn("missing pre-tokenizer type, using default")
		}
		if t.pre, err = pretok.Lookup(v.Pre); err != nil {
			return nil, core.E(core.KindInvalid, op, err)
		}
		if t.bpe, err = bpe.New(v.Tokens, ids, v.Merges, t.pre.IgnoreMerges()); err != nil {
			return nil, core.E(core.KindInvalid, op, err)
		}
		t.addSpacePrefix = false
	case ModelSPM:
		scores := v.Scores
		if scores == nil {
			scores = make([]float32, n)
		}
		unk := v.UNK
		if !validID(unk, n) {
			unk = core.NoToken
		}
		if t.spm, err = spm.New(ids, scores, unk); err != nil {
			return nil, core.E(core.KindInvalid, op, err)
		}
	default:
		return nil, core.Errorf(core.KindInvalid, op, "unsupported tokenizer model %q", v.Model)
	}

	var eog []core.TokenID
	t.types, eog = resolveTypes(&v, ids)
	t.vocab = core.Vocab{Size: n, BOS: core.NoToken, EOS: core.NoToken, EOG: eog, AddBOS: v.AddBOS, AddEOS: v.AddEOS}
	if validID(v.BOS, n) {
		t.vocab.BOS = v.BOS
	}
	if validID(v.EOS, n) {
		t.vocab.EOS = v.EOS
	}
	if t.vocab.AddBOS && t.vocab.BOS == core.NoToken {
		return nil, core.Errorf(core.KindInvalid, op, "add_bos is set but the vocabulary has no BOS token")
	}
	if t.vocab.AddEOS && t.vocab.EOS == core.NoToken {
		return nil, core.Errorf(core.KindInvalid, op, "add_eos is set but the vocabulary has no EOS token")
	}
	t.lstrip, t.rstrip = idSet(v.LStrip, n), idSet(v.RStrip, n)
	t.specials = newSpecialIndex(t.tokens, t.types)
	t.buildPieces()
	return t, nil
}

func idSet(ids []core.TokenID, n int) map[core.TokenID]bool {
	m := map[core.TokenID]bool{}
	for _, id := range ids {
		if validID(id, n) {
			m[id] = true
		}
	}
	return m
}

// Vocab returns the vocabulary's size and special tokens.
func (t *Tokenizer) Vocab() core.Vocab { return t.vocab }

// Model returns the algorithm, ModelBPE or ModelSPM.
func (t *Tokenizer) Model() string { return t.model }

// Token returns the stored text of id ("" when out of range).
func (t *Tokenizer) Token(id core.TokenID) string {
	if !validID(id, len(t.tokens)) {
		return ""
	}
	return t.tokens[id]
}

// Type returns the type of id after llama.cpp's fix-ups (end-of-generation
// texts are control tokens), or TypeUndefined when out of range.
func (t *Tokenizer) Type(id core.TokenID) TokenType {
	if !validID(id, len(t.tokens)) {
		return TypeUndefined
	}
	return t.types[id]
}

// ID returns the id of the token whose stored text is text.
func (t *Tokenizer) ID(text string) (core.TokenID, bool) {
	id, ok := t.ids[text]
	return id, ok
}

// AddSpacePrefix reports whether encoding prefixes raw text with a space
// (SPM), so that decoding a whole text should drop the first space.
func (t *Tokenizer) AddSpacePrefix() bool { return t.addSpacePrefix }

// Encode appends the tokens of text to dst. It adds no BOS or EOS. With
// special, control-token texts become their ids; user-defined tokens are
// split out either way (spec §4.3). Encode never fails on valid vocabularies;
// invalid UTF-8 is tokenized byte by byte.
func (t *Tokenizer) Encode(dst []core.TokenID, text string, special bool) ([]core.TokenID, error) {
	frags := t.partition(text, special)
	prevSpecial := true // SPM prefixes the first raw fragment with a space
	var sp *splitState
	if t.bpe != nil {
		sp = splitPool.Get().(*splitState)
		defer func() {
			clear(sp.words) // do not keep text alive from the pool
			splitPool.Put(sp)
		}()
	}
	for _, f := range frags {
		if f.tok != core.NoToken {
			dst = append(dst, f.tok)
			prevSpecial = true
			continue
		}
		raw := text[f.lo:f.hi]
		switch {
		case t.bpe != nil:
			sp.words = sp.Split(t.pre, sp.words[:0], raw)
			for _, w := range sp.words {
				dst = t.bpe.Encode(dst, w)
			}
		default:
			if t.addSpacePrefix && prevSpecial {
				raw = " " + raw
			}
			dst = t.spm.Encode(dst, strings.ReplaceAll(raw, " ", "\u2581"))
		}
		prevSpecial = false
	}
	return dst, nil
}

// splitState is the pooled pre-tokenizer scratch of one Encode call.
type splitState struct {
	pretok.Splitter
	words []string
}

var splitPool = sync.Pool{New: func() any { return new(splitState) }}

// Decode appends the bytes of id to dst: a normal token's text with the
// byte-level mapping (BPE) or U+2581 (SPM) undone, a byte token's byte, and
// the stored text of control, user-defined and unknown tokens (as llama.cpp's
// token_to_piece with special rendering). Unused and undefined tokens and ids
// out of range append nothing.
func (t *Tokenizer) Decode(dst []byte, id core.TokenID) []byte {
	if !validID(id, len(t.tokens)) {
		return dst
	}
	return append(dst, t.pieces[t.pieceOff[id]:t.pieceOff[id+1]]...)
}

// Detokenize decodes a whole sequence into text. For SPM vocabularies with
// add_space_prefix it drops the space the encoder added before the first
// token, as llama.cpp's detokenizer does.
func (t *Tokenizer) Detokenize(ids []core.TokenID) []byte {
	var out []byte
	for i, id := range ids {
		n := len(out)
		out = t.Decode(out, id)
		if i == 0 && t.addSpacePrefix && len(out) > n && out[n] == ' ' {
			out = append(out[:n], out[n+1:]...)
		}
	}
	return out
}

func (t *Tokenizer) buildPieces() {
	t.pieceOff = make([]int32, len(t.tokens)+1)
	var pieces []byte
	for i, text := range t.tokens {
		switch ty := t.types[i]; {
		case isSpecial(ty):
			pieces = append(pieces, text...)
		case ty == TypeNormal && t.bpe != nil:
			pieces = bpe.AppendDecoded(pieces, text)
		case ty == TypeNormal:
			pieces = append(pieces, strings.ReplaceAll(text, "\u2581", " ")...)
		case ty == TypeByte:
			if b, ok := parseByteToken(text); ok {
				pieces = append(pieces, b)
			}
		}
		t.pieceOff[i+1] = int32(len(pieces))
	}
	t.pieces = pieces
}

// parseByteToken parses "<0xXX>".
func parseByteToken(s string) (byte, bool) {
	if len(s) != 6 || s[:3] != "<0x" || s[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexVal(s[3])
	lo, ok2 := hexVal(s[4])
	return hi<<4 | lo, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
