// Package ggufedit rewrites GGUF files for the CLI's demo and tests.
package ggufedit

import (
	"fmt"

	"github.com/pensieve-llm/pensieve/model/gguf"
)

// WidenContext copies the GGUF file src to dst with its
// <arch>.context_length set to n; everything else is copied unchanged.
// Random weights have no trained context, and RoPE is defined at every
// position, so the model runs as well at any length.
func WidenContext(src, dst string, n int) error {
	f, err := gguf.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	key := f.Architecture() + ".context_length"
	if _, ok := f.Uint(key); !ok {
		return fmt.Errorf("widen %s: no %s", src, key)
	}
	w := gguf.NewWriter()
	for _, kv := range f.KV {
		var v any = kv.Value
		if kv.Key == key {
			v = uint32(n)
		}
		if err := w.SetKV(kv.Key, v); err != nil {
			return fmt.Errorf("widen %s: %w", src, err)
		}
	}
	for _, ti := range f.Tensors {
		t, err := f.Tensor(ti.Name)
		if err != nil {
			return fmt.Errorf("widen %s: %w", src, err)
		}
		if err := w.AddTensor(t.Name, t.Type, t.Shape, t.Data); err != nil {
			return fmt.Errorf("widen %s: %w", src, err)
		}
	}
	return w.WriteFile(dst)
}
