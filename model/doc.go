// Package model is Pensieve's model layer: GGUF and SafeTensors readers,
// tensors and quantized kernels, tokenizers, chat templates and the
// transformer forward passes, exposed through core's Model, Tokenizer and
// ChatTemplate contracts. Its subpackages are each usable alone.
package model
