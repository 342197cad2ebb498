package server_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pensieve-llm/pensieve/server"
)

// countingHost is a loopback server that would serve a PNG header and
// counts every request it gets.
func countingHost(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("\x89PNG\r\n\x1a\n"))
	}))
	t.Cleanup(ts.Close)
	return ts, &hits
}

func imageURLBody(u string) string {
	return fmt.Sprintf(`{"model":"m","max_tokens":4,"messages":[{"role":"user","content":[{"type":"text","text":"what is it?"},{"type":"image","source":{"type":"url","url":%q}}]}]}`, u)
}

func TestImageURLsOffByDefault(t *testing.T) {
	target, hits := countingHost(t)
	f := start(t, server.Config{}, []server.Model{testModel("m", &scriptGenerator{reply: "ok"})})
	res, body := f.do(t, http.MethodPost, "/v1/messages", imageURLBody(target.URL+"/cat.png"), nil)
	checkError(t, res, body, http.StatusBadRequest, "invalid_request_error",
		"messages.0.content.1.source: image URLs are not fetched by this server; send the image as base64, or enable fetching with server.image_urls.fetch")
	// Streaming, in a tool result, and through the OpenAI endpoint.
	nested := fmt.Sprintf(`{"model":"m","max_tokens":4,"stream":true,"messages":[
		{"role":"user","content":"look"},
		{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"look","input":{}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"image","source":{"type":"url","url":%q}}]}]}]}`, target.URL)
	res, body = f.do(t, http.MethodPost, "/v1/messages", nested, nil)
	checkError(t, res, body, http.StatusBadRequest, "invalid_request_error", "messages.2.content.0.content.0.source: image URLs are not fetched")
	chat := fmt.Sprintf(`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":%q}}]}]}`, target.URL)
	res, body = f.do(t, http.MethodPost, "/v1/chat/completions", chat, nil)
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "image URLs are not fetched") {
		t.Errorf("chat completion with an image URL: %d %s", res.StatusCode, body)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the image host got %d requests", n)
	}
}

// TestImageURLsLoopbackRefused enables fetching: a loopback host, named
// or literal, is refused before anything is sent to it, and the error
// names only the host the client gave.
func TestImageURLsLoopbackRefused(t *testing.T) {
	target, hits := countingHost(t)
	port := target.URL[strings.LastIndex(target.URL, ":")+1:]
	f := start(t, server.Config{ImageURLs: server.ImageURLs{Fetch: true}}, []server.Model{testModel("m", &scriptGenerator{reply: "ok"})})
	for _, host := range []string{"localhost", "127.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "2130706433", "0x7f.0.0.1"} {
		u := "http://" + host + ":" + port + "/cat.png"
		res, body := f.do(t, http.MethodPost, "/v1/messages", imageURLBody(u), nil)
		checkError(t, res, body, http.StatusBadRequest, "invalid_request_error", "messages.0.content.1.source.url: fetching the image from ")
		if host == "localhost" && strings.Contains(string(body), "127.0.0.1") {
			t.Errorf("the error reveals the address behind localhost: %s", body)
		}
	}
	for _, u := range []string{"file:///etc/passwd", "ftp://example.com/cat.png"} {
		res, body := f.do(t, http.MethodPost, "/v1/messages", imageURLBody(u), nil)
		checkError(t, res, body, http.StatusBadRequest, "invalid_request_error", "messages.0.content.1.source.url: fetching the image from ")
		if !strings.Contains(string(body), "only http and https") {
			t.Errorf("%s: %s", u, body)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the loopback image host got %d requests", n)
	}
}
