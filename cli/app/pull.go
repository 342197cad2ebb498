package app

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/pensieve-llm/pensieve/cli/internal/hub"
	"github.com/pensieve-llm/pensieve/cli/internal/progress"
	"github.com/pensieve-llm/pensieve/config"
	"github.com/pensieve-llm/pensieve/core"
)

func init() { registerModels(modelsPullCommand) }

func modelsPullCommand() *cli.Command {
	return &cli.Command{
		Name:  "pull",
		Usage: "download a model file from Hugging Face into the models directory",
		Description: "REF is ORG/REPO/FILE or hf://ORG/REPO/FILE, e.g.\n" +
			"   pensieve-cli models pull Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf\n" +
			"An interrupted download resumes where it stopped; the file is checked against the\n" +
			"SHA-256 the hub publishes. Gated repositories need a token: set HF_TOKEN.",
		ArgsUsage: "REF",
		Flags: append(globalFlags(),
			modelsDirFlag(),
			&cli.StringFlag{Name: "revision", Value: hub.DefaultRevision, Usage: "the branch, tag or commit `REV` to download"},
			&cli.StringFlag{Name: "hf-endpoint", Usage: "hub `URL` (hub.endpoint or HF_ENDPOINT, default " + config.DefaultHubEndpoint + ")"},
			&cli.BoolFlag{Name: "force", Usage: "download again even if the file is already there"},
			&cli.IntFlag{Name: "retries", Value: 3, Usage: "resume an interrupted transfer up to `N` times before giving up"},
		),
		OnUsageError: onUsageError,
		Action:       runPull,
	}
}

func runPull(c *cli.Context) error {
	if c.NArg() != 1 {
		return UsageErrorf("models pull: want exactly one REF (ORG/REPO/FILE), got %d arguments", c.NArg())
	}
	ref, err := hub.ParseRef(c.Args().First())
	if err != nil {
		return UsageErrorf("models pull: %w", err)
	}
	ref.Revision = c.String("revision")
	if err := ref.Validate(); err != nil {
		return UsageErrorf("models pull: %w", err)
	}
	if c.Int("retries") < 0 {
		return UsageErrorf("models pull: --retries must not be negative")
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	log, _, err := newLogger(cfg.Log, c.App.ErrWriter)
	if err != nil {
		return err
	}
	defer log.Sync()
	client, err := hub.New(cfg.Hub.Endpoint,
		hub.WithToken(cfg.Hub.Token),
		hub.WithRetries(c.Int("retries"), time.Second),
		hub.WithUserAgent("pensieve-cli/"+Version),
		hub.WithLogger(log))
	if err != nil {
		return UsageErrorf("models pull: %w", err)
	}

	errw := c.App.ErrWriter
	bar := progress.New(errw, ref.Name(), progress.IsTerminal(errw))
	started := false
	res, err := client.Download(c.Context, hub.Request{
		Ref: ref, Dir: cfg.ModelsDir, Force: c.Bool("force"),
		Progress: func(p hub.Progress) { started = true; bar.Set(p.Done, p.Total) },
	})
	if started {
		bar.Done()
	}
	if err != nil {
		if core.KindOf(err) == core.KindCanceled {
			return fmt.Errorf("models pull: interrupted; run the same command again to resume: %w", err)
		}
		return fmt.Errorf("models pull: %w", err)
	}
	w := c.App.Writer
	switch {
	case res.Skipped:
		_, err = fmt.Fprintf(w, "%s is already there (%s); use --force to download it again\n", res.Path, progress.Bytes(res.Size))
	case res.Verified:
		_, err = fmt.Fprintf(w, "%s (%s), sha256 %s verified\n", res.Path, progress.Bytes(res.Size), res.SHA256)
	default:
		_, err = fmt.Fprintf(w, "%s (%s), sha256 %s (the hub published no SHA-256 to check)\n", res.Path, progress.Bytes(res.Size), res.SHA256)
	}
	return err
}
