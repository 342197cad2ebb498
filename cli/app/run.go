package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/engine"
)

func init() { register(runCommand) }

// defaultMaxTokens is how many tokens run and chat generate when -n is not
// given (fewer when the context is shorter).
const defaultMaxTokens = 512

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "generate a continuation of one prompt with a local model, streaming it to stdout",
		Description: "The prompt is wrapped in the model's chat template as one user turn unless --raw is given;\n" +
			"   --ids feeds token ids as they are (no template, no BOS). With --json the output is one object:\n" +
			"   {\"ids\": [generated ids], \"text\": \"…\"}.\n\n" +
			"   pensieve-cli run --model qwen2.5-0.5b-q8_0.gguf --prompt 'Why is the sky blue?'\n" +
			"   pensieve-cli run --model fx-llama-f32.gguf --ids '129' -n 24 --ignore-eos --temperature 0 --json",
		Flags: append(append(globalFlags(),
			&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "model `FILE` (GGUF); a relative name is also looked up in the models directory"},
			&cli.StringFlag{Name: "prompt", Aliases: []string{"p"}, Usage: "prompt `TEXT`; \"-\" reads it from stdin"},
			&cli.StringFlag{Name: "ids", Usage: "prompt as token `IDS` separated by spaces or commas, fed as they are"},
			&cli.BoolFlag{Name: "raw", Usage: "tokenize the prompt as it is (special-token texts included) instead of applying the chat template"},
			&cli.StringFlag{Name: "system", Usage: "system prompt `TEXT` for the chat template"},
			&cli.BoolFlag{Name: "json", Usage: "print {\"ids\": […], \"text\": \"…\"} at the end instead of streaming text"},
			modelsDirFlag(),
			&cli.IntFlag{Name: "context", Usage: "context window in tokens, 0 for the model's own (capped at 4096) (engine.context)"},
		), append(deviceFlags(), samplingFlags()...)...),
		OnUsageError: onUsageError,
		Action:       runAction,
	}
}

// samplingFlags are the generation flags shared by run and chat.
func samplingFlags() []cli.Flag {
	return []cli.Flag{
		&cli.Float64Flag{Name: "temperature", Value: 0.8, Usage: "sampling temperature; 0 is greedy"},
		&cli.IntFlag{Name: "top-k", Value: 40, Usage: "keep the `K` most likely tokens; 0 turns it off"},
		&cli.Float64Flag{Name: "top-p", Value: 0.95, Usage: "nucleus sampling mass; 1 turns it off"},
		&cli.Float64Flag{Name: "min-p", Value: 0.05, Usage: "drop tokens less likely than this times the most likely; 0 turns it off"},
		&cli.Uint64Flag{Name: "seed", Usage: "random `SEED` (default: from the clock)"},
		&cli.IntFlag{Name: "max-tokens", Aliases: []string{"n"}, Usage: "generate at most `N` tokens (default 512, fewer if the context is shorter)"},
		&cli.BoolFlag{Name: "ignore-eos", Usage: "keep generating past end-of-generation tokens"},
		&cli.StringSliceFlag{Name: "stop", Usage: "stop at this `TEXT`; repeat for more"},
	}
}

// sampling reads the sampling flags of c.
func sampling(c *cli.Context) (core.Sampling, error) {
	s := core.Sampling{
		Temperature: float32(c.Float64("temperature")),
		TopK:        c.Int("top-k"),
		TopP:        float32(c.Float64("top-p")),
		MinP:        float32(c.Float64("min-p")),
		Seed:        c.Uint64("seed"),
	}
	switch {
	case s.Temperature < 0:
		return s, UsageErrorf("--temperature %g: must not be negative", s.Temperature)
	case s.TopK < 0:
		return s, UsageErrorf("--top-k %d: must not be negative", s.TopK)
	case s.TopP < 0 || s.TopP > 1:
		return s, UsageErrorf("--top-p %g: want a value in [0, 1]", s.TopP)
	case s.MinP < 0 || s.MinP > 1:
		return s, UsageErrorf("--min-p %g: want a value in [0, 1]", s.MinP)
	}
	if !c.IsSet("seed") {
		s.Seed = uint64(time.Now().UnixNano())
	}
	return s, nil
}

func runAction(c *cli.Context) error {
	if c.NArg() != 0 {
		return UsageErrorf("run: unexpected arguments %q", c.Args().Slice())
	}
	if c.IsSet("prompt") == c.IsSet("ids") {
		return UsageErrorf("run: give exactly one of --prompt and --ids")
	}
	if c.IsSet("ids") && (c.IsSet("raw") || c.IsSet("system")) {
		return UsageErrorf("run: --raw and --system apply to --prompt, not --ids")
	}
	if c.Int("max-tokens") < 0 {
		return UsageErrorf("run: -n %d: must not be negative", c.Int("max-tokens"))
	}
	samp, err := sampling(c)
	if err != nil {
		return err
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

	var prompt []core.TokenID
	if c.IsSet("ids") {
		prompt, err = parseIDs(c.String("ids"), lm.Tokenizer.Vocab().Size)
	} else {
		prompt, err = runPrompt(c, lm)
	}
	if err != nil {
		return err
	}

	eng, err := newLocalEngine(lm, cfg.Engine.Context, cfg.Engine.BatchSize)
	if err != nil {
		return err
	}
	defer eng.Close(context.WithoutCancel(c.Context))

	req := &core.Request{
		Prompt:    prompt,
		Sampling:  samp,
		MaxTokens: maxTokens(c.Int("max-tokens"), len(prompt), eng.Stats().Context),
		Stop:      c.StringSlice("stop"),
		IgnoreEOS: c.Bool("ignore-eos"),
	}
	out := c.App.Writer
	asJSON := c.Bool("json")
	res, err := generate(c.Context, eng, req, func(text string) error {
		if asJSON {
			return nil
		}
		_, err := io.WriteString(out, text)
		return err
	})
	if err != nil {
		if !asJSON && res.Text != "" {
			fmt.Fprintln(out)
		}
		return err
	}
	if asJSON {
		ids := res.Tokens
		if ids == nil {
			ids = []core.TokenID{}
		}
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		return enc.Encode(struct {
			IDs  []core.TokenID `json:"ids"`
			Text string         `json:"text"`
		}{ids, res.Text})
	}
	_, err = fmt.Fprintln(out)
	return err
}

// runPrompt builds the prompt of `run --prompt`: the chat template over an
// optional system turn and one user turn, or with --raw the text itself.
func runPrompt(c *cli.Context, lm *loadedModel) ([]core.TokenID, error) {
	text := c.String("prompt")
	if text == "-" {
		in := c.App.Reader
		if in == nil {
			in = os.Stdin
		}
		b, err := io.ReadAll(in)
		if err != nil {
			return nil, fmt.Errorf("run: reading the prompt from stdin: %w", err)
		}
		text = string(b)
	}
	if c.Bool("raw") {
		return encodePrompt(lm.Tokenizer, text)
	}
	var msgs []core.ChatMessage
	if s := c.String("system"); s != "" {
		msgs = append(msgs, core.ChatMessage{Role: core.RoleSystem, Content: s})
	}
	msgs = append(msgs, core.ChatMessage{Role: core.RoleUser, Content: text})
	return chatPrompt(lm, msgs)
}

// chatPrompt renders msgs with the model's chat template, ending with the
// header of an assistant turn, and tokenizes the result.
func chatPrompt(lm *loadedModel, msgs []core.ChatMessage) ([]core.TokenID, error) {
	text, err := lm.Template.Render(core.ChatRequest{Messages: msgs, AddGenerationPrompt: true})
	if err != nil {
		return nil, fmt.Errorf("chat template: %w", err)
	}
	return encodePrompt(lm.Tokenizer, text)
}

// encodePrompt tokenizes text with special-token parsing on (templates emit
// texts such as "<|start_header_id|>") and puts BOS in front when the
// vocabulary asks for it and the text did not already start with it.
func encodePrompt(tok core.Tokenizer, text string) ([]core.TokenID, error) {
	ids, err := tok.Encode(nil, text, true)
	if err != nil {
		return nil, fmt.Errorf("tokenizing the prompt: %w", err)
	}
	v := tok.Vocab()
	if v.AddBOS && v.BOS != core.NoToken && (len(ids) == 0 || ids[0] != v.BOS) {
		ids = append([]core.TokenID{v.BOS}, ids...)
	}
	if len(ids) == 0 {
		return nil, UsageErrorf("the prompt is empty")
	}
	return ids, nil
}

// parseIDs parses token ids separated by spaces or commas (a JSON array's
// brackets are accepted too), each in [0, vocab).
func parseIDs(s string, vocab int) ([]core.TokenID, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == ',' || r == '\t' || r == '\n' || r == '[' || r == ']'
	})
	if len(fields) == 0 {
		return nil, UsageErrorf("--ids %q: no token ids", s)
	}
	ids := make([]core.TokenID, len(fields))
	for i, f := range fields {
		n, err := strconv.ParseInt(f, 10, 32)
		if err != nil || n < 0 || int(n) >= vocab {
			return nil, UsageErrorf("--ids: %q is not a token id of this model (0 to %d)", f, vocab-1)
		}
		ids[i] = core.TokenID(n)
	}
	return ids, nil
}

// maxTokens is the generation limit: n when given, else defaultMaxTokens,
// capped so that prompt plus output fits the context.
func maxTokens(n, prompt, context int) int {
	if n > 0 {
		return n
	}
	return max(1, min(defaultMaxTokens, context-prompt))
}

// newLocalEngine starts a one-slot engine for an interactive command.
// contextLen and batch come from the configuration (0: the engine's
// defaults).
func newLocalEngine(lm *loadedModel, contextLen, batch int) (*engine.Engine, error) {
	opts := []engine.Option{engine.WithSlots(1), engine.WithMaxQueue(1)}
	if contextLen > 0 {
		opts = append(opts, engine.WithContext(contextLen))
	}
	if batch > 0 {
		opts = append(opts, engine.WithBatchSize(batch))
	}
	eng, err := engine.New(lm.Model, lm.Tokenizer, opts...)
	if err != nil {
		return nil, fmt.Errorf("starting the engine: %w", err)
	}
	return eng, nil
}

// generation is the outcome of one generate call.
type generation struct {
	Tokens []core.TokenID // every sampled token
	Text   string         // the whole text released
	Final  core.Event     // the last event (stop reason, usage)
}

// generate runs req on g, calling onText with each piece of text as it is
// released, and returns everything generated. A generation that fails
// returns what was generated before the failure with the error; onText
// failing (e.g. a closed stdout) cancels the generation.
func generate(ctx context.Context, g core.Generator, req *core.Request, onText func(string) error) (generation, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := g.Generate(ctx, req)
	if err != nil {
		return generation{}, err
	}
	var res generation
	var sb strings.Builder
	var werr error
	for ev := range events {
		res.Tokens = append(res.Tokens, ev.Tokens...)
		if ev.Text != "" {
			sb.WriteString(ev.Text)
			if werr == nil {
				if werr = onText(ev.Text); werr != nil {
					cancel() // drain the channel; the engine stops within a step
				}
			}
		}
		if ev.Done {
			res.Final = ev
		}
	}
	res.Text = sb.String()
	switch {
	case werr != nil:
		return res, werr
	case res.Final.Err != nil:
		return res, fmt.Errorf("generation: %w", res.Final.Err)
	}
	return res, nil
}
