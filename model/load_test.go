package model

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/internal/fixtures"
)

func TestOpenGGUF(t *testing.T) {
	path := fixtures.Path(t, "models", "fx-llama-f32.gguf")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	info := l.Model.Info()
	if info.Arch != "llama" || info.VocabSize != 261 || info.ContextLength != 256 || l.Format != FormatGGUF {
		t.Errorf("info %+v, format %q", info, l.Format)
	}
	if l.Tokenizer == nil || l.Template == nil {
		t.Fatalf("tokenizer %v, template %v: want both", l.Tokenizer, l.Template)
	}
	ids, err := l.Tokenizer.Encode(nil, "Hi", false)
	if err != nil || len(ids) == 0 {
		t.Fatalf("Encode: %v %v", ids, err)
	}
	c, err := l.Model.NewCache(1, 16)
	if err != nil {
		t.Fatal(err)
	}
	var b core.Batch
	for i, id := range ids {
		b.Add(id, int32(i), 0, i == len(ids)-1)
	}
	logits := make([]float32, info.VocabSize)
	if err := l.Model.Forward(context.Background(), c, &b, logits); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Template.Render(core.ChatRequest{
		Messages: []core.ChatMessage{{Role: core.RoleUser, Content: "Hi"}}, AddGenerationPrompt: true,
	}); err != nil {
		t.Errorf("Render: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notModel := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notModel, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		kind core.Kind
	}{
		{"missing", filepath.Join(dir, "absent.gguf"), core.KindNotFound},
		{"not a model", notModel, core.KindInvalid},
		{"directory without config.json", dir, core.KindNotFound},
		{"tokenizer-only GGUF", fixtures.Path(t, "models", "vocab-llama3.gguf"), core.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Open(tt.path)
			if err == nil {
				l.Close()
				t.Fatal("Open succeeded")
			}
			if got := core.KindOf(err); got != tt.kind {
				t.Errorf("kind %v (%v), want %v", got, err, tt.kind)
			}
		})
	}
}
