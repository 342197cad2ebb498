package engine_test

import (
	"context"
	"fmt"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/engine"
	"github.com/pensieve-llm/pensieve/engine/enginetest"
)

func ExampleEngine() {
	// A scripted fake model: each token is followed by the next one, and
	// "!" by the end-of-generation token 0.
	pieces := []string{"</s>", "Hello", ",", " world", "!"}
	tok := enginetest.NewTokenizer(pieces, 0)
	m := enginetest.NewModel(enginetest.ModelConfig{
		VocabSize: len(pieces),
		Next: func(seq []core.TokenID) core.TokenID {
			return (seq[len(seq)-1] + 1) % core.TokenID(len(pieces))
		},
	})

	e, err := engine.New(m, tok, engine.WithSlots(2), engine.WithContext(64))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close(context.Background())

	events, err := e.Generate(context.Background(), &core.Request{Prompt: []core.TokenID{1}, MaxTokens: 10})
	if err != nil {
		fmt.Println(err)
		return
	}
	var text string
	for ev := range events {
		text += ev.Text
		if ev.Done {
			fmt.Printf("%q %s %+v\n", text, ev.StopReason, ev.Usage)
		}
	}
	// Output: ", world!" end_turn {PromptTokens:1 CachedTokens:0 GeneratedTokens:4}
}
