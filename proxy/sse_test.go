package proxy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
)

func zapNop() *zap.Logger { return zap.NewNop() }

func readAll(s string) ([]Event, error) {
	r := NewSSEReader(strings.NewReader(s))
	var out []Event
	for r.Next() {
		e := r.Event()
		out = append(out, Event{Name: e.Name, Data: append([]byte(nil), e.Data...)})
	}
	return out, r.Err()
}

func TestSSEReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Event
	}{
		{"anthropic framing", "event: ping\ndata: {\"type\":\"ping\"}\n\n", []Event{{"ping", []byte(`{"type":"ping"}`)}}},
		{"crlf and comments", ": hi\r\nevent: a\r\ndata: 1\r\n\r\n", []Event{{"a", []byte("1")}}},
		{"lone cr", "data: x\rdata: y\r\r", []Event{{"", []byte("x\ny")}}},
		{"no space after colon", "data:z\n\n", []Event{{"", []byte("z")}}},
		{"final event without blank line", "data: [DONE]", []Event{{"", []byte("[DONE]")}}},
		{"blank lines only", "\n\n\n", nil},
		{"unknown fields ignored", "id: 3\nretry: 10\ndata: q\n\n", []Event{{"", []byte("q")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestSSEReaderBoundsEvents(t *testing.T) {
	big := "data: " + strings.Repeat("x", maxEventBytes) + "\n\n"
	if _, err := readAll(big); err == nil {
		t.Error("an event beyond the limit was accepted")
	}
}

// FuzzSSEReader checks that any input parses without panic and that
// re-framing the events and parsing again gives the same events.
func FuzzSSEReader(f *testing.F) {
	f.Add(sseBody)
	f.Add("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n")
	f.Add(": x\r\nevent: e\rdata: a\r\ndata: b\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		evs, err := readAll(in)
		if err != nil {
			return
		}
		var b strings.Builder
		for _, e := range evs {
			if strings.ContainsAny(e.Name, "\r\n") {
				return
			}
			if e.Name != "" {
				b.WriteString("event: " + e.Name + "\n")
			}
			for _, line := range strings.Split(string(e.Data), "\n") {
				b.WriteString("data: " + line + "\n")
			}
			b.WriteString("\n")
		}
		again, err := readAll(b.String())
		if err != nil {
			t.Fatal(err)
		}
		norm := func(es []Event) []Event {
			for i := range es {
				if len(es[i].Data) == 0 {
					es[i].Data = nil
				}
			}
			return es
		}
		if diff := cmp.Diff(norm(evs), norm(again)); diff != "" {
			t.Errorf("round trip (-first +second)\n%s", diff)
		}
	})
}
