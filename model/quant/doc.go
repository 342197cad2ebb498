// Package quant implements ggml's tensor element types on the CPU: exact
// dequantization, the reference quantizers, the on-the-fly activation
// quantization llama.cpp pairs with each weight type, and the quantized dot
// products and matrix products built on them (portable Go plus SIMD where the
// CPU has it). The spec is ../shared/specs/gguf-and-quants.md §2 and §6; the
// truth is ggml's own output in ../shared/fixtures/reference/quants.
package quant
