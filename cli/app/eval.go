package app

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/pensieve-llm/pensieve/core"
)

func init() { register(evalCommand) }

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:  "eval",
		Usage: "evaluate token ids in one forward pass and print the logits of every position as JSON",
		Description: "All ids are evaluated as one batch from position 0 of an empty cache, the way the reference\n" +
			"   logits in the fixtures were computed. The output is one object with one row of vocabulary-size\n" +
			"   logits per position: {\"logits\": [[…], …]}.\n\n" +
			"   pensieve-cli eval --model fx-llama-f32.gguf --ids \"256 72 105\" --json",
		Flags: append(append(globalFlags(),
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "model `FILE` (GGUF); a relative name is also looked up in the models directory"},
			&cli.StringFlag{Name: "ids", Usage: "token `IDS` separated by spaces or commas (required)"},
			&cli.BoolFlag{Name: "json", Usage: "print {\"logits\": [[…]]} (the only output format; accepted for symmetry with run and tokenize)"},
			modelsDirFlag(),
		), deviceFlags()...),
		OnUsageError: onUsageError,
		Action:       evalAction,
	}
}

func evalAction(c *cli.Context) error {
	if c.NArg() != 0 {
		return UsageErrorf("eval: unexpected arguments %q", c.Args().Slice())
	}
	if !c.IsSet("ids") {
		return UsageErrorf("eval: --ids IDS is required")
	}
	cfg, err := loadLocalConfig(c)
	if err != nil {
		return err
	}
	lm, err := openLocalModel(c, cfg)
	if err != nil {
		return err
	}
	defer lm.Close()
	info := lm.Model.Info()
	ids, err := parseIDs(c.String("ids"), info.VocabSize)
	if err != nil {
		return err
	}
	rows, err := evalLogits(c, lm.Model, ids)
	if err != nil {
		return err
	}
	return json.NewEncoder(c.App.Writer).Encode(struct {
		Logits [][]float32 `json:"logits"`
	}{rows})
}

// evalLogits runs ids through m as one batch from position 0 of a fresh
// one-slot cache and returns the logits of every position.
func evalLogits(c *cli.Context, m core.Model, ids []core.TokenID) ([][]float32, error) {
	info := m.Info()
	if len(ids) > info.ContextLength {
		return nil, core.Errorf(core.KindContextLength, "eval", "%d ids exceed the model's context of %d", len(ids), info.ContextLength)
	}
	cache, err := m.NewCache(1, len(ids))
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	var b core.Batch
	for i, id := range ids {
		b.Add(id, int32(i), 0, true)
	}
	logits := make([]float32, len(ids)*info.VocabSize)
	if err := m.Forward(c.Context, cache, &b, logits); err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	rows := make([][]float32, len(ids))
	for i := range rows {
		rows[i] = logits[i*info.VocabSize : (i+1)*info.VocabSize]
	}
	return rows, nil
}
