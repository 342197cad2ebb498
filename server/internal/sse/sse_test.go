package sse

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestWriterFraming(t *testing.T) {
	tests := []struct {
		name   string
		write  func(*Writer) error
		want   string
		header string
	}{
		{
			name: "anthropic events",
			write: func(w *Writer) error {
				if err := w.Event("ping", []byte(`{"type":"ping"}`)); err != nil {
					return err
				}
				return w.Event("message_stop", []byte(`{"type":"message_stop"}`))
			},
			want:   "event: ping\ndata: {\"type\":\"ping\"}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
			header: ContentType,
		},
		{
			name:   "openai data only",
			write:  func(w *Writer) error { return w.Event("", []byte("[DONE]")) },
			want:   "data: [DONE]\n\n",
			header: ContentType,
		},
		{
			name:   "comment",
			write:  func(w *Writer) error { return w.Comment("keep-alive") },
			want:   ": keep-alive\n\n",
			header: ContentType,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if err := tt.write(NewWriter(w, time.Second)); err != nil {
					t.Errorf("write: %v", err)
				}
			}))
			defer ts.Close()
			res, err := http.Get(ts.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(body)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if got := res.Header.Get("Content-Type"); got != tt.header {
				t.Errorf("Content-Type = %q, want %q", got, tt.header)
			}
			if got := res.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control = %q, want no-cache", got)
			}
		})
	}
}

func TestWriterRejectsMultiline(t *testing.T) {
	w := NewWriter(httptest.NewRecorder(), 0)
	for _, data := range []string{"a\nb", "a\rb"} {
		if err := w.Event("x", []byte(data)); !errors.Is(err, ErrMultiline) {
			t.Errorf("Event(%q) = %v, want ErrMultiline", data, err)
		}
	}
	if w.Started() {
		t.Error("a rejected event must not start the stream")
	}
}

// TestWriterFlushesEachEvent proves an event reaches the client before the
// handler returns: the handler waits for the client to have read it.
func TestWriterFlushesEachEvent(t *testing.T) {
	seen := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := NewWriter(w, time.Second)
		if err := sw.Event("one", []byte(`{}`)); err != nil {
			t.Errorf("event: %v", err)
			return
		}
		select {
		case <-seen:
		case <-time.After(5 * time.Second):
			t.Error("client did not receive the first event before the handler returned")
		}
	}))
	defer ts.Close()
	res, err := http.Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if line != "event: one\n" {
		t.Errorf("first line = %q", line)
	}
	close(seen)
}

// TestWriterExtendsWriteDeadline runs a stream longer than the server's
// WriteTimeout: each event pushes the deadline forward, so it survives.
func TestWriterExtendsWriteDeadline(t *testing.T) {
	const timeout = 150 * time.Millisecond
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := NewWriter(w, timeout)
		for range 6 {
			if err := sw.Event("tick", []byte(`{}`)); err != nil {
				t.Errorf("event: %v", err)
				return
			}
			time.Sleep(timeout / 2)
		}
	}))
	ts.Config.WriteTimeout = timeout
	ts.Start()
	defer ts.Close()
	res, err := http.Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("stream cut: %v", err)
	}
	var want string
	for range 6 {
		want += "event: tick\ndata: {}\n\n"
	}
	if diff := cmp.Diff(want, string(body)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}
