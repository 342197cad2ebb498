// Command pensieve-soak loads a running Pensieve server over HTTP in rounds
// of concurrent streaming clients (a quarter hanging up mid-stream),
// non-streaming and malformed requests, checks every response, and fails
// when goroutines or resident memory grow between rounds.
//
//	pensieve-soak -url http://127.0.0.1:8080 -rounds 3
//	pensieve-soak -url http://127.0.0.1:8080 -duration 10m -json report.json
//
// It exits 0 when every round passed, 1 when any failed, 2 on bad usage.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/pensieve-llm/pensieve/cli/internal/soak"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run parses args, soaks the server and prints a summary to stdout; it
// returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pensieve-soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg soak.Config
	fs.StringVar(&cfg.BaseURL, "url", "http://127.0.0.1:8080", "server base `URL`")
	fs.StringVar(&cfg.APIKey, "api-key", os.Getenv("PENSIEVE_SOAK_API_KEY"), "API `KEY` to send (default $PENSIEVE_SOAK_API_KEY)")
	fs.StringVar(&cfg.Model, "model", "", "model `ID` (default: the first of GET /v1/models)")
	fs.IntVar(&cfg.Streams, "clients", 32, "concurrent streaming clients per round")
	fs.IntVar(&cfg.HangUps, "hangups", 0, "streams that hang up after the first delta (default clients/4; -1 for none)")
	fs.IntVar(&cfg.NonStream, "non-stream", 4, "concurrent non-streaming requests per round (-1 for none)")
	fs.IntVar(&cfg.MaxTokens, "max-tokens", 16, "max_tokens of every request")
	fs.IntVar(&cfg.Rounds, "rounds", 3, "least number of rounds")
	fs.IntVar(&cfg.WarmUpRounds, "warm-up", 1, "unmeasured rounds before the baseline (-1 for none)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "keep running rounds this long (at least -rounds)")
	fs.DurationVar(&cfg.Settle, "settle", 10*time.Second, "time the goroutine count may take to come back after a round")
	jsonOut := fs.String("json", "", "write the full report as JSON to `FILE`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "pensieve-soak: unexpected arguments %q\n", fs.Args())
		return 2
	}
	enc := zap.NewDevelopmentEncoderConfig()
	enc.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
	log := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(stderr), zap.InfoLevel))
	rep, runErr := soak.Run(ctx, cfg, soak.WithLogger(log))
	if rep != nil {
		if err := soak.WriteSummary(stdout, rep); err != nil {
			fmt.Fprintln(stderr, "pensieve-soak:", err)
		}
		if *jsonOut != "" {
			if err := writeJSON(*jsonOut, rep); err != nil {
				fmt.Fprintln(stderr, "pensieve-soak:", err)
				return 1
			}
		}
	}
	if runErr != nil {
		fmt.Fprintln(stderr, "pensieve-soak:", runErr)
		return 1
	}
	return 0
}

func writeJSON(path string, rep *soak.Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
