package app

import (
	"context"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/pensieve-llm/pensieve/cli/internal/progress"
	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/dtype"
	"github.com/pensieve-llm/pensieve/model/gguf"
	"github.com/pensieve-llm/pensieve/model/parallel"
	"github.com/pensieve-llm/pensieve/model/quant"
)

func init() { register(quantizeCommand) }

// ggmlQuantVersion is GGML_QNT_VERSION, written as general.quantization_version.
const ggmlQuantVersion = 2

func quantizeCommand() *cli.Command {
	return &cli.Command{
		Name:      "quantize",
		Usage:     "re-encode a GGUF model with llama.cpp's per-tensor quantization recipe",
		ArgsUsage: "IN OUT",
		Description: "Chooses each tensor's type the way llama.cpp's quantizer does for the file type (norms and 1-D\n" +
			"tensors stay as they are, the _m mixes give some tensors more bits, rows that are not a multiple of\n" +
			"the block size fall back to a smaller block) and writes a GGUF file llama.cpp loads. Quantization\n" +
			"uses ggml's reference algorithms, so the tensors equal llama.cpp's own output for the same input.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "type", Aliases: []string{"t"}, Required: true,
				Usage: "file `TYPE`: q8_0, q4_0, q4_1, q5_0, q5_1, q4_k_m, q5_k_m, q6_k (or f16, bf16, f32)"},
			&cli.IntFlag{Name: "threads", Usage: "worker `N`umber (0: one per core)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return UsageErrorf("quantize: want IN and OUT file arguments, got %d arguments", c.NArg())
			}
			ft, err := quant.ParseFileType(c.String("type"))
			if err != nil {
				return UsageErrorf("quantize: --type: %v", err)
			}
			in, out := c.Args().Get(0), c.Args().Get(1)
			var bar *progress.Bar
			if progress.IsTerminal(c.App.ErrWriter) {
				bar = progress.New(c.App.ErrWriter, "quantize "+ft.String(), true)
			}
			st, err := quantizeFile(c.Context, in, out, ft, c.Int("threads"), bar)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "%s: %d tensors (%d re-encoded), %s → %s\n",
				out, st.tensors, st.converted, progress.Bytes(st.inBytes), progress.Bytes(st.outBytes))
			return nil
		},
	}
}

// quantizeStats summarises one quantization.
type quantizeStats struct {
	tensors, converted int
	inBytes, outBytes  int64
}

// quantizeFile quantizes the GGUF file in to file type ft and writes out
// (atomically). bar, when not nil, shows the progress; ctx cancels between
// tensors.
func quantizeFile(ctx context.Context, in, out string, ft quant.FileType, threads int, bar *progress.Bar) (quantizeStats, error) {
	const op = "quantize"
	var st quantizeStats
	src, err := gguf.Open(in)
	if err != nil {
		return st, fmt.Errorf("%s: %w", op, err)
	}
	defer src.Close()

	arch := src.Architecture()
	layers, _ := src.Uint(arch + ".block_count")
	experts, _ := src.Uint(arch + ".expert_count")
	tensors := make([]quant.TensorPlan, len(src.Tensors))
	for i, ti := range src.Tensors {
		tensors[i] = quant.TensorPlan{Name: ti.Name, Shape: ti.Shape, Type: ti.Type}
		st.inBytes += ti.Size
	}
	plan, err := quant.Plan(ft, tensors, quant.ModelParams{Arch: arch, Layers: int(layers), Experts: int(experts)})
	if err != nil {
		return st, fmt.Errorf("%s: %s: %w", op, in, err)
	}

	w := gguf.NewWriter()
	if err := copyMetadata(w, src, ft); err != nil {
		return st, fmt.Errorf("%s: %w", op, err)
	}
	pool := parallel.New(threads)
	defer pool.Close()
	var done int64
	for _, p := range plan {
		t, err := src.Tensor(p.Name)
		if err != nil {
			return st, fmt.Errorf("%s: %w", op, err)
		}
		st.tensors++
		if p.Target == p.Type {
			if err := w.AddTensor(p.Name, p.Type, p.Shape, t.Data); err != nil {
				return st, fmt.Errorf("%s: %w", op, err)
			}
			done += int64(len(t.Data))
			continue
		}
		st.converted++
		fill := func(dst []byte) error {
			if err := ctx.Err(); err != nil {
				return core.E(core.KindCanceled, op, err)
			}
			if err := quant.Convert(dst, p.Target, t.Data, t.Type, t.Shape[0], pool); err != nil {
				return err
			}
			done += int64(len(t.Data))
			if bar != nil {
				bar.Set(done, st.inBytes)
			}
			return nil
		}
		if err := w.AddTensorFunc(p.Name, p.Target, p.Shape, fill); err != nil {
			return st, fmt.Errorf("%s: %s → %s: %w", op, p.Name, dtype.Name(p.Target), err)
		}
	}
	if err := w.WriteFile(out); err != nil {
		return st, fmt.Errorf("%s: writing %s: %w", op, out, err)
	}
	if bar != nil {
		bar.Set(st.inBytes, st.inBytes)
		bar.Done()
	}
	fi, err := os.Stat(out)
	if err != nil {
		return st, fmt.Errorf("%s: %w", op, err)
	}
	st.outBytes = fi.Size()
	return st, nil
}

// copyMetadata copies src's metadata in order, as llama.cpp does: split
// keys are dropped, and general.quantization_version and general.file_type
// move to the end with their new values.
func copyMetadata(w *gguf.Writer, src *gguf.File, ft quant.FileType) error {
	skip := map[string]bool{
		"general.quantization_version": true, "general.file_type": true,
		"split.no": true, "split.count": true, "split.tensors.count": true,
	}
	for _, kv := range src.KV {
		if skip[kv.Key] {
			continue
		}
		if err := w.SetKV(kv.Key, kv.Value); err != nil {
			return err
		}
	}
	if err := w.SetKV("general.quantization_version", uint32(ggmlQuantVersion)); err != nil {
		return err
	}
	return w.SetKV("general.file_type", uint32(ft))
}
