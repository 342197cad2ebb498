package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/pensieve-llm/pensieve/cli/internal/ggufedit"
)

// prepareModel returns the model arguments for `pensieve-cli serve` and
// whether the model is a synthesized one: -model when given; nothing when
// the configuration already lists models; else --model with a demo model
// synthesized into the cache directory (kept for the next run).
func prepareModel(ctx context.Context, o options, log io.Writer) ([]string, bool, error) {
	if o.model != "" {
		return []string{"--model", o.model}, false, nil
	}
	if o.vocab == "" && o.context == 0 && o.answer == "" {
		n, err := configuredModels(ctx, o.cli)
		if err != nil {
			return nil, false, err
		}
		if n > 0 {
			fmt.Fprintf(log, "pensieve-demo: serving the %d model(s) of your configuration\n", n)
			return nil, false, nil
		}
	}
	path, err := demoModel(ctx, o, log)
	if err != nil {
		return nil, false, err
	}
	return []string{"--model", path}, true, nil
}

// configuredModels asks pensieve-cli how many models the effective
// configuration lists.
func configuredModels(ctx context.Context, cli string) (int, error) {
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, cli, "config", "show", "--json")
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%s config show: %w: %s", cli, err, strings.TrimSpace(errOut.String()))
	}
	var cfg struct {
		Models []json.RawMessage `json:"models"`
	}
	if err := json.Unmarshal(out.Bytes(), &cfg); err != nil {
		return 0, fmt.Errorf("%s config show: %w", cli, err)
	}
	return len(cfg.Models), nil
}

// demoModel returns the cached demo model for o, synthesizing it first when
// it is not there: a Llama-architecture model of o.preset's shape with
// random Q8_0 weights; with o.context, a widened context; with o.answer,
// weights rigged to give that answer (see rigAnswer).
func demoModel(ctx context.Context, o options, log io.Writer) (string, error) {
	name := "demo-llama-" + o.preset
	if o.vocab != "" {
		name += "-" + strings.TrimSuffix(filepath.Base(o.vocab), filepath.Ext(o.vocab))
	}
	if o.context > 0 {
		name += fmt.Sprintf("-ctx%d", o.context)
	}
	if o.answer != "" {
		name += fmt.Sprintf("-answer%08x", crc32.ChecksumIEEE([]byte(o.answer)))
	}
	path := filepath.Join(o.cache, name+"-q8_0.gguf")
	if _, err := os.Stat(path); err == nil {
		fmt.Fprintf(log, "pensieve-demo: using the demo model %s\n", path)
		return path, nil
	}
	if err := os.MkdirAll(o.cache, 0o755); err != nil {
		return "", err
	}
	tmp := path + ".partial"
	defer os.Remove(tmp)
	args := []string{"models", "synth", "--arch", "llama", "--preset", o.preset, "--type", "q8_0", "-o", tmp}
	if o.vocab != "" {
		args = append(args, "--vocab", o.vocab)
	}
	fmt.Fprintf(log, "pensieve-demo: synthesizing a demo model (random weights): pensieve-cli %s\n", strings.Join(args, " "))
	var errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, o.cli, args...)
	cmd.Stderr = &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s models synth: %w: %s", o.cli, err, strings.TrimSpace(errOut.String()))
	}
	switch {
	case o.answer != "":
		fmt.Fprintf(log, "pensieve-demo: rigging its weights to answer %q to anything\n", o.answer)
		if err := rigAnswer(tmp, path+".rigged", o.answer, o.context); err != nil {
			return "", err
		}
		defer os.Remove(path + ".rigged")
		tmp = path + ".rigged"
	case o.context > 0:
		if err := ggufedit.WidenContext(tmp, path+".wide", o.context); err != nil {
			return "", err
		}
		defer os.Remove(path + ".wide")
		tmp = path + ".wide"
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", err
	}
	return path, nil
}
