package app

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/pensieve-llm/pensieve/cli/internal/soak"
)

// Flags of `make soak` / `make soak-long`:
//
//	go test ./app -run '^TestReliabilitySoak$' -soak.duration 10m -soak.report soak.json
var (
	soakDuration = flag.Duration("soak.duration", 0, "run soak rounds for this long (0: the 3 quick rounds of make test)")
	soakReport   = flag.String("soak.report", "", "write the soak report as JSON to this file")
	soakModel    = flag.String("soak.model", "fx-llama-q4_0.gguf", "fixture model file the soak serves")
)

// TestReliabilitySoak runs the built server under load: rounds of 32
// concurrent streams, 8 of them hanging up after their first delta, plus
// non-streaming and malformed requests. Every finished stream must be
// valid to message_stop, every refusal the right envelope; after each
// round the server's goroutines must come back within 5 of the baseline
// and its resident memory stay within 20 % of the first round's. The
// server must log no error, and exit 0 on SIGTERM afterwards.
func TestReliabilitySoak(t *testing.T) {
	model := fixtureModel(t, *soakModel)
	bin := relBuild(t)
	srv := relServe(t, bin, relEnv(t), "--model", model)

	cfg := soak.Config{BaseURL: srv.url, Streams: 32, HangUps: 8, NonStream: 4, MaxTokens: 8, Rounds: 3,
		Duration: *soakDuration}
	if cfg.Duration > 0 {
		// The long run: longer streams, and ten warm-up rounds, because the
		// heap of a fresh process keeps growing for tens of rounds before it
		// levels off (about +20 % over round 1 after one warm-up round).
		cfg.MaxTokens, cfg.WarmUpRounds = 32, 10
	}
	log := zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	rep, err := soak.Run(context.Background(), cfg, soak.WithLogger(log))
	if rep != nil {
		var sum strings.Builder
		if werr := soak.WriteSummary(&sum, rep); werr != nil {
			t.Error(werr)
		}
		t.Logf("soak of %s (GOOS %s, %d CPUs):\n%s", *soakModel, runtime.GOOS, runtime.NumCPU(), sum.String())
		if *soakReport != "" {
			relWriteReport(t, *soakReport, rep)
		}
	}
	if err != nil {
		t.Fatalf("soak: %v", err)
	}
	if len(rep.Rounds) < 3 {
		t.Fatalf("%d rounds, want at least 3", len(rep.Rounds))
	}
	for _, rd := range rep.Rounds {
		// A hang-up client whose stream ends before any delta counts as
		// completed; every one of the 32 must be one or the other.
		if rd.Completed+rd.HungUp != 32 || rd.HungUp == 0 || rd.NonStream != 4 || rd.Refused != len(soak.MalformedCases(rep.Model)) {
			t.Errorf("round %d: %d completed + %d hung up streams, %d non-stream, %d refused; want 32 streams with hang-ups, 4, %d",
				rd.Index, rd.Completed, rd.HungUp, rd.NonStream, rd.Refused, len(soak.MalformedCases(rep.Model)))
		}
	}
	srv.signal(t, syscall.SIGTERM)
	if code, ok := srv.wait(20 * time.Second); !ok || code != 0 {
		t.Fatalf("after SIGTERM: exited %v, code %d; want exit 0 within 20 s", ok, code)
	}
	// The process has exited, so its whole output has been copied.
	for _, l := range relLogLines(srv.out.String()) {
		if lv, _ := l["level"].(string); lv != "debug" && lv != "info" && lv != "warn" {
			t.Errorf("server logged at %s: %v", lv, l)
		}
	}
}

func relWriteReport(t *testing.T, path string, rep *soak.Report) {
	t.Helper()
	b, err := json.MarshalIndent(struct {
		Machine string       `json:"machine"`
		Report  *soak.Report `json:"report"`
	}{fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version()), rep}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
