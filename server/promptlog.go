package server

import (
	"strings"

	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/claude"
	"github.com/pensieve-llm/pensieve/core"
)

// logPrompt logs prep's rendered prompt at info level when
// Config.LogPrompts is set. log carries the request id; nothing here ever
// sees an API key.
func (s *Server) logPrompt(log *zap.Logger, prep *claude.Prepared) {
	if !s.cfg.LogPrompts {
		return
	}
	log.Info("prompt", zap.String("prompt", prep.Prompt), zap.Int("prompt_tokens", prep.InputTokens()))
}

// completionLog gathers a generation's text for the "completion" log
// line of Config.LogPrompts; a nil *completionLog does nothing.
type completionLog struct {
	log  *zap.Logger
	text strings.Builder
}

// completionLogFor returns the gatherer for one generation, or nil when
// prompts are not logged.
func (s *Server) completionLogFor(log *zap.Logger) *completionLog {
	if !s.cfg.LogPrompts || log == nil {
		return nil
	}
	return &completionLog{log: log}
}

// add takes one engine event; the final one writes the log line.
func (cl *completionLog) add(ev *core.Event) {
	if cl == nil {
		return
	}
	cl.text.WriteString(ev.Text)
	if !ev.Done {
		return
	}
	fields := []zap.Field{zap.String("completion", cl.text.String()), zap.Int("generated_tokens", ev.Usage.GeneratedTokens)}
	if ev.Err != nil {
		fields = append(fields, zap.String("error", errorKind(ev.Err)))
	} else {
		fields = append(fields, zap.String("stop_reason", string(ev.StopReason)))
	}
	cl.log.Info("completion", fields...)
}
