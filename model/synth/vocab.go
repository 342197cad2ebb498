package synth

import (
	"strings"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/gguf"
)

// Llama 3 special tokens appended to the byte vocabulary, in id order from
// 256 (fixtures README).
var byteVocabSpecials = []string{"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}

// Token types (llama.h): normal and control.
const (
	tokenNormal  int32 = 1
	tokenControl int32 = 3
)

// llama3Template is a Llama 3 chat template: a header per message, the
// trimmed content, <|eot_id|>, and an assistant header when a generation
// prompt is wanted.
const llama3Template = "{{- bos_token }}" +
	"{%- for message in messages %}" +
	"{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}" +
	"{%- endfor %}" +
	"{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %}"

// byteToRune is GPT-2's byte-to-unicode mapping (spec §4.5): printable
// bytes map to themselves, the other 68 bytes in ascending order to U+0100,
// U+0101, ….
func byteToRune(b byte) rune {
	switch {
	case b >= 0x21 && b <= 0x7E, b >= 0xA1 && b <= 0xAC, b >= 0xAE:
		return rune(b)
	}
	n := 0
	for c := range int(b) {
		if !(c >= 0x21 && c <= 0x7E || c >= 0xA1 && c <= 0xAC || c >= 0xAE) {
			n++
		}
	}
	return rune(0x100 + n)
}

// byteVocab returns the tokenizer metadata of the 261-token byte vocabulary
// the fixtures use: token i < 256 is byte i, then the five Llama 3 specials.
func byteVocab() []entry {
	tokens := make([]string, 0, 256+len(byteVocabSpecials))
	types := make([]int32, 0, cap(tokens))
	for b := range 256 {
		tokens = append(tokens, string(byteToRune(byte(b))))
		types = append(types, tokenNormal)
	}
	for _, s := range byteVocabSpecials {
		tokens = append(tokens, s)
		types = append(types, tokenControl)
	}
	return []entry{
		{"tokenizer.ggml.model", "gpt2"},
		{"tokenizer.ggml.pre", "llama-bpe"},
		{"tokenizer.ggml.tokens", tokens},
		{"tokenizer.ggml.token_type", types},
		{"tokenizer.ggml.merges", []string{}},
		{"tokenizer.ggml.add_bos_token", true},
		{"tokenizer.ggml.bos_token_id", uint32(256)},
		{"tokenizer.ggml.eos_token_id", uint32(260)},
		{"tokenizer.chat_template", llama3Template},
	}
}

// entry is one metadata key and its Go value (a type gguf.ValueOf accepts,
// or a gguf.Value).
type entry struct {
	key string
	v   any
}

// vocabFrom copies every tokenizer.* entry of the GGUF file at path, types
// and order preserved, and returns them with the vocabulary size.
func vocabFrom(path string) ([]entry, int, error) {
	const op = "synth.Write"
	f, err := gguf.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	var out []entry
	for _, e := range f.KV {
		if strings.HasPrefix(e.Key, "tokenizer.") {
			out = append(out, entry{e.Key, e.Value})
		}
	}
	tokens, ok := f.Strings("tokenizer.ggml.tokens")
	if !ok || len(tokens) == 0 {
		return nil, 0, core.Errorf(core.KindInvalid, op, "%s: no tokenizer.ggml.tokens array", path)
	}
	return out, len(tokens), nil
}
