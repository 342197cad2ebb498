package hub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/core"
)

// fakeHub behaves like huggingface.co for LFS files: /resolve/ answers 302
// to a CDN on another host with X-Linked-Etag (the file's SHA-256) and
// X-Linked-Size; the CDN serves the bytes with ranges and its own ETag.
type fakeHub struct {
	t     *testing.T
	files map[string][]byte // "org/repo/resolve/rev/file" → contents
	hub   *httptest.Server
	cdn   *httptest.Server

	mu         sync.Mutex // guards the fields below
	linkedSHA  map[string]string
	cutNext    int // cut the next n CDN responses half-way
	ignoreRng  bool
	hubAuth    []string // Authorization headers seen by the hub
	cdnAuth    []string // Authorization headers seen by the CDN
	cdnRanges  []string // Range headers seen by the CDN
	hubHeaders int
}

func newFakeHub(t *testing.T) *fakeHub {
	h := &fakeHub{t: t, files: map[string][]byte{}, linkedSHA: map[string]string{}}
	h.cdn = httptest.NewServer(http.HandlerFunc(h.serveCDN))
	h.hub = httptest.NewServer(http.HandlerFunc(h.serveHub))
	t.Cleanup(func() { h.hub.Close(); h.cdn.Close() })
	return h
}

func (h *fakeHub) add(key string, data []byte) {
	sum := sha256.Sum256(data)
	h.files[key] = data
	h.linkedSHA[key] = hex.EncodeToString(sum[:])
}

func (h *fakeHub) serveHub(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.EscapedPath(), "/")
	h.mu.Lock()
	h.hubAuth = append(h.hubAuth, r.Header.Get("Authorization"))
	sha := h.linkedSHA[key]
	h.mu.Unlock()
	data, ok := h.files[key]
	if !ok {
		w.Header().Set("X-Error-Code", "EntryNotFound")
		w.Header().Set("X-Error-Message", "Entry not found")
		http.Error(w, "Entry not found", http.StatusNotFound)
		return
	}
	w.Header().Set("X-Linked-Etag", `"`+sha+`"`)
	w.Header().Set("X-Linked-Size", fmt.Sprint(len(data)))
	w.Header().Set("ETag", `W/"0123456789abcdef0123456789abcdef01234567"`) // git blob sha1
	// The CDN is reached as "localhost", a different host from the hub's
	// 127.0.0.1, like cdn-lfs.huggingface.co: the token must not follow.
	cdn := strings.Replace(h.cdn.URL, "127.0.0.1", "localhost", 1)
	http.Redirect(w, r, cdn+"/blob/"+key+"?X-Amz-Signature=abc", http.StatusFound)
}

func (h *fakeHub) serveCDN(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.EscapedPath(), "/blob/")
	data, ok := h.files[key]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h.mu.Lock()
	h.cdnAuth = append(h.cdnAuth, r.Header.Get("Authorization"))
	h.cdnRanges = append(h.cdnRanges, r.Header.Get("Range"))
	cut := h.cutNext > 0
	if cut {
		h.cutNext--
	}
	ignore := h.ignoreRng
	h.mu.Unlock()
	w.Header().Set("ETag", `"d41d8cd98f00b204e9800998ecf8427e"`) // an S3 MD5, not the file's SHA-256
	if ignore {
		r.Header.Del("Range")
	}
	if cut {
		// Promise the whole body, send half, then drop the connection.
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

func (h *fakeHub) client(t *testing.T, opts ...Option) *Client {
	t.Helper()
	c, err := New(h.hub.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// payload returns n bytes that differ from one test to another.
func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	out := []string{}
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

var ref = Ref{Repo: "org/repo", File: "model-q4.gguf"}

func TestDownloadSuccessThroughCDNRedirect(t *testing.T) {
	h := newFakeHub(t)
	data := payload(700_000, 1)
	h.add("org/repo/resolve/main/model-q4.gguf", data)
	dir := filepath.Join(t.TempDir(), "models")
	var seen []Progress
	res, err := h.client(t, WithToken("hf_token")).Download(context.Background(), Request{
		Ref: ref, Dir: dir, Progress: func(p Progress) { seen = append(seen, p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Result{Path: filepath.Join(dir, "model-q4.gguf"), Size: int64(len(data)), SHA256: sum(data), Verified: true}
	if d := cmp.Diff(want, res); d != "" {
		t.Errorf("result (-want +got)\n%s", d)
	}
	got, _ := os.ReadFile(res.Path)
	if !bytes.Equal(got, data) {
		t.Error("file contents differ")
	}
	if d := cmp.Diff([]string{"model-q4.gguf"}, dirEntries(t, dir)); d != "" {
		t.Errorf("dir (-want +got)\n%s", d)
	}
	if d := cmp.Diff([]string{"Bearer hf_token"}, h.hubAuth); d != "" {
		t.Errorf("hub auth (-want +got)\n%s", d)
	}
	if d := cmp.Diff([]string{""}, h.cdnAuth); d != "" {
		t.Errorf("the token leaked to the CDN (-want +got)\n%s", d)
	}
	if len(seen) < 2 || seen[0] != (Progress{0, int64(len(data))}) || seen[len(seen)-1] != (Progress{int64(len(data)), int64(len(data))}) {
		t.Errorf("progress %v…", seen[:min(len(seen), 3)])
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].Done < seen[i-1].Done {
			t.Fatalf("progress went backwards: %v", seen)
		}
	}

	t.Run("already present", func(t *testing.T) {
		before := len(h.hubAuth)
		res, err := h.client(t).Download(context.Background(), Request{Ref: ref, Dir: dir})
		if err != nil || !res.Skipped || res.Size != int64(len(data)) || len(h.hubAuth) != before {
			t.Fatalf("res %+v err %v requests %d→%d", res, err, before, len(h.hubAuth))
		}
	})
	t.Run("force downloads again", func(t *testing.T) {
		res, err := h.client(t).Download(context.Background(), Request{Ref: ref, Dir: dir, Force: true})
		if err != nil || res.Skipped || !res.Verified {
			t.Fatalf("res %+v err %v", res, err)
		}
	})
}

func TestDownloadInterruptedThenResumed(t *testing.T) {
	h := newFakeHub(t)
	data := payload(1_000_000, 2)
	h.add("org/repo/resolve/v1.0/model-q4.gguf", data)
	r := ref
	r.Revision = "v1.0"
	dir := t.TempDir()
	h.cutNext = 1

	_, err := h.client(t).Download(context.Background(), Request{Ref: r, Dir: dir})
	if !errors.Is(err, core.KindUnavailable) || !strings.Contains(err.Error(), "run again to resume") {
		t.Fatalf("err = %v, want an interrupted download", err)
	}
	if d := cmp.Diff([]string{"model-q4.gguf.partial"}, dirEntries(t, dir)); d != "" {
		t.Fatalf("after the cut (-want +got)\n%s", d)
	}
	st, _ := os.Stat(filepath.Join(dir, "model-q4.gguf.partial"))
	if st.Size() != int64(len(data)/2) {
		t.Fatalf("partial holds %d bytes, want %d", st.Size(), len(data)/2)
	}

	res, err := h.client(t).Download(context.Background(), Request{Ref: r, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != int64(len(data)/2) || !res.Verified || res.SHA256 != sum(data) {
		t.Errorf("result %+v", res)
	}
	if d := cmp.Diff([]string{"", fmt.Sprintf("bytes=%d-", len(data)/2)}, h.cdnRanges); d != "" {
		t.Errorf("ranges (-want +got)\n%s", d)
	}
	got, _ := os.ReadFile(res.Path)
	if !bytes.Equal(got, data) {
		t.Error("resumed file differs")
	}
	if d := cmp.Diff([]string{"model-q4.gguf"}, dirEntries(t, dir)); d != "" {
		t.Errorf("dir (-want +got)\n%s", d)
	}
}

func TestDownloadRetriesWithinOneCall(t *testing.T) {
	h := newFakeHub(t)
	data := payload(300_000, 3)
	h.add("org/repo/resolve/main/model-q4.gguf", data)
	h.cutNext = 2
	res, err := h.client(t, WithRetries(2, time.Millisecond)).Download(context.Background(), Request{Ref: ref, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// The second cut response starts from the range but is a 200 of the whole
	// file, which restarts; the third resumes from its half.
	if res.SHA256 != sum(data) || !res.Verified || len(h.cdnRanges) != 3 {
		t.Errorf("result %+v ranges %q", res, h.cdnRanges)
	}
}

func TestDownloadServerIgnoresRange(t *testing.T) {
	h := newFakeHub(t)
	data := payload(200_000, 4)
	h.add("org/repo/resolve/main/model-q4.gguf", data)
	dir := t.TempDir()
	// A stale partial of garbage: the server answers 200, so it is replaced.
	os.WriteFile(filepath.Join(dir, "model-q4.gguf.partial"), []byte("garbage"), 0o644)
	h.ignoreRng = true
	res, err := h.client(t).Download(context.Background(), Request{Ref: ref, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != 0 || res.SHA256 != sum(data) || h.cdnRanges[0] != "bytes=7-" {
		t.Errorf("result %+v ranges %q", res, h.cdnRanges)
	}
}

func TestDownloadPartialAlreadyComplete(t *testing.T) {
	h := newFakeHub(t)
	data := payload(50_000, 5)
	h.add("org/repo/resolve/main/model-q4.gguf", data)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "model-q4.gguf.partial"), data, 0o644)
	res, err := h.client(t).Download(context.Background(), Request{Ref: ref, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != int64(len(data)) || !res.Verified || res.Size != int64(len(data)) {
		t.Errorf("result %+v", res)
	}
	if d := cmp.Diff([]string{"model-q4.gguf"}, dirEntries(t, dir)); d != "" {
		t.Errorf("dir (-want +got)\n%s", d)
	}
}

func TestDownloadChecksumMismatch(t *testing.T) {
	h := newFakeHub(t)
	data := payload(100_000, 6)
	key := "org/repo/resolve/main/model-q4.gguf"
	h.add(key, data)
	h.linkedSHA[key] = sum([]byte("something else"))
	dir := filepath.Join(t.TempDir(), "m")
	_, err := h.client(t).Download(context.Background(), Request{Ref: ref, Dir: dir})
	if !errors.Is(err, core.KindInvalid) || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("err = %v", err)
	}
	if d := cmp.Diff([]string{}, dirEntries(t, dir)); d != "" {
		t.Errorf("left behind (-want +got)\n%s", d)
	}
}

func TestDownloadErrors(t *testing.T) {
	h := newFakeHub(t)
	h.add("org/repo/resolve/main/model-q4.gguf", payload(10, 7))
	denied := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := http.StatusUnauthorized
		if strings.Contains(r.URL.Path, "forbidden") {
			code = http.StatusForbidden
		}
		http.Error(w, "gated", code)
	}))
	defer denied.Close()
	tests := []struct {
		name     string
		endpoint string
		ref      Ref
		kind     core.Kind
		msg      string
	}{
		{"404", h.hub.URL, Ref{Repo: "org/repo", File: "missing.gguf"}, core.KindNotFound, "not found on the hub (404: Entry not found)"},
		{"wrong revision", h.hub.URL, Ref{Repo: "org/repo", File: "model-q4.gguf", Revision: "v9"}, core.KindNotFound, "org/repo/model-q4.gguf@v9"},
		{"401", denied.URL, Ref{Repo: "org/gated", File: "m.gguf"}, core.KindUnauthenticated, "set HF_TOKEN"},
		{"403", denied.URL, Ref{Repo: "org/forbidden", File: "m.gguf"}, core.KindPermission, "accept the model's terms"},
		{"hub down", "http://127.0.0.1:1", ref, core.KindUnavailable, "connect"},
		{"bad ref", h.hub.URL, Ref{Repo: "org/repo", File: "../x.gguf"}, core.KindInvalid, "'..'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.endpoint)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), "m")
			_, err = c.Download(context.Background(), Request{Ref: tt.ref, Dir: dir})
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want kind %v containing %q", err, tt.kind, tt.msg)
			}
			if d := cmp.Diff([]string{}, dirEntries(t, dir)); d != "" {
				t.Errorf("left behind (-want +got)\n%s", d)
			}
		})
	}
}

func TestDownloadCanceledKeepsPartial(t *testing.T) {
	data := payload(1<<20, 8)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data[:1000])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	c, _ := New(srv.URL)
	dir := t.TempDir()
	_, err := c.Download(ctx, Request{Ref: ref, Dir: dir, Progress: func(p Progress) {
		if p.Done >= 1000 {
			cancel() // as Ctrl-C would, once some bytes are on disk
		}
	}})
	if !errors.Is(err, core.KindCanceled) {
		t.Fatalf("err = %v", err)
	}
	st, err := os.Stat(filepath.Join(dir, "model-q4.gguf.partial"))
	if err != nil || st.Size() != 1000 {
		t.Fatalf("partial: %v, %v", st, err)
	}
}
