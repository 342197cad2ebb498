package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/gguf"
	"github.com/pensieve-llm/pensieve/model/quant"
	"github.com/pensieve-llm/pensieve/model/tokenizer"
)

// rigAnswer rewrites the synthesized llama model src into dst so that,
// whatever the prompt, it answers exactly answer and then ends its turn
// with an end-of-generation token, at any temperature.
//
// A random-weight model almost never samples an end-of-turn token, and
// Claude Code treats a reply cut at max_tokens as an error, so an end-to-end
// run with Claude Code needs a model that finishes. The rigged model is
// still an ordinary GGUF file run by the full forward pass; only its
// weights are chosen:
//
//   - every block's attn_output and ffn_down are zero, so the blocks add
//     nothing and the final hidden state is the normalized embedding of the
//     current token;
//   - the embedding of every token has a large component on dimension 0,
//     except the answer's tokens a₁…aₙ, whose embeddings are the basis
//     vectors of dimensions 1…n;
//   - the output row of a₁ points along dimension 0, the row of aᵢ₊₁ along
//     dimension i, and the row of the end-of-generation token along
//     dimension n; all other rows are small and random.
//
// So any token is followed by a₁, each aᵢ by aᵢ₊₁ and aₙ by the end of the
// turn, with logit margins of about 30. (A prompt that ends with one of the
// answer's tokens continues the answer from there; chat prompts end with
// the assistant header.) When context > 0 the model's
// context length is also set to it (RoPE is defined at any position).
func rigAnswer(src, dst, answer string, context int) error {
	f, err := gguf.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	if f.Architecture() != "llama" {
		return fmt.Errorf("rig %s: architecture %q, want llama", src, f.Architecture())
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		return fmt.Errorf("rig %s: %w", src, err)
	}
	chain, err := tok.Encode(nil, answer, false)
	if err != nil {
		return fmt.Errorf("rig %s: %w", src, err)
	}
	v := tok.Vocab()
	if len(v.EOG) == 0 {
		return fmt.Errorf("rig %s: the vocabulary has no end-of-generation token", src)
	}
	embd, ok := f.TensorInfo("token_embd.weight")
	if _, hasOut := f.TensorInfo("output.weight"); !ok || !hasOut {
		return fmt.Errorf("rig %s: want separate token_embd.weight and output.weight tensors", src)
	}
	dim, nVocab := embd.Shape[0], embd.Shape[1]
	if len(chain) == 0 || len(chain)+1 > dim {
		return fmt.Errorf("rig %s: the answer has %d tokens; want 1 to %d", src, len(chain), dim-1)
	}
	pos := map[core.TokenID]int{} // answer token → its basis dimension
	for i, id := range chain {
		if _, dup := pos[id]; dup {
			return fmt.Errorf("rig %s: the answer %q repeats a token", src, answer)
		}
		pos[id] = i + 1
	}

	w := gguf.NewWriter()
	ctxKey := f.Architecture() + ".context_length"
	for _, kv := range f.KV {
		var val any = kv.Value
		if kv.Key == ctxKey && context > 0 {
			val = uint32(context)
		}
		if err := w.SetKV(kv.Key, val); err != nil {
			return fmt.Errorf("rig %s: %w", src, err)
		}
	}
	rng := rand.New(rand.NewPCG(7, 11))
	noise := func() float32 { return float32(rng.NormFloat64()) * 0.02 }
	// token_embd: (nVocab, dim), row id is the embedding of token id.
	embed := make([]float32, nVocab*dim)
	for id := range nVocab {
		row := embed[id*dim : (id+1)*dim]
		if d, ok := pos[core.TokenID(id)]; ok {
			row[d] = 1
			continue
		}
		row[0] = 1
		for j := 1; j < dim; j++ {
			row[j] = noise()
		}
	}
	// output: (nVocab, dim), row id scores token id.
	const gain = 2
	out := make([]float32, nVocab*dim)
	for id := range nVocab {
		for j := range dim {
			out[id*dim+j] = noise() / 10
		}
	}
	end := v.EOG[0]
	if v.IsEOG(v.EOS) {
		end = v.EOS
	}
	next := append(append([]core.TokenID{}, chain...), end)
	for i, id := range next {
		row := out[int(id)*dim : (int(id)+1)*dim]
		clear(row)
		row[i] = gain // follows the token whose embedding is basis i (0: any other token)
	}

	for _, ti := range f.Tensors {
		var data []byte
		typ := ti.Type
		switch name := ti.Name; {
		case name == "token_embd.weight":
			typ, data = core.F16, f16Bytes(embed)
		case name == "output.weight":
			typ, data = core.F16, f16Bytes(out)
		case strings.HasSuffix(name, ".attn_output.weight"), strings.HasSuffix(name, ".ffn_down.weight"):
			data = make([]byte, ti.Size) // all-zero bytes are zeros in every ggml type
		default:
			t, err := f.Tensor(name)
			if err != nil {
				return fmt.Errorf("rig %s: %w", src, err)
			}
			data = t.Data
		}
		if err := w.AddTensor(ti.Name, typ, ti.Shape, data); err != nil {
			return fmt.Errorf("rig %s: %w", src, err)
		}
	}
	return w.WriteFile(dst)
}

// f16Bytes encodes v as little-endian IEEE half floats.
func f16Bytes(v []float32) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], quant.F32ToF16(x))
	}
	return b
}
