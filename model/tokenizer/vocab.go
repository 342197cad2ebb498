package tokenizer

import (
	"sort"

	"github.com/pensieve-llm/pensieve/core"
)

// TokenType is a token's kind, as stored in tokenizer.ggml.token_type
// (llama.cpp/include/llama.h).
type TokenType int32

// Token types.
const (
	TypeUndefined   TokenType = 0
	TypeNormal      TokenType = 1
	TypeUnknown     TokenType = 2
	TypeControl     TokenType = 3 // special tokens such as <|eot_id|>; split out only with special parsing
	TypeUserDefined TokenType = 4 // added tokens that are always split out
	TypeUnused      TokenType = 5
	TypeByte        TokenType = 6 // SentencePiece byte fallback <0xXX>
)

// Tokenizer algorithms, the values of tokenizer.ggml.model.
const (
	ModelBPE = "gpt2"  // byte-level BPE with a pre-tokenizer
	ModelSPM = "llama" // SentencePiece BPE by score with byte fallback
)

// Vocab is the plain data a Tokenizer is built from: what a GGUF file's
// tokenizer.* keys hold, with llama.cpp's defaults already applied (FromGGUF
// does that). Special ids are core.NoToken when absent; note that the zero
// TokenID is a valid token, so set every id field explicitly.
type Vocab struct {
	Model  string      // ModelBPE or ModelSPM
	Pre    string      // pre-tokenizer name (BPE only); "" means "default"
	Tokens []string    // token texts; distinct and non-empty
	Scores []float32   // per-token scores (SPM merges by them); nil means all zero
	Types  []TokenType // per-token types; nil means all TypeNormal
	Merges []string    // BPE merges "left right", lowest rank first

	BOS, EOS core.TokenID // beginning/end of sequence
	EOT, EOM core.TokenID // end of turn / end of message (end generation too)
	UNK      core.TokenID // unknown token (SPM falls back to it when a byte token is missing)
	// ExtraEOG lists further ids that end a generation (e.g. the FIM pad,
	// repo and separator tokens).
	ExtraEOG []core.TokenID

	AddBOS, AddEOS bool // conventionally add BOS / EOS around encoded prompts
	AddSpacePrefix bool // SPM: prefix raw text with a space (spec §4.4)

	// LStrip and RStrip list special tokens that absorb the whitespace to
	// their left or right when split out (llama.cpp sets these per model;
	// they are not stored in GGUF).
	LStrip, RStrip []core.TokenID
}

// eogTexts are token texts that end a generation whatever the metadata
// says; such tokens are also forced to TypeControl (spec §4.2).
var eogTexts = map[string]bool{
	"<|eot_id|>": true, "<|im_end|>": true, "<|end|>": true, "<|return|>": true, "<|call|>": true,
	"<end_of_turn>": true, "<|endoftext|>": true, "<|eom_id|>": true, "<EOT>": true, "_<EOT>": true,
	"<|end_of_text|>": true, "<end_of_utterance>": true, "<｜end▁of▁sentence｜>": true,
}

// fimEOGTexts are the FIM pad, repo and file-separator tokens llama.cpp
// recognizes by text; they end generations too.
var fimEOGTexts = map[string]bool{
	"<|fim_pad|>": true, "<fim-pad>": true, "<fim_pad>": true, "<|fim_repo|>": true, "<|repo_name|>": true,
	"<fim-repo>": true, "<REPO>": true, "<reponame>": true, "<|file_sep|>": true,
}

// harmonyUserDefined are gpt-oss tokens llama.cpp always renders and always
// splits out, whatever their stored type.
var harmonyUserDefined = []string{"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"}

// validID reports whether id names a token of a vocabulary of n tokens.
func validID(id core.TokenID, n int) bool { return id >= 0 && int(id) < n }

// resolveTypes returns the token types after llama.cpp's fix-ups and the
// sorted end-of-generation set.
func resolveTypes(v *Vocab, ids map[string]core.TokenID) ([]TokenType, []core.TokenID) {
	n := len(v.Tokens)
	types := make([]TokenType, n)
	for i := range types {
		types[i] = TypeNormal
		if v.Types != nil {
			types[i] = v.Types[i]
		}
	}
	eog := map[core.TokenID]bool{}
	for _, id := range append([]core.TokenID{v.EOS, v.EOT, v.EOM}, v.ExtraEOG...) {
		if validID(id, n) {
			eog[id] = true
		}
	}
	for text := range fimEOGTexts {
		if id, ok := ids[text]; ok {
			eog[id] = true
			types[id] = TypeControl
		}
	}
	for text := range eogTexts {
		if id, ok := ids[text]; ok {
			eog[id] = true
			types[id] = TypeControl
		}
	}
	for _, text := range harmonyUserDefined {
		if id, ok := ids[text]; ok {
			types[id] = TypeUserDefined
		}
	}
	// gpt-oss ends turns with <|return|> and <|call|>; its <|end|> only
	// separates messages (llama.cpp's o200k_harmony workaround).
	ret, hasRet := ids["<|return|>"]
	call, hasCall := ids["<|call|>"]
	end, hasEnd := ids["<|end|>"]
	if hasRet && hasCall && hasEnd && eog[ret] && eog[call] {
		delete(eog, end)
		types[end] = TypeUserDefined
	}
	set := make([]core.TokenID, 0, len(eog))
	for id := range eog {
		set = append(set, id)
	}
	sort.Slice(set, func(i, j int) bool { return set[i] < set[j] })
	return types, set
}

// isSpecial reports whether tokens of type t take part in special-token
// partitioning (spec §4.3).
func isSpecial(t TokenType) bool {
	return t == TypeControl || t == TypeUserDefined || t == TypeUnknown
}
