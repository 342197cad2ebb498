// Package mmap maps model files read-only into memory, so the GGUF and
// SafeTensors readers expose tensor data as views without copying it.
package mmap
