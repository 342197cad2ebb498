package core

// TokenID is the index of a token in a model's vocabulary. Negative values
// are never valid tokens; NoToken marks "absent" (e.g. a model without BOS).
type TokenID int32

// NoToken marks the absence of a token, e.g. Vocab.BOS of a model without one.
const NoToken TokenID = -1

// Vocab describes the special tokens of a vocabulary.
type Vocab struct {
	Size   int       // number of token ids; valid ids are [0, Size)
	BOS    TokenID   // beginning of sequence, or NoToken
	EOS    TokenID   // end of sequence, or NoToken
	EOG    []TokenID // every token that ends a generation (EOS, EOT, <|im_end|>, …); read-only
	AddBOS bool      // whether prompts conventionally start with BOS
	AddEOS bool      // whether encoded texts conventionally end with EOS
}

// IsEOG reports whether id ends a generation.
func (v *Vocab) IsEOG(id TokenID) bool {
	for _, e := range v.EOG {
		if e == id {
			return true
		}
	}
	return false
}

// Tokenizer converts between text and token ids for one vocabulary.
//
// Implementations are immutable after construction and safe for concurrent
// use by any number of goroutines.
type Tokenizer interface {
	// Encode appends the tokens of text to dst and returns the extended
	// slice. It adds no BOS or EOS. With special true, special-token texts
	// (e.g. "<|eot_id|>") inside text become their ids; with special false
	// they are tokenized as ordinary text. Encode does not retain dst or text.
	Encode(dst []TokenID, text string, special bool) ([]TokenID, error)

	// Decode appends the bytes of token id to dst and returns the extended
	// slice. A token may end in the middle of a UTF-8 sequence, so streaming
	// callers must buffer until the bytes form valid UTF-8. Ids out of range
	// append nothing.
	Decode(dst []byte, id TokenID) []byte

	// Vocab returns the vocabulary's size and special tokens. The returned
	// value and its slices must not be modified.
	Vocab() Vocab
}
