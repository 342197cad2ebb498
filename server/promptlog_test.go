package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pensieve-llm/pensieve/server"
)

// Canaries of TestPromptLogging: none may reach the logs unless prompt
// logging is on, and the key never.
const (
	logKey          = "sk-log-canary-key-0c9d8e"
	logPromptCanary = "PROMPT-CANARY-2b7a61"
	logReplyCanary  = "REPLY-CANARY-5e4d"
)

// entryText is everything a log entry would print: message and fields.
func entryText(e observer.LoggedEntry) string {
	return fmt.Sprintf("%s %s %v", e.Level, e.Message, e.ContextMap())
}

func TestPromptLogging(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		t.Run(fmt.Sprintf("log_prompts=%v", enabled), func(t *testing.T) {
			obs, logs := observer.New(zapcore.DebugLevel)
			f := start(t, server.Config{APIKeys: []string{logKey}, LogPrompts: enabled},
				[]server.Model{testModel("m", &scriptGenerator{reply: logReplyCanary})}, server.WithLogger(zap.New(obs)))
			key := map[string]string{"x-api-key": logKey}
			bearer := map[string]string{"Authorization": "Bearer " + logKey}
			reqs := []struct {
				path, body string
				header     map[string]string
				status     int
				generates  bool
			}{
				{"/v1/messages", fmt.Sprintf(`{"model":"m","max_tokens":64,"messages":[{"role":"user","content":%q}]}`, logPromptCanary), key, 200, true},
				{"/v1/messages", streamBody("m", logPromptCanary, 64, ""), bearer, 200, true},
				{"/v1/chat/completions", fmt.Sprintf(`{"model":"m","max_tokens":64,"messages":[{"role":"user","content":%q}]}`, logPromptCanary), key, 200, true},
				{"/v1/messages/count_tokens", fmt.Sprintf(`{"model":"m","messages":[{"role":"user","content":%q}]}`, logPromptCanary), key, 200, false},
				// Refused before a prompt exists: trailing whitespace in the prefill.
				{"/v1/messages", fmt.Sprintf(`{"model":"m","max_tokens":64,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":%q}]}`, logPromptCanary+" "), key, 400, false},
				{"/v1/messages", `{"model":"m","max_tokens":4,"messages":[]}`, map[string]string{"x-api-key": logKey + "-wrong"}, 401, false},
			}
			ids := map[string]bool{} // request ids of the generations
			for _, r := range reqs {
				res, body := f.do(t, http.MethodPost, r.path, r.body, r.header)
				if res.StatusCode != r.status {
					t.Fatalf("%s: status %d, want %d: %s", r.path, res.StatusCode, r.status, body)
				}
				if r.generates {
					if !strings.Contains(string(body), logReplyCanary[:8]) && !strings.Contains(string(body), "message_stop") {
						t.Fatalf("%s: the reply lacks the canary: %s", r.path, body)
					}
					ids[res.Header.Get("request-id")] = true
				}
			}
			// Access log lines come after the responses: wait for all.
			waitFor(t, "every request is logged", func() bool { return logs.FilterMessage("request").Len() == len(reqs) })

			var prompts, completions int
			for _, e := range logs.All() {
				text := entryText(e)
				if strings.Contains(text, logKey) {
					t.Errorf("a log entry holds the API key: %s", text)
				}
				fields := e.ContextMap()
				switch {
				case e.Message == "prompt" && enabled:
					prompts++
					if e.Level != zapcore.InfoLevel || !ids[fmt.Sprint(fields["request_id"])] {
						t.Errorf("prompt entry at %s with request_id %v, want info and a generation's id", e.Level, fields["request_id"])
					}
					got := fmt.Sprint(fields["prompt"])
					if want := "user: " + logPromptCanary + eot + genPrompt; got != want {
						t.Errorf("logged prompt %q, want %q", got, want)
					}
				case e.Message == "completion" && enabled:
					completions++
					if got := fmt.Sprint(fields["completion"]); got != logReplyCanary {
						t.Errorf("logged completion %q, want %q", got, logReplyCanary)
					}
					if !ids[fmt.Sprint(fields["request_id"])] {
						t.Errorf("completion entry with request_id %v", fields["request_id"])
					}
				case strings.Contains(text, logPromptCanary) || strings.Contains(text, logReplyCanary[:8]):
					t.Errorf("a log entry holds prompt or reply text: %s", text)
				}
			}
			want := 0
			if enabled {
				want = len(ids)
			}
			if prompts != want || completions != want {
				t.Errorf("%d prompt and %d completion entries, want %d of each", prompts, completions, want)
			}
		})
	}
}
