package model

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/chat"
	"github.com/pensieve-llm/pensieve/model/gguf"
	"github.com/pensieve-llm/pensieve/model/tokenizer"
	"github.com/pensieve-llm/pensieve/model/transformer"
)

// File formats Open recognizes.
const (
	FormatGGUF        = "gguf"
	FormatSafeTensors = "safetensors"
)

// Loaded is a model opened for inference: the forward pass and, when the
// file describes them, its tokenizer and chat template.
type Loaded struct {
	Model     core.Model
	Tokenizer core.Tokenizer    // nil when the file has no tokenizer metadata
	Template  core.ChatTemplate // nil when Tokenizer is nil
	Format    string            // FormatGGUF or FormatSafeTensors
	Path      string            // the path given to Open
}

// Close releases the model (unmaps its file).
func (l *Loaded) Close() error { return l.Model.Close() }

// Option configures Open.
type Option func(*options)

type options struct {
	backend core.Backend
	log     *zap.Logger
}

// WithBackend makes the model compute its matrix products on b, which the
// caller keeps owning. The default is the CPU backend of package quant.
func WithBackend(b core.Backend) Option { return func(o *options) { o.backend = b } }

// WithLogger sets the logger of the tokenizer. The default discards all
// output.
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.log = l } }

// Open loads the model at path: a GGUF file (recognized by its magic), or a
// Hugging Face checkpoint — a directory with config.json and SafeTensors
// weights, or a .safetensors file inside one. GGUF files also yield their
// tokenizer and chat template. A missing path is core.KindNotFound; a file
// that is neither format, or that fails to parse, is core.KindInvalid.
func Open(path string, opts ...Option) (*Loaded, error) {
	const op = "model.Open"
	o := options{log: zap.NewNop()}
	for _, opt := range opts {
		opt(&o)
	}
	var topts []transformer.Option
	if o.backend != nil {
		topts = append(topts, transformer.WithBackend(o.backend))
	}
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, core.E(core.KindNotFound, op, err)
		}
		return nil, core.E(core.KindInvalid, op, err)
	}
	if fi.IsDir() {
		return openSafeTensors(path, path, topts)
	}
	isGGUF, err := hasGGUFMagic(path)
	if err != nil {
		return nil, core.E(core.KindInvalid, op, err)
	}
	switch {
	case isGGUF:
		return openGGUF(path, o, topts)
	case filepath.Ext(path) == ".safetensors" || filepath.Base(path) == "config.json":
		return openSafeTensors(path, filepath.Dir(path), topts)
	}
	return nil, core.Errorf(core.KindInvalid, op, "%s is neither a GGUF file nor a SafeTensors checkpoint", path)
}

// hasGGUFMagic reports whether the file starts with "GGUF" (spec §1.1).
func hasGGUFMagic(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return false, nil
		}
		return false, err
	}
	return bytes.Equal(magic[:], []byte("GGUF")), nil
}

func openGGUF(path string, o options, topts []transformer.Option) (*Loaded, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	l := &Loaded{Format: FormatGGUF, Path: path}
	if _, ok := f.String(tokenizer.KeyModel); ok {
		tok, err := tokenizer.FromGGUF(f, tokenizer.WithLogger(o.log))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("model.Open: %s: %w", path, err)
		}
		tmpl, err := chat.FromGGUF(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("model.Open: %s: %w", path, err)
		}
		l.Tokenizer, l.Template = tok, tmpl
	}
	m, err := transformer.FromGGUF(f, topts...)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("model.Open: %s: %w", path, err)
	}
	l.Model = m
	return l, nil
}

func openSafeTensors(path, dir string, topts []transformer.Option) (*Loaded, error) {
	m, err := transformer.FromSafeTensors(dir, topts...)
	if err != nil {
		return nil, fmt.Errorf("model.Open: %s: %w", path, err)
	}
	return &Loaded{Model: m, Format: FormatSafeTensors, Path: path}, nil
}
