package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/pensieve-llm/pensieve/server"
)

// TestModelNamesAreNotPaths checks that a model name is only ever looked
// up among the configured ids and aliases: path-like names get 404 on
// every route that takes a model, and the loader of on-demand models is
// never asked to load anything for them.
func TestModelNamesAreNotPaths(t *testing.T) {
	l := newFakeLoader("hello")
	f := start(t, server.Config{DisableClaudeAliases: true},
		[]server.Model{onDemand("local", 0, "alias"), onDemand("stray.gguf", 0)}, server.WithLoader(l.load))
	names := []string{"../../etc/passwd", "/etc/passwd", "..%2F..%2Fetc%2Fpasswd", `..\..\etc\passwd`,
		"....//....//etc/passwd", "../../../../etc/passwd\x00.gguf", "./local", "local/../local", "../local",
		"local.gguf", "/local", "~/local", "file:///etc/passwd", "stray", "./stray.gguf", "alias/..", "LOCAL"}
	for _, name := range names {
		t.Run(url.PathEscape(name), func(t *testing.T) {
			b, err := json.Marshal(name)
			if err != nil {
				t.Fatal(err)
			}
			q := string(b)
			res, body := f.do(t, http.MethodPost, "/v1/messages", `{"model":`+q+`,"max_tokens":4,"messages":[{"role":"user","content":"hi"}]}`, nil)
			checkError(t, res, body, http.StatusNotFound, "not_found_error", "model: ")
			res, body = f.do(t, http.MethodPost, "/v1/messages/count_tokens", `{"model":`+q+`,"messages":[{"role":"user","content":"hi"}]}`, nil)
			checkError(t, res, body, http.StatusNotFound, "not_found_error", "model: ")
			res, body = f.do(t, http.MethodPost, "/v1/chat/completions", `{"model":`+q+`,"messages":[{"role":"user","content":"hi"}]}`, nil)
			checkError(t, res, body, http.StatusNotFound, "not_found_error", "")
			res, body = f.do(t, http.MethodGet, "/v1/models/"+url.PathEscape(name), "", nil)
			checkError(t, res, body, http.StatusNotFound, "not_found_error", "")
		})
	}
	for _, id := range []string{"local", "stray.gguf"} {
		if loads, _ := l.counts(id); loads != 0 {
			t.Errorf("the loader was asked for %s %d times", id, loads)
		}
	}
	// Control: the configured names do load.
	if got := f.message(t, "alias"); got == "" {
		t.Error("the alias of a configured model answered nothing")
	}
	if loads, _ := l.counts("local"); loads != 1 {
		t.Errorf("a request for the alias loaded local %d times, want 1", loads)
	}
}
