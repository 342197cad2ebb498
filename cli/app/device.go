package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/config"
	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/metal"
	"github.com/pensieve-llm/pensieve/model"
	"github.com/pensieve-llm/pensieve/model/quant"
)

// Compute devices accepted by --device and the "device" configuration key.
const (
	deviceAuto  = "auto"  // Metal on Apple Silicon when a device exists, else the CPU
	deviceCPU   = "cpu"   // the CPU kernels of model/quant
	deviceMetal = "metal" // the Apple GPU through the metal module
)

// metalPlatform reports whether this build can use Metal at all.
func metalPlatform() bool { return runtime.GOOS == "darwin" && runtime.GOARCH == "arm64" }

// resolveDevice turns a --device value into "cpu" or "metal". "auto" (or
// empty) picks Metal only on darwin/arm64 with a usable device. An unknown
// name is a usage error; asking for Metal where it cannot exist is a runtime
// error naming Metal and the platform.
func resolveDevice(name string) (string, error) {
	switch strings.ToLower(name) {
	case deviceAuto, "":
		if metalPlatform() && metal.Available() {
			return deviceMetal, nil
		}
		return deviceCPU, nil
	case deviceCPU:
		return deviceCPU, nil
	case deviceMetal:
		if !metalPlatform() {
			return "", core.Errorf(core.KindUnavailable, "--device metal",
				"the Metal GPU backend needs macOS on Apple Silicon (darwin/arm64); this is %s/%s — use --device cpu",
				runtime.GOOS, runtime.GOARCH)
		}
		return deviceMetal, nil
	}
	return "", UsageErrorf("--device %q: want auto, cpu or metal", name)
}

// openBackend opens the compute backend of a resolved device. threads sizes
// the CPU worker pool (≤ 0: one per core); it does not apply to Metal.
func openBackend(dev string, threads int) (core.Backend, error) {
	if dev == deviceMetal {
		b, err := metal.Open()
		if err != nil {
			return nil, fmt.Errorf("--device metal: %w", err)
		}
		return b, nil
	}
	return quant.NewCPU(quant.WithThreads(threads)), nil
}

// loadedModel is an opened model file with the pieces that run it.
type loadedModel struct {
	Path      string
	Model     core.Model
	Tokenizer core.Tokenizer
	Template  core.ChatTemplate
	Device    string // the backend's name, e.g. "cpu" or "metal:Apple M2"

	ownBackend core.Backend // closed after the model when the loadedModel owns it; may be nil
}

// openModel loads the model at path (GGUF, or a SafeTensors checkpoint)
// with model.Open, computing on be, which the caller keeps owning (it must
// outlive the model). Commands that generate text need the file's
// tokenizer and chat template, which only GGUF files carry.
func openModel(path string, be core.Backend, log *zap.Logger) (*loadedModel, error) {
	l, err := model.Open(path, model.WithBackend(be), model.WithLogger(log))
	if err != nil {
		return nil, err
	}
	if l.Tokenizer == nil || l.Template == nil {
		l.Close()
		return nil, core.Errorf(core.KindInvalid, "open model",
			"%s has no tokenizer or chat template (a %s checkpoint); use a GGUF file", path, l.Format)
	}
	return &loadedModel{Path: path, Model: l.Model, Tokenizer: l.Tokenizer, Template: l.Template, Device: be.Name()}, nil
}

// Close releases the model, then the backend if the loadedModel owns it.
func (l *loadedModel) Close() error {
	err := l.Model.Close()
	if l.ownBackend != nil {
		err = errors.Join(err, l.ownBackend.Close())
	}
	return err
}

// modelPath resolves a --model argument: a path that exists as given, else
// a path relative to the models directory (where `models pull` stores files).
func modelPath(p, modelsDir string) string {
	if _, err := os.Stat(p); err == nil || filepath.IsAbs(p) || modelsDir == "" {
		return p
	}
	alt := filepath.Join(modelsDir, p)
	if _, err := os.Stat(alt); err == nil {
		return alt
	}
	return p
}

// deviceFlags returns --device and --threads, the flags of commands that run
// a model in-process. Their defaults come from the configuration (device,
// engine.threads).
func deviceFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "device", Usage: "compute `DEVICE`: auto (Metal on Apple Silicon, else CPU), cpu or metal (device)"},
		&cli.IntFlag{Name: "threads", Aliases: []string{"t"}, Usage: "CPU threads, 0 for one per core (engine.threads)"},
	}
}

// loadLocalConfig loads the configuration for commands that take a single
// --model FILE (run, chat, bench): the same sources as serve, but their
// --model names one file for this command instead of replacing the served
// models. Problems with the configuration are usage errors.
func loadLocalConfig(c *cli.Context) (config.Config, error) {
	if err := checkLogFlags(c); err != nil {
		return config.Config{}, err
	}
	opts := configOptions(c)
	delete(opts.Flags, "models")
	cfg, err := config.Load(opts)
	if err != nil {
		return config.Config{}, UsageErrorf("%w", err)
	}
	return cfg, nil
}

// openLocalModel opens the model named by c's --model flag on the device
// and thread count the flags and configuration select.
func openLocalModel(c *cli.Context, cfg config.Config) (*loadedModel, error) {
	name := c.String("model")
	if name == "" {
		return nil, UsageErrorf("%s: --model FILE is required", c.Command.Name)
	}
	dev, err := resolveDevice(cfg.Device)
	if err != nil {
		return nil, err
	}
	be, err := openBackend(dev, cfg.Engine.Threads)
	if err != nil {
		return nil, err
	}
	lm, err := openModel(modelPath(name, cfg.ModelsDir), be, zap.NewNop())
	if err != nil {
		be.Close()
		return nil, err
	}
	lm.ownBackend = be
	return lm, nil
}
