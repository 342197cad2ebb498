package chat

import (
	"github.com/pensieve-llm/pensieve/model/gguf"
	"github.com/pensieve-llm/pensieve/model/tokenizer"
)

// GGUF metadata keys of chat templates (spec §4.1).
const (
	KeyTemplate        = "tokenizer.chat_template"
	KeyToolUseTemplate = "tokenizer.chat_template.tool_use"
)

// FromGGUF returns the chat template of a GGUF file: its
// tokenizer.chat_template (with the tokenizer.chat_template.tool_use
// variant for requests with tools, when present), or the built-in template
// Detect picks when the file has none. bos_token and eos_token are the
// texts of the vocabulary's BOS and EOS tokens. opts are applied after
// those, so WithSpecialTokens overrides them. A template the engine cannot
// parse is a core.KindInvalid error.
func FromGGUF(f *gguf.File, opts ...Option) (*Template, error) {
	tokens, _ := f.Strings(tokenizer.KeyTokens)
	model, _ := f.String(tokenizer.KeyModel)
	var bos, eos string
	if v, err := tokenizer.ReadVocab(f); err == nil {
		if v.BOS >= 0 && int(v.BOS) < len(v.Tokens) {
			bos = v.Tokens[v.BOS]
		}
		if v.EOS >= 0 && int(v.EOS) < len(v.Tokens) {
			eos = v.Tokens[v.EOS]
		}
	}
	all := append([]Option{WithSpecialTokens(bos, eos)}, opts...)
	if src, ok := f.String(KeyTemplate); ok && src != "" {
		if tu, ok := f.String(KeyToolUseTemplate); ok && tu != "" {
			all = append(all, WithToolUse(tu))
		}
		return New("gguf", src, all...)
	}
	return Builtin(Detect(f.Architecture(), model, tokens), all...)
}
