package core_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pensieve-llm/pensieve/core"
)

// byteTokenizer is a test double: one token per byte.
type byteTokenizer struct{}

func (byteTokenizer) Encode(dst []core.TokenID, text string, special bool) ([]core.TokenID, error) {
	for i := 0; i < len(text); i++ {
		dst = append(dst, core.TokenID(text[i]))
	}
	return dst, nil
}

func (byteTokenizer) Decode(dst []byte, id core.TokenID) []byte {
	if id < 0 || id > 255 {
		return dst
	}
	return append(dst, byte(id))
}

func (byteTokenizer) Vocab() core.Vocab {
	return core.Vocab{Size: 256, BOS: core.NoToken, EOS: 0, EOG: []core.TokenID{0}}
}

func ExampleTokenizer() {
	var tok core.Tokenizer = byteTokenizer{}
	ids, _ := tok.Encode(nil, "hi", false)
	var text []byte
	for _, id := range ids {
		text = tok.Decode(text, id)
	}
	fmt.Println(ids, string(text))
	// Output: [104 105] hi
}

func ExampleError() {
	err := fmt.Errorf("loading: %w", core.Errorf(core.KindNotFound, "registry.Get", "model %q", "llama-9"))
	fmt.Println(err)
	fmt.Println(errors.Is(err, core.KindNotFound), core.KindOf(err))
	fmt.Println(core.KindOf(context.Canceled))
	// Output:
	// loading: registry.Get: model "llama-9"
	// true not_found
	// canceled
}

func ExampleBatch() {
	// One batch: a 3-token prefill of slot 0 and one decode token of slot 1.
	var b core.Batch
	for i, tok := range []core.TokenID{10, 11, 12} {
		b.Add(tok, int32(i), 0, i == 2)
	}
	b.Add(42, 17, 1, true)
	fmt.Println(b.Len(), b.Outputs())
	// Output: 4 2
}

func ExampleVocab_IsEOG() {
	v := core.Vocab{Size: 261, BOS: 256, EOS: 257, EOG: []core.TokenID{257, 260}}
	fmt.Println(v.IsEOG(260), v.IsEOG(42))
	// Output: true false
}

func ExampleTensor_Rows() {
	t := core.Tensor{Name: "blk.0.ffn_up.weight", Type: core.Q8_0, Shape: []int{256, 512}}
	fmt.Println(t.Rows())
	// Output: 512
}

// echoGenerator is a test double that streams the prompt back as text.
type echoGenerator struct{ tok core.Tokenizer }

func (g echoGenerator) Generate(ctx context.Context, req *core.Request) (<-chan core.Event, error) {
	if req.MaxTokens <= 0 {
		return nil, core.Errorf(core.KindInvalid, "echo.Generate", "max_tokens must be positive")
	}
	ch := make(chan core.Event, len(req.Prompt)+1)
	n := min(len(req.Prompt), req.MaxTokens)
	for _, id := range req.Prompt[:n] {
		ch <- core.Event{Text: string(g.tok.Decode(nil, id)), Tokens: []core.TokenID{id}}
	}
	reason := core.StopEndTurn
	if n == req.MaxTokens {
		reason = core.StopMaxTokens
	}
	ch <- core.Event{Done: true, StopReason: reason, Usage: core.Usage{PromptTokens: len(req.Prompt), GeneratedTokens: n}}
	close(ch)
	return ch, nil
}

func ExampleGenerator() {
	var g core.Generator = echoGenerator{byteTokenizer{}}
	prompt, _ := byteTokenizer{}.Encode(nil, "hello", false)
	events, err := g.Generate(context.Background(), &core.Request{Prompt: prompt, MaxTokens: 3})
	if err != nil {
		fmt.Println(err)
		return
	}
	var sb strings.Builder
	for ev := range events {
		sb.WriteString(ev.Text)
		if ev.Done {
			fmt.Println(sb.String(), ev.StopReason, ev.Usage.GeneratedTokens)
		}
	}
	// Output: hel max_tokens 3
}
