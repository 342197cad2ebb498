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
	w, err := gguf.WriterFrom(f)
	if err != nil {
		return fmt.Errorf("widen %s: %w", src, err)
	}
	if err := w.SetKV(key, uint32(n)); err != nil {
		return fmt.Errorf("widen %s: %w", src, err)
	}
	return w.WriteFile(dst)
}
