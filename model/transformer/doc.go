// Package transformer runs decoder-only transformer forward passes on the
// CPU, numerically equal to llama.cpp on the same GGUF file (spec
// gguf-and-quants.md §3 and §6): llama (Llama 2/3, Mistral, SmolLM,
// TinyLlama), qwen2, qwen3, phi3, gemma2 and gemma3.
//
// The code follows llama2.c's separation: a Config of hyperparameters, the
// Weights (read-only views of the mapped file), and per-cache State
// (activation scratch and the F16 key/value cache) that the forward pass
// reuses without allocating. Each architecture family has one forward
// function that reads like its paper (llama.go, phi3.go, gemma.go) and one
// place that maps its GGUF tensor names to Weights fields.
//
// Matrix products go through a core.Backend (by default the CPU kernels of
// package quant, which quantize activations exactly as llama.cpp pairs them
// with each weight type); attention reads an F16 cache and rounds as
// llama.cpp's CPU flash attention does.
package transformer
