package claude

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestResponseRoundTrip checks that response values survive JSON exactly,
// nulls included (§5, §8, §9).
func TestResponseRoundTrip(t *testing.T) {
	seq := "STOP"
	msg := Message{ID: "msg_1", Model: "m", StopReason: StopSequence, StopSequence: &seq,
		Content: []Block{
			ThinkingBlock{Thinking: "t", Signature: "s"},
			TextBlock{Text: "a", Citations: []json.RawMessage{json.RawMessage(`{"type":"char_location","cited_text":"x"}`)}},
			ToolUseBlock{ID: "toolu_1", Name: "f", Input: json.RawMessage(`{"a":[1,{"b":null}]}`)},
			RedactedThinkingBlock{Data: "opaque"},
			ServerToolBlock{BlockType: BlockServerToolUse, Raw: json.RawMessage(`{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}`)},
		},
		Usage: Usage{InputTokens: 1, CacheReadInputTokens: 2, CacheCreationInputTokens: 3, CacheCreation: &CacheCreation{Ephemeral5mInputTokens: 3},
			OutputTokens: 4, ServiceTier: "standard"}}
	raw, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	var back Message
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	if diff := cmp.Diff(msg, back, cmp.Comparer(jsonEqual)); diff != "" {
		t.Errorf("message (-sent +decoded):\n%s", diff)
	}

	start := Message{ID: "msg_2", Model: "m"}
	raw, _ = json.Marshal(start)
	want := `{"id":"msg_2","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`
	if string(raw) != want {
		t.Errorf("message_start message:\n got %s\nwant %s", raw, want)
	}
	if err := json.Unmarshal([]byte(`{"type":"message","content":[{"type":"hologram"}]}`), &back); err == nil {
		t.Error("unknown block type accepted")
	}

	ended := time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)
	url := "https://example/v1/messages/batches/msgbatch_1/results"
	batch := NewMessageBatch(2, ended.Add(-time.Hour))
	batch.ProcessingStatus, batch.EndedAt, batch.ResultsURL = BatchEnded, &ended, &url
	batch.RequestCounts = BatchRequestCounts{Succeeded: 1, Errored: 1}
	raw, _ = json.Marshal(batch)
	var bb MessageBatch
	if err := json.Unmarshal(raw, &bb); err != nil || !cmp.Equal(batch, bb) {
		t.Errorf("batch round trip %s: %v %+v", raw, err, bb)
	}

	model := ModelInfo{ID: "x", DisplayName: "X", CreatedAt: ended, MaxInputTokens: 10}
	raw, _ = json.Marshal(model)
	var mb ModelInfo
	if err := json.Unmarshal(raw, &mb); err != nil || !cmp.Equal(model, mb) {
		t.Errorf("model round trip %s: %v %+v", raw, err, mb)
	}
}
