package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pensieve-llm/pensieve/claude"
)

// checkAnthropicStream checks the Anthropic stream grammar (spec §6.2) of a
// converted stream: framing, message_start first, blocks opened with
// consecutive indices one at a time, deltas and stops only for the open
// block, then message_delta and message_stop — or an error event last.
func checkAnthropicStream(body string) error {
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 64<<20)
	var names []string
	var datas []string
	for sc.Scan() {
		line := sc.Text()
		name, ok := strings.CutPrefix(line, "event: ")
		if !ok {
			return fmt.Errorf("line %q: want an event line", line)
		}
		if !sc.Scan() || !strings.HasPrefix(sc.Text(), "data: ") {
			return fmt.Errorf("event %q without a data line", name)
		}
		data := strings.TrimPrefix(sc.Text(), "data: ")
		if !sc.Scan() || sc.Text() != "" {
			return fmt.Errorf("event %q not followed by a blank line", name)
		}
		names, datas = append(names, name), append(datas, data)
	}
	open, next, state := -1, 0, "start"
	for i, name := range names {
		var ev struct {
			Type  string `json:"type"`
			Index *int   `json:"index"`
		}
		if err := json.Unmarshal([]byte(datas[i]), &ev); err != nil || ev.Type != name {
			return fmt.Errorf("event %d %q: data %q does not carry its type", i, name, datas[i])
		}
		bad := func(why string) error { return fmt.Errorf("event %d %s: %s (events %q)", i, datas[i], why, names) }
		switch {
		case state == "start" && name != "message_start", state == "stopped", state == "errored":
			return bad("out of place after " + state)
		case name == "message_start":
			if state != "start" {
				return bad("second message_start")
			}
			state = "blocks"
		case name == "error":
			state = "errored"
		case name == "content_block_start":
			if state != "blocks" || open >= 0 || ev.Index == nil || *ev.Index != next {
				return bad(fmt.Sprintf("block start while block %d is open or out of order (want index %d)", open, next))
			}
			open, next = next, next+1
		case name == "content_block_delta", name == "content_block_stop":
			if ev.Index == nil || *ev.Index != open {
				return bad(fmt.Sprintf("for a block that is not the open one (%d)", open))
			}
			if name == "content_block_stop" {
				open = -1
			}
		case name == "message_delta":
			if state != "blocks" || open >= 0 {
				return bad("message_delta out of place")
			}
			state = "delta"
		case name == "message_stop":
			if state != "delta" {
				return bad("message_stop before message_delta")
			}
			state = "stopped"
		default:
			return bad("unknown event")
		}
	}
	if state != "stopped" && state != "errored" {
		return fmt.Errorf("stream ends in state %s (events %q)", state, names)
	}
	return nil
}

// FuzzStreamFromOpenAI feeds arbitrary upstream bytes to the OpenAI →
// Anthropic stream conversion: whatever the upstream sends, the client
// must get a well-formed Anthropic stream.
func FuzzStreamFromOpenAI(f *testing.F) {
	chunk := func(s string) string { return "data: " + s + "\n\n" }
	f.Add(chunk(`{"choices":[{"delta":{"content":"Hel"}}]}`) + chunk(`{"choices":[{"delta":{"content":"lo"},"finish_reason":"stop"}]}`) +
		chunk(`{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}`) + chunk("[DONE]"))
	f.Add(chunk(`{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"get","arguments":""}}]}}]}`) +
		chunk(`{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"q\":1}"}}]}}]}`) +
		chunk(`{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"call_2","function":{"name":"put","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}`) + chunk("[DONE]"))
	f.Add(chunk(`{"choices":[{"delta":{"content":"a"}}]}`) + "data: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}") // cut mid-event
	f.Add(": keep-alive\n\n" + chunk(`not json`) + chunk(`{"choices":[{"delta":{"content":"x"}}]}`))
	f.Fuzz(func(t *testing.T, upstream string) {
		rec := httptest.NewRecorder()
		(&Proxy{}).streamFromOpenAI(rec, strings.NewReader(upstream), "m")
		if err := checkAnthropicStream(rec.Body.String()); err != nil {
			t.Fatalf("upstream %q became an invalid stream: %v", upstream, err)
		}
	})
}

// FuzzToOpenAI feeds arbitrary Messages bodies through decoding and the
// translation to an OpenAI request: nothing panics, and a translated
// request is JSON that names the upstream model and keeps max_tokens.
func FuzzToOpenAI(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","max_tokens":8,"system":"s","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","max_tokens":8,"stop_sequences":["x"],"temperature":0.5,"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]}]}`,
		`{"model":"m","max_tokens":8,"tools":[{"name":"get","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get","input":{"q":1}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"42"}]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := claude.DecodeRequest(body, claude.Version20230601)
		if err != nil {
			return
		}
		out, err := toOpenAI(req, "upstream")
		if err != nil {
			return
		}
		b, err := json.Marshal(out)
		if err != nil {
			t.Fatalf("translated request does not marshal: %v", err)
		}
		if out.Model != "upstream" || out.MaxTokens != req.MaxTokens || !bytes.Contains(b, []byte(`"messages"`)) {
			t.Fatalf("translation lost the model, max_tokens or messages: %s", b)
		}
	})
}
