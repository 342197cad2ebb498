// Package testmodel provides test doubles for claude's tests and examples:
// the byte-level tokenizer of the fixture models (261 tokens), chat
// templates in the styles of Llama 3, Hermes/Qwen, Qwen3-Coder and
// Mistral, and generators that stream scripted text or random tokens.
package testmodel

import (
	"strings"

	"github.com/pensieve-llm/pensieve/core"
)

// The special tokens of the fixture vocabulary (../shared/fixtures).
const (
	BOS         core.TokenID = 256 // <|begin_of_text|>
	EOS         core.TokenID = 257 // <|end_of_text|>
	StartHeader core.TokenID = 258 // <|start_header_id|>
	EndHeader   core.TokenID = 259 // <|end_header_id|>
	EOT         core.TokenID = 260 // <|eot_id|>
)

var specials = []string{"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}

// ByteTokenizer is the fixture models' vocabulary: ids 0–255 are the bytes
// (GPT-2 byte order equals byte value there), 256–260 the special tokens.
// With special parsing on, the special texts encode as one token.
type ByteTokenizer struct{}

// Encode implements core.Tokenizer.
func (ByteTokenizer) Encode(dst []core.TokenID, text string, special bool) ([]core.TokenID, error) {
	for i := 0; i < len(text); {
		if special && text[i] == '<' {
			matched := false
			for k, s := range specials {
				if strings.HasPrefix(text[i:], s) {
					dst = append(dst, BOS+core.TokenID(k))
					i += len(s)
					matched = true
					break
				}
			}
			if matched {
				continue
			}
		}
		dst = append(dst, core.TokenID(text[i]))
		i++
	}
	return dst, nil
}

// Decode implements core.Tokenizer. Special tokens decode to their text.
func (ByteTokenizer) Decode(dst []byte, id core.TokenID) []byte {
	switch {
	case id >= 0 && id < 256:
		return append(dst, byte(id))
	case id >= BOS && id <= EOT:
		return append(dst, specials[id-BOS]...)
	}
	return dst
}

// Vocab implements core.Tokenizer.
func (ByteTokenizer) Vocab() core.Vocab {
	return core.Vocab{Size: 261, BOS: BOS, EOS: EOT, EOG: []core.TokenID{EOS, EOT}, AddBOS: true}
}
