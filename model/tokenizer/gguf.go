package tokenizer

import (
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/gguf"
	"github.com/pensieve-llm/pensieve/model/tokenizer/pretok"
)

// GGUF metadata keys of the tokenizer (spec §4.1).
const (
	KeyModel          = "tokenizer.ggml.model"
	KeyPre            = "tokenizer.ggml.pre"
	KeyTokens         = "tokenizer.ggml.tokens"
	KeyScores         = "tokenizer.ggml.scores"
	KeyTokenType      = "tokenizer.ggml.token_type"
	KeyMerges         = "tokenizer.ggml.merges"
	KeyBOS            = "tokenizer.ggml.bos_token_id"
	KeyEOS            = "tokenizer.ggml.eos_token_id"
	KeyEOT            = "tokenizer.ggml.eot_token_id"
	KeyEOM            = "tokenizer.ggml.eom_token_id"
	KeyUNK            = "tokenizer.ggml.unknown_token_id"
	KeyFIMPad         = "tokenizer.ggml.fim_pad_token_id"
	KeyFIMRep         = "tokenizer.ggml.fim_rep_token_id"
	KeyFIMSep         = "tokenizer.ggml.fim_sep_token_id"
	KeyAddBOS         = "tokenizer.ggml.add_bos_token"
	KeyAddEOS         = "tokenizer.ggml.add_eos_token"
	KeyAddSpacePrefix = "tokenizer.ggml.add_space_prefix"
)

// FromGGUF builds the tokenizer described by a GGUF file's tokenizer.*
// metadata. Models other than "gpt2" and "llama" (e.g. "bert", "t5") are a
// core.KindInvalid error.
func FromGGUF(f *gguf.File, opts ...Option) (*Tokenizer, error) {
	v, err := ReadVocab(f, opts...)
	if err != nil {
		return nil, err
	}
	return New(v, opts...)
}

// ReadVocab reads a GGUF file's tokenizer metadata into a Vocab, applying
// llama.cpp's defaults for absent keys (spec §4.2): for "llama" BOS 1, EOS
// 2, UNK 0, add_bos and add_space_prefix; for "gpt2" BOS = EOS = 11 and
// add_bos only for the Llama 3 family and Tekken. Special ids beyond the
// vocabulary are ignored with a warning.
func ReadVocab(f *gguf.File, opts ...Option) (Vocab, error) {
	const op = "tokenizer.ReadVocab"
	o := buildOptions(opts)
	var v Vocab
	model, ok := f.String(KeyModel)
	if !ok {
		return v, core.Errorf(core.KindInvalid, op, "missing %s", KeyModel)
	}
	tokens, ok := f.Strings(KeyTokens)
	if !ok || len(tokens) == 0 {
		return v, core.Errorf(core.KindInvalid, op, "missing or empty %s", KeyTokens)
	}
	n := len(tokens)
	v = Vocab{Model: model, Tokens: tokens, BOS: core.NoToken, EOS: core.NoToken, EOT: core.NoToken,
		EOM: core.NoToken, UNK: core.NoToken}
	copied := false
	for i, t := range tokens {
		if t == "" {
			if !copied { // the file's slice is shared; never modify it
				v.Tokens, copied = append([]string(nil), tokens...), true
			}
			v.Tokens[i] = "[EMPTY_" + strconv.Itoa(i) + "]"
			o.log.Warn("empty token text", zap.Int("id", i))
		}
	}

	switch model {
	case ModelSPM:
		v.BOS, v.EOS, v.UNK = 1, 2, 0
		v.AddBOS, v.AddSpacePrefix = true, true
	case ModelBPE:
		v.Pre, _ = f.String(KeyPre)
		pre, err := pretok.Lookup(v.Pre)
		if err != nil {
			return v, core.E(core.KindInvalid, op, err)
		}
		if v.Merges, ok = f.Strings(KeyMerges); !ok {
			return v, core.Errorf(core.KindInvalid, op, "missing %s", KeyMerges)
		}
		v.BOS, v.EOS = 11, 11
		v.AddBOS = pre.AddBOS()
		if v.Pre == "glm4" || v.Pre == "chatglm-bpe" {
			v.BOS = core.NoToken
		}
	default:
		return v, core.Errorf(core.KindInvalid, op, "unsupported tokenizer model %q", model)
	}

	if scores, ok := f.Float32s(KeyScores); ok {
		v.Scores = scores
	} else if iscores, ok := f.Int32s(KeyScores); ok {
		v.Scores = make([]float32, len(iscores))
		for i, s := range iscores {
			v.Scores[i] = float32(s)
		}
	}
	if v.Scores != nil && len(v.Scores) < n {
		return v, core.Errorf(core.KindInvalid, op, "%s has %d entries for %d tokens", KeyScores, len(v.Scores), n)
	}
	if v.Scores != nil {
		v.Scores = v.Scores[:n]
	}
	if types, ok := f.Int32s(KeyTokenType); ok {
		if len(types) < n {
			return v, core.Errorf(core.KindInvalid, op, "%s has %d entries for %d tokens", KeyTokenType, len(types), n)
		}
		v.Types = make([]TokenType, n)
		for i := range v.Types {
			v.Types[i] = TokenType(types[i])
		}
	} else if _, present := f.Get(KeyTokenType); present {
		return v, core.Errorf(core.KindInvalid, op, "%s is not an integer array", KeyTokenType)
	}

	for _, k := range []struct {
		key string
		id  *core.TokenID
	}{{KeyBOS, &v.BOS}, {KeyEOS, &v.EOS}, {KeyEOT, &v.EOT}, {KeyEOM, &v.EOM}, {KeyUNK, &v.UNK}} {
		if !validID(*k.id, n) {
			*k.id = core.NoToken
		}
		id, ok := f.Uint(k.key)
		if !ok {
			continue
		}
		if id >= uint64(n) {
			o.log.Warn("special token id out of range, keeping default", zap.String("key", k.key), zap.Uint64("id", id))
			continue
		}
		*k.id = core.TokenID(id)
	}
	for _, key := range []string{KeyFIMPad, KeyFIMRep, KeyFIMSep} {
		if id, ok := f.Uint(key); ok && id < uint64(n) {
			v.ExtraEOG = append(v.ExtraEOG, core.TokenID(id))
		}
	}
	if b, ok := f.Bool(KeyAddBOS); ok {
		v.AddBOS = b
	}
	if b, ok := f.Bool(KeyAddEOS); ok {
		v.AddEOS = b
	}
	if b, ok := f.Bool(KeyAddSpacePrefix); ok {
		v.AddSpacePrefix = b
	}
	if name, _ := f.String("general.name"); isPhi3(name) {
		v.RStrip = phi3RStrip(&v)
	}
	return v, nil
}

func isPhi3(name string) bool {
	name = strings.ToLower(name)
	return strings.Contains(name, "phi-3") || strings.Contains(name, "phi3")
}

// phi3RStrip reproduces llama.cpp's Phi-3 attributes: every special token
// and </s> absorb the whitespace after them, except <unk>, <s> and
// <|endoftext|>.
func phi3RStrip(v *Vocab) []core.TokenID {
	ids := make(map[string]core.TokenID, len(v.Tokens))
	for i, t := range v.Tokens {
		ids[t] = core.TokenID(i)
	}
	types, _ := resolveTypes(v, ids)
	keep := map[string]bool{"<unk>": true, "<s>": true, "<|endoftext|>": true}
	var out []core.TokenID
	for i, ty := range types {
		t := v.Tokens[i]
		if (isSpecial(ty) || t == "</s>") && !keep[t] {
			out = append(out, core.TokenID(i))
		}
	}
	return out
}
