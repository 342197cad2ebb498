package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pensieve-llm/pensieve/claude"
	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/engine/enginetest"
)

func TestPublicAddr(t *testing.T) {
	tests := []struct {
		addr   string
		public bool
	}{
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"2606:4700:4700::1111", true},
		{"::ffff:8.8.8.8", true},
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"169.254.0.1", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"100.64.0.1", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"255.255.255.255", false},
		{"198.18.0.1", false},
		{"::1", false},
		{"::", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"ff02::1", false},
		{"ff05::2", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"64:ff9b::7f00:1", false}, // NAT64 of 127.0.0.1
		{"2002:7f00:1::1", false},  // 6to4 of 127.0.0.1
		{"fec0::1", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := publicAddr(netip.MustParseAddr(tt.addr)); got != tt.public {
				t.Errorf("publicAddr(%s) = %v, want %v", tt.addr, got, tt.public)
			}
		})
	}
}

func TestCheckImageURL(t *testing.T) {
	tests := []struct {
		url  string
		want string // "" when allowed; else part of the error
	}{
		{"http://example.com/cat.png", ""},
		{"https://images.example.org:8443/a/b.jpg?x=1", ""},
		{"https://8.8.8.8/x.png", ""},
		{"https://[2606:4700:4700::1111]/x.png", ""},
		{"HTTP://Example.COM/x.png", ""},
		{"file:///etc/passwd", "only http and https"},
		{"ftp://example.com/x.png", "only http and https"},
		{"gopher://example.com/", "only http and https"},
		{"data:image/png;base64,AAAA", "only http and https"},
		{"http:///x.png", "no host"},
		{"http://127.0.0.1/x.png", "non-public"},
		{"http://127.0.0.1:8080/x.png", "non-public"},
		{"http://10.0.0.1/x.png", "non-public"},
		{"http://169.254.169.254/latest/meta-data/", "non-public"},
		{"http://[::1]/x.png", "non-public"},
		{"http://[::ffff:127.0.0.1]/x.png", "non-public"},
		{"http://[fe80::1%25eth0]/x.png", "non-public"},
		{"http://[fd00::1]/x.png", "non-public"},
		{"http://0.0.0.0/x.png", "non-public"},
		// Numeric spellings resolvers read as 127.0.0.1: refused, not resolved.
		{"http://2130706433/x.png", "neither an IP address nor a host name"},
		{"http://0177.0.0.1/x.png", "neither an IP address nor a host name"},
		{"http://0x7f.0.0.1/x.png", "neither an IP address nor a host name"},
		{"http://0x7f000001/x.png", "neither an IP address nor a host name"},
		{"http://127.1/x.png", "neither an IP address nor a host name"},
		{"http://127.0.0.1./x.png", "neither an IP address nor a host name"},
		{"http://017700000001/x.png", "neither an IP address nor a host name"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			err = newImageFetcher(ImageURLs{Fetch: true}).checkURL(u)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// A 1×1 PNG.
var testPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89" +
	"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")

// imageHost is a loopback HTTP server of test images that counts hits per
// path:
//
//	/png                 the PNG
//	/big?n=N             an N-byte PNG-headed body (chunked when chunked=1)
//	/html                an HTML page
//	/liar                text served as image/png
//	/redirect/N          N redirects, then the PNG
//	/redirect-to?u=URL   one redirect to URL
//	/slow                nothing until the client gives up
//	/404                 not found
type imageHost struct {
	*httptest.Server
	hits atomic.Int64
	png  atomic.Int64 // hits of /png
}

func newImageHost(t *testing.T) *imageHost {
	h := &imageHost{}
	mux := http.NewServeMux()
	mux.HandleFunc("/png", func(w http.ResponseWriter, _ *http.Request) {
		h.png.Add(1)
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(testPNG)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		body := append(append([]byte{}, testPNG...), bytes.Repeat([]byte{0}, max(0, n-len(testPNG)))...)
		w.Header().Set("Content-Type", "image/png")
		if r.URL.Query().Get("chunked") == "1" {
			for i := 0; i < len(body); i += 64 {
				_, _ = w.Write(body[i:min(len(body), i+64)])
				w.(http.Flusher).Flush()
			}
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
	mux.HandleFunc("/html", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><body>not an image</body></html>"))
	})
	mux.HandleFunc("/liar", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("plain text pretending"))
	})
	mux.HandleFunc("/redirect/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		if n <= 0 {
			http.Redirect(w, r, "/png", http.StatusFound)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/redirect/%d", n-1), http.StatusFound)
	})
	mux.HandleFunc("/redirect-to", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("u"), http.StatusFound)
	})
	mux.HandleFunc("/slow", func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.hits.Add(1)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(h.Close)
	return h
}

// loopbackFetcher is a fetcher whose address check lets the loopback test
// server through (and only it).
func loopbackFetcher(maxBytes int64, timeout time.Duration) *imageFetcher {
	f := newImageFetcher(ImageURLs{Fetch: true, MaxBytes: maxBytes, Timeout: timeout})
	f.allowed = func(a netip.Addr) bool { return a.Unmap() == netip.MustParseAddr("127.0.0.1") }
	return f
}

func TestImageFetcher(t *testing.T) {
	h := newImageHost(t)
	base, _ := url.Parse(h.URL)
	at := func(path string) *url.URL {
		u, err := base.Parse(path)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	f := loopbackFetcher(1000, 2*time.Second)

	t.Run("png", func(t *testing.T) {
		typ, data, err := f.fetch(context.Background(), at("/png"))
		if err != nil || typ != "image/png" || !bytes.Equal(data, testPNG) {
			t.Fatalf("fetch = %q, %d bytes, %v; want image/png and the PNG", typ, len(data), err)
		}
	})
	t.Run("three redirects", func(t *testing.T) {
		if _, _, err := f.fetch(context.Background(), at("/redirect/2")); err != nil { // 2 + the one to /png
			t.Fatal(err)
		}
	})
	refusals := []struct {
		name, path, want string
	}{
		{"four redirects", "/redirect/3", "more than 3 redirects"},
		{"at the size cap plus one", "/big?n=1001", "larger than 1000 bytes"},
		{"over the size cap, chunked", "/big?n=5000&chunked=1", "larger than 1000 bytes"},
		{"html", "/html", `the content type is "text/html"`},
		{"content that is not what it claims", "/liar", "not a image/png image"},
		{"not found", "/404", "HTTP 404"},
		{"redirect to another scheme", "/redirect-to?u=" + url.QueryEscape("file:///etc/passwd"), "only http and https"},
		{"redirect to a loopback literal", "/redirect-to?u=" + url.QueryEscape("http://[::1]:1/png"), "non-public"},
		{"redirect to the metadata address", "/redirect-to?u=" + url.QueryEscape("http://169.254.169.254/latest/meta-data/"), "non-public"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := f.fetch(context.Background(), at(tt.path))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
	t.Run("at the size cap", func(t *testing.T) {
		if _, data, err := f.fetch(context.Background(), at("/big?n=1000&chunked=1")); err != nil || len(data) != 1000 {
			t.Errorf("fetch = %d bytes, %v", len(data), err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		slow := loopbackFetcher(1000, 100*time.Millisecond)
		start := time.Now()
		_, _, err := slow.fetch(context.Background(), at("/slow"))
		if err == nil || !strings.Contains(err.Error(), "timed out after 100ms") {
			t.Errorf("err = %v, want a timeout", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("the fetch took %v with a 100ms timeout", d)
		}
	})
	t.Run("redirect to a name that resolves to a refused address", func(t *testing.T) {
		// Every connection is checked when dialled: this fetcher lets the
		// first one through and refuses the next, the redirect's.
		var dials atomic.Int64
		once := newImageFetcher(ImageURLs{Fetch: true, MaxBytes: 1000, Timeout: 2 * time.Second})
		once.allowed = func(netip.Addr) bool { return dials.Add(1) == 1 }
		before := h.png.Load()
		_, _, err := once.fetch(context.Background(), at("/redirect/0"))
		if !errors.Is(err, errNotPublic) {
			t.Errorf("err = %v, want the non-public refusal", err)
		}
		if n := h.png.Load() - before; n != 0 {
			t.Errorf("the redirect's target was fetched %d times", n)
		}
	})
	t.Run("loopback refused by the default policy", func(t *testing.T) {
		strict := newImageFetcher(ImageURLs{Fetch: true, MaxBytes: 1000, Timeout: 2 * time.Second})
		before := h.hits.Load()
		for _, host := range []string{"localhost", "127.0.0.1", "[::ffff:127.0.0.1]"} {
			u := at("/png")
			u.Host = host + ":" + base.Port()
			if _, _, err := strict.fetch(context.Background(), u); !errors.Is(err, errNotPublic) {
				t.Errorf("%s: err = %v, want the non-public refusal", u, err)
			}
		}
		if n := h.hits.Load() - before; n != 0 {
			t.Errorf("the loopback server got %d requests", n)
		}
	})
}

// TestResolveImageURLs checks that a fetched image replaces its URL source
// with a base64 one wherever it sits, and that failures name the block.
func TestResolveImageURLs(t *testing.T) {
	h := newImageHost(t)
	s := &Server{images: loopbackFetcher(1000, 2*time.Second)}
	img := func(path string) string {
		return fmt.Sprintf(`{"type":"image","source":{"type":"url","url":%q}}`, h.URL+path)
	}
	body := fmt.Sprintf(`{"model":"m","max_tokens":4,"messages":[
		{"role":"user","content":[%s,{"type":"text","text":"what is it?"}]},
		{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"look","input":{}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[%s]}]}]}`, img("/png"), img("/redirect/1"))
	req, err := claude.DecodeRequest([]byte(body), claude.Version20230601)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.resolveImageURLs(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	want := claude.Source{Type: claude.SourceBase64, MediaType: "image/png", Data: base64.StdEncoding.EncodeToString(testPNG)}
	top := req.Messages[0].Content[0].(claude.ImageBlock).Source
	nested := req.Messages[2].Content[0].(claude.ToolResultBlock).Content[0].(claude.ImageBlock).Source
	for name, got := range map[string]claude.Source{"message image": top, "tool result image": nested} {
		if got.Type != want.Type || got.MediaType != want.MediaType || got.Data != want.Data || got.URL != "" {
			t.Errorf("%s source = %+v, want the base64 PNG", name, got)
		}
	}

	body = fmt.Sprintf(`{"model":"m","max_tokens":4,"messages":[{"role":"user","content":[{"type":"text","text":"a"},%s]}]}`, img("/html"))
	req, err = claude.DecodeRequest([]byte(body), claude.Version20230601)
	if err != nil {
		t.Fatal(err)
	}
	err = s.resolveImageURLs(context.Background(), req)
	if core.KindOf(err) != core.KindInvalid || !strings.Contains(err.Error(), `messages.0.content.1.source.url: fetching the image from "127.0.0.1" failed: the content type is "text/html"`) {
		t.Errorf("err = %v", err)
	}
}

// plainTemplate renders "role: content" lines (the image tests never get
// as far as a generation).
type plainTemplate struct{}

func (plainTemplate) Render(req core.ChatRequest) (string, error) {
	var sb strings.Builder
	for _, m := range req.Messages {
		sb.WriteString(m.Role + ": " + m.Content + "\n")
	}
	return sb.String(), nil
}

func (plainTemplate) SupportsTools() bool { return false }

// refusingGenerator fails every generation: the image tests must stop
// before one starts.
type refusingGenerator struct{}

func (refusingGenerator) Generate(context.Context, *core.Request) (<-chan core.Event, error) {
	return nil, core.Errorf(core.KindInternal, "test", "a generation started")
}

// TestImageURLFetchedThenRefusedByTextModel runs the enabled policy over
// HTTP with the address check opened to the loopback image server: the
// image is fetched once and reaches the model as a base64 image, which a
// text-only model refuses as it refuses any image.
func TestImageURLFetchedThenRefusedByTextModel(t *testing.T) {
	h := newImageHost(t)
	s, err := New(Config{ImageURLs: ImageURLs{Fetch: true}}, []Model{{ID: "m", Generator: refusingGenerator{},
		Tokenizer: enginetest.ByteTokenizer(258), Template: plainTemplate{}, ContextLength: 4096, MaxOutputTokens: 64}})
	if err != nil {
		t.Fatal(err)
	}
	s.images.allowed = func(a netip.Addr) bool { return a.Unmap() == netip.MustParseAddr("127.0.0.1") }
	ts := httptest.NewServer(s.Handler())
	defer func() {
		ts.Close()
		if err := s.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	post := func(path string) (int, string) {
		body := fmt.Sprintf(`{"model":"m","max_tokens":4,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":%q}}]}]}`, h.URL+path)
		res, err := ts.Client().Post(ts.URL+"/v1/messages", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	status, body := post("/png")
	if status != http.StatusBadRequest || !strings.Contains(body, "cannot read images: it is a text-only model") {
		t.Errorf("fetched image: %d %s, want the text-only model's 400", status, body)
	}
	if n := h.png.Load(); n != 1 {
		t.Errorf("the image was fetched %d times, want 1", n)
	}
	status, body = post("/big?n=30000000")
	if status != http.StatusBadRequest || !strings.Contains(body, fmt.Sprintf("larger than %d bytes", DefaultImageURLMaxBytes)) ||
		!strings.Contains(body, `"invalid_request_error"`) {
		t.Errorf("oversized image: %d %s", status, body)
	}
}
