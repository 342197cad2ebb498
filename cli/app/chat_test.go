package app

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/core"
)

func TestInputReader(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  []string
		flush string // an unfinished message at the end of input
	}{
		{"single lines", []string{"a", "b"}, []string{"a", "b"}, ""},
		{"backslash", []string{`one \`, `two\`, "three"}, []string{"one \ntwo\nthree"}, ""},
		{"block", []string{`"""`, "x", "", `  y\`, `"""`, "z"}, []string{"x\n\n  y\\", "z"}, ""},
		{"crlf", []string{"a\r"}, []string{"a"}, ""},
		{"unterminated block", []string{`"""`, "x", "y"}, nil, "x\ny"},
		{"quotes inside a message", []string{`say """ please`}, []string{`say """ please`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r inputReader
			var got []string
			for _, l := range tt.lines {
				if msg, ok := r.add(l); ok {
					got = append(got, msg)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			rest, pending := r.flush()
			if rest != tt.flush || pending != (tt.flush != "") {
				t.Errorf("flush = %q, %v; want %q", rest, pending, tt.flush)
			}
		})
	}
}

// recorder is a core.Generator that records each request's prompt before
// passing it on.
type recorder struct {
	g       core.Generator
	prompts [][]core.TokenID
}

func (r *recorder) Generate(ctx context.Context, req *core.Request) (<-chan core.Event, error) {
	r.prompts = append(r.prompts, req.Prompt)
	return r.g.Generate(ctx, req)
}

// newTestSession opens a fixture model with a one-slot engine of
// contextLen positions (0: the engine's default).
func newTestSession(t *testing.T, contextLen int) (*chatSession, *recorder, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	be, err := openBackend(deviceCPU, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	lm, err := openModel(fixtureModel(t, "fx-llama-f32.gguf"), be, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lm.Close() })
	eng, err := newLocalEngine(lm, contextLen, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	rec := &recorder{g: eng}
	var out, notes bytes.Buffer
	s := &chatSession{lm: lm, gen: rec, context: eng.Stats().Context, maxTokens: 8, out: &out, notes: &notes}
	return s, rec, &out, &notes
}

func decodeIDs(tok core.Tokenizer, ids []core.TokenID) string {
	var b []byte
	for _, id := range ids {
		b = tok.Decode(b, id)
	}
	return string(b)
}

// TestChatHistory checks that each turn's prompt holds the conversation so
// far, that /system and /clear change it, and that a cleared conversation
// answers as a fresh one does (greedy decoding).
func TestChatHistory(t *testing.T) {
	s, rec, out, _ := newTestSession(t, 0)
	ctx := context.Background()
	in := "hello\n/system you are terse\nhow are\\\nyou?\n/clear\nhello\n/exit\nnever read\n"
	if err := s.loop(ctx, strings.NewReader(in), false); err != nil {
		t.Fatal(err)
	}
	answers := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(rec.prompts) != 3 {
		t.Fatalf("%d generations, want 3; output %q", len(rec.prompts), out.String())
	}
	tok := s.lm.Tokenizer
	first, second, third := decodeIDs(tok, rec.prompts[0]), decodeIDs(tok, rec.prompts[1]), decodeIDs(tok, rec.prompts[2])
	for _, want := range []string{"you are terse", "hello", "how are\nyou?"} {
		if !strings.Contains(second, want) {
			t.Errorf("second prompt %q lacks %q", second, want)
		}
	}
	if strings.Contains(first, "terse") {
		t.Errorf("first prompt %q has the later system prompt", first)
	}
	// /clear forgot the exchanges but kept the system prompt.
	if !strings.Contains(third, "you are terse") || strings.Contains(third, "how are") {
		t.Errorf("third prompt %q: want the system prompt and no history", third)
	}
	if len(s.history) != 2 {
		t.Errorf("history has %d turns after the last exchange, want 2", len(s.history))
	}
	if len(answers) < 1 || answers[0] == "" {
		t.Errorf("no answer in output %q", out.String())
	}
}

// TestChatContextOverflow: with a small context, old exchanges are dropped
// so that new turns still fit, and a message that can never fit is an
// error of that turn only.
func TestChatContextOverflow(t *testing.T) {
	s, rec, _, notes := newTestSession(t, 64)
	ctx := context.Background()
	long := strings.Repeat("x", 100)
	in := "first question\nsecond question\nthird question\n" + long + "\nlast\n"
	if err := s.loop(ctx, strings.NewReader(in), false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(notes.String(), "dropped") {
		t.Errorf("notes %q: want a note about dropped turns", notes.String())
	}
	if !strings.Contains(notes.String(), "the context holds 64") {
		t.Errorf("notes %q: want the too-long message reported", notes.String())
	}
	if len(rec.prompts) != 4 {
		t.Errorf("%d generations, want 4 (the long message is refused)", len(rec.prompts))
	}
	for i, p := range rec.prompts {
		if len(p)+8 > 64 {
			t.Errorf("prompt %d has %d tokens: no room for the answer", i, len(p))
		}
	}
	if last := s.history[len(s.history)-2]; last.Content != "last" {
		t.Errorf("last user turn %q, want %q", last.Content, "last")
	}
}

// TestChatCommand runs `pensieve-cli chat` with a piped conversation.
func TestChatCommand(t *testing.T) {
	isolateLocal(t)
	path := fixtureModel(t, "fx-llama-f32.gguf")
	var out, errOut bytes.Buffer
	app := New(&out, &errOut)
	app.Reader = strings.NewReader("hi\n/help\n\"\"\"\nmulti\nline\n\"\"\"\n/bogus\n")
	err := app.Run([]string{"pensieve-cli", "chat", "--model", path, "-n", "6", "--temperature", "0", "--threads", "1"})
	if err != nil {
		t.Fatalf("chat: %v (stderr %q)", err, errOut.String())
	}
	if strings.Count(out.String(), "\n") < 2 {
		t.Errorf("stdout %q: want two answers", out.String())
	}
	for _, want := range []string{"/system TEXT", "unknown command /bogus"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr %q lacks %q", errOut.String(), want)
		}
	}
	if strings.Contains(errOut.String(), ">>>") {
		t.Errorf("prompts printed for piped input: %q", errOut.String())
	}
}

// TestChatCancel: canceling the context (Ctrl-C) ends the chat without
// error.
func TestChatCancel(t *testing.T) {
	s, _, _, _ := newTestSession(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	pr, pw := newBlockingReader()
	defer pw()
	if err := s.loop(ctx, pr, false); err != nil {
		t.Fatalf("loop after cancel: %v", err)
	}
}

// newBlockingReader returns a reader whose Read blocks until release is
// called, like a terminal nobody types into.
func newBlockingReader() (*blockingReader, func()) {
	r := &blockingReader{release: make(chan struct{})}
	return r, func() { close(r.release) }
}

type blockingReader struct{ release chan struct{} }

func (r *blockingReader) Read([]byte) (int, error) {
	<-r.release
	return 0, context.Canceled
}

// FuzzInputReader: any sequence of lines assembles into messages without
// panicking, and no message text is lost except the continuation markers.
func FuzzInputReader(f *testing.F) {
	f.Add("a\nb\\\nc\n\"\"\"\nx\n\"\"\"\n")
	f.Add("\"\"\"\n\"\"\"\n\\")
	f.Fuzz(func(t *testing.T, in string) {
		var r inputReader
		var out []string
		for _, line := range strings.Split(in, "\n") {
			if msg, ok := r.add(line); ok {
				out = append(out, msg)
			}
		}
		if rest, ok := r.flush(); ok {
			out = append(out, rest)
		}
		got := strings.Join(out, "")
		for _, line := range strings.Split(in, "\n") {
			line = strings.TrimSuffix(strings.TrimRight(line, "\r"), `\`)
			if strings.TrimSpace(line) != `"""` && !strings.Contains(got, line) {
				t.Fatalf("line %q lost; messages %q", line, out)
			}
		}
	})
}
