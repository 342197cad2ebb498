package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/ardanlabs/jinja"
	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/gguf"
	"github.com/pensieve-llm/pensieve/model/internal/fixtures"
	"github.com/pensieve-llm/pensieve/model/tokenizer"
)

func msg(role, content string) core.ChatMessage {
	return core.ChatMessage{Role: role, Content: content}
}

// basic is a plain four-turn conversation ending with a user turn.
var basic = core.ChatRequest{
	Messages:            []core.ChatMessage{msg("system", "Be brief."), msg("user", "Hi"), msg("assistant", "Hello."), msg("user", "Bye")},
	AddGenerationPrompt: true,
}

// weatherTools is a conversation with a tool call and two tool results.
var weatherTools = core.ChatRequest{
	Messages: []core.ChatMessage{
		msg("system", "You are helpful."),
		msg("user", "What's the weather in Paris?"),
		{Role: "assistant", ToolCalls: []core.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: json.RawMessage(`{"city": "Paris", "unit": "celsius"}`)}}},
		{Role: "tool", Content: "22", ToolCallID: "call_1", Name: "get_weather"},
		{Role: "tool", Content: "sunny", ToolCallID: "call_1", Name: "get_weather"},
	},
	Tools: []core.ToolSpec{{
		Name:        "get_weather",
		Description: "Get the current weather",
		Parameters:  json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city"]}`),
	}},
	AddGenerationPrompt: true,
}

const weatherToolJSON = `{"type": "function", "function": {"name": "get_weather", "description": "Get the current weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}}`

func render(t *testing.T, tmpl *Template, req core.ChatRequest) string {
	t.Helper()
	out, err := tmpl.Render(req)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return out
}

// TestFixtureTemplate renders the Llama-3-style template the fx-*.gguf
// fixtures carry and tokenizes the prompt with their vocabulary.
func TestFixtureTemplate(t *testing.T) {
	f, err := gguf.Open(fixtures.Path(t, "models", "fx-llama-f32.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tmpl, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.Name() != "gguf" || tmpl.SupportsTools() {
		t.Errorf("Name %q SupportsTools %v, want gguf and false", tmpl.Name(), tmpl.SupportsTools())
	}
	req := core.ChatRequest{Messages: []core.ChatMessage{msg("system", "You are terse."), msg("user", "  Hi there \n")}}
	want := "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>" +
		"<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
	if diff := cmp.Diff(want, render(t, tmpl, req)); diff != "" {
		t.Errorf("without generation prompt (-want +got):\n%s", diff)
	}
	req.AddGenerationPrompt = true
	want += "<|start_header_id|>assistant<|end_header_id|>\n\n"
	prompt := render(t, tmpl, req)
	if diff := cmp.Diff(want, prompt); diff != "" {
		t.Errorf("with generation prompt (-want +got):\n%s", diff)
	}

	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := tok.Encode(nil, prompt, true)
	if err != nil {
		t.Fatal(err)
	}
	var wantIDs []core.TokenID
	raw := func(s string) {
		for i := 0; i < len(s); i++ {
			wantIDs = append(wantIDs, core.TokenID(s[i])) // token i is byte i
		}
	}
	wantIDs = append(wantIDs, 256, 258)
	raw("system")
	wantIDs = append(wantIDs, 259)
	raw("\n\nYou are terse.")
	wantIDs = append(wantIDs, 260, 258)
	raw("user")
	wantIDs = append(wantIDs, 259)
	raw("\n\nHi there")
	wantIDs = append(wantIDs, 260, 258)
	raw("assistant")
	wantIDs = append(wantIDs, 259)
	raw("\n\n")
	if diff := cmp.Diff(wantIDs, ids); diff != "" {
		t.Errorf("prompt tokens (-want +got):\n%s", diff)
	}
}

// qwenTemplate is Qwen 2.5 Instruct's published chat template.
const qwenTemplate = `{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
`

// chatmlWithTools is what both Qwen 2.5's template and the built-in ChatML
// template render for weatherTools.
const chatmlWithTools = "<|im_start|>system\nYou are helpful.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" +
	"You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n" + weatherToolJSON + "\n</tools>\n\n" +
	"For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n" +
	"<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" +
	"<|im_start|>user\nWhat's the weather in Paris?<|im_end|>\n" +
	"<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n</tool_call><|im_end|>\n" +
	"<|im_start|>user\n<tool_response>\n22\n</tool_response>\n<tool_response>\nsunny\n</tool_response><|im_end|>\n" +
	"<|im_start|>assistant\n"

func TestQwenTemplateWithTools(t *testing.T) {
	tmpl, err := New("qwen2.5", qwenTemplate)
	if err != nil {
		t.Fatal(err)
	}
	if !tmpl.SupportsTools() {
		t.Error("SupportsTools = false for a template that renders tools")
	}
	if diff := cmp.Diff(chatmlWithTools, render(t, tmpl, weatherTools)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	want := "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n" +
		"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
	got := render(t, tmpl, core.ChatRequest{Messages: []core.ChatMessage{msg("user", "Hi")}, AddGenerationPrompt: true})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("no tools, no system (-want +got):\n%s", diff)
	}
}

// gemmaTemplate is Gemma 2's published chat template.
const gemmaTemplate = "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}" +
	"{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
	"{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
	"{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}" +
	"{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}" +
	"{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"

func TestGemmaTemplate(t *testing.T) {
	tmpl, err := New("gemma2", gemmaTemplate, WithSpecialTokens("<bos>", "<eos>"))
	if err != nil {
		t.Fatal(err)
	}
	req := core.ChatRequest{Messages: []core.ChatMessage{msg("user", "Hi"), msg("assistant", "Hello! "), msg("user", "Bye")}, AddGenerationPrompt: true}
	want := "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n" +
		"<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"
	if diff := cmp.Diff(want, render(t, tmpl, req)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if tmpl.SupportsTools() {
		t.Error("SupportsTools = true for Gemma")
	}
	for name, bad := range map[string]core.ChatRequest{
		"system role":     basic,
		"not alternating": {Messages: []core.ChatMessage{msg("user", "a"), msg("user", "b")}},
	} {
		if _, err := tmpl.Render(bad); !errors.Is(err, core.KindInvalid) {
			t.Errorf("%s: err = %v, want KindInvalid from raise_exception", name, err)
		}
	}
}

func TestBuiltins(t *testing.T) {
	tests := []struct {
		name, bos, eos string
		req            core.ChatRequest
		want           string
	}{
		{"llama3", "<|begin_of_text|>", "<|eot_id|>", basic, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>" +
			"<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>" +
			"<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
		{"chatml", "", "<|im_end|>", basic, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n" +
			"<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"},
		{"chatml", "", "<|im_end|>", weatherTools, chatmlWithTools},
		{"gemma", "<bos>", "<eos>", basic, "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n" +
			"<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"},
		{"phi3", "<s>", "<|endoftext|>", basic, "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello.<|end|>\n" +
			"<|user|>\nBye<|end|>\n<|assistant|>\n"},
		{"mistral", "<s>", "</s>", basic, "<s>[INST] Be brief.\n\nHi [/INST] Hello.</s>[INST] Bye [/INST]"},
		{"llama3", "<|begin_of_text|>", "<|eot_id|>", weatherTools, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" +
			"Environment: ipython\n\nYou have access to the following functions. To call a function, respond with JSON in the format " +
			"{\"name\": function name, \"parameters\": dictionary of argument name and its value}. Do not use variables.\n\n" +
			weatherToolJSON + "\n\nYou are helpful.<|eot_id|>" +
			"<|start_header_id|>user<|end_header_id|>\n\nWhat's the weather in Paris?<|eot_id|>" +
			"<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}<|eot_id|>" +
			"<|start_header_id|>ipython<|end_header_id|>\n\n22<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n\nsunny<|eot_id|>" +
			"<|start_header_id|>assistant<|end_header_id|>\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := Builtin(tt.name, WithSpecialTokens(tt.bos, tt.eos))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, render(t, tmpl, tt.req)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	supports := map[string]bool{}
	for _, n := range BuiltinNames() {
		tmpl, err := Builtin(n)
		if err != nil {
			t.Fatal(err)
		}
		supports[n] = tmpl.SupportsTools()
	}
	want := map[string]bool{"chatml": true, "gemma": false, "llama3": true, "mistral": false, "phi3": false}
	if diff := cmp.Diff(want, supports); diff != "" {
		t.Errorf("SupportsTools (-want +got):\n%s", diff)
	}
	if _, err := Builtin("nope"); !errors.Is(err, core.KindNotFound) {
		t.Errorf("unknown builtin: err = %v", err)
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		arch, model string
		tokens      []string
		want        string
	}{
		{"llama", "gpt2", []string{"a", "<|start_header_id|>", "<|eot_id|>"}, "llama3"},
		{"qwen2", "gpt2", []string{"<|im_start|>", "<|im_end|>"}, "chatml"},
		{"gemma2", "llama", []string{"<start_of_turn>", "<end_of_turn>"}, "gemma"},
		{"phi3", "llama", []string{"<|user|>", "<|assistant|>", "<|end|>"}, "phi3"},
		{"llama", "llama", []string{"[INST]", "[/INST]"}, "mistral"},
		{"gemma3", "llama", nil, "gemma"},
		{"phi3", "llama", nil, "phi3"},
		{"qwen3", "gpt2", nil, "chatml"},
		{"llama", "llama", []string{"<s>"}, "mistral"},
		{"llama", "gpt2", nil, "llama3"},
		{"mamba", "gpt2", nil, "chatml"},
	}
	for _, tt := range tests {
		if got := Detect(tt.arch, tt.model, tt.tokens); got != tt.want {
			t.Errorf("Detect(%s, %s, %v) = %s, want %s", tt.arch, tt.model, tt.tokens, got, tt.want)
		}
	}
}

func ggufFile(t *testing.T, kv map[string]any) *gguf.File {
	t.Helper()
	w := gguf.NewWriter()
	for k, v := range kv {
		if err := w.SetKV(k, v); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFromGGUF(t *testing.T) {
	tokens := []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>", "a", "b"}
	base := map[string]any{"general.architecture": "qwen2", tokenizer.KeyModel: "gpt2", tokenizer.KeyPre: "qwen2",
		tokenizer.KeyTokens: tokens, tokenizer.KeyMerges: []string{"a b"}, tokenizer.KeyEOS: uint32(2), tokenizer.KeyBOS: uint32(0)}

	tmpl, err := FromGGUF(ggufFile(t, base))
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.Name() != "chatml" {
		t.Errorf("without a template: %s, want the chatml built-in", tmpl.Name())
	}

	withTemplate := map[string]any{KeyTemplate: "{{ bos_token }}|{{ eos_token }}|{{ messages[0].content }}",
		KeyToolUseTemplate: "tools:{{ tools | length }}"}
	for k, v := range base {
		withTemplate[k] = v
	}
	tmpl, err = FromGGUF(ggufFile(t, withTemplate))
	if err != nil {
		t.Fatal(err)
	}
	if !tmpl.SupportsTools() {
		t.Error("a tool_use variant should make SupportsTools true")
	}
	if got := render(t, tmpl, core.ChatRequest{Messages: []core.ChatMessage{msg("user", "x")}}); got != "<|endoftext|>|<|im_end|>|x" {
		t.Errorf("main template rendered %q", got)
	}
	if got := render(t, tmpl, weatherTools); got != "tools:1" {
		t.Errorf("tool_use variant rendered %q", got)
	}
	if _, err := FromGGUF(ggufFile(t, map[string]any{KeyTemplate: "{% if %}"})); !errors.Is(err, core.KindInvalid) {
		t.Errorf("unparsable template: err = %v, want KindInvalid", err)
	}
}

func TestRenderErrors(t *testing.T) {
	tmpl, err := Builtin("chatml")
	if err != nil {
		t.Fatal(err)
	}
	badArgs := core.ChatRequest{Messages: []core.ChatMessage{{Role: "assistant", ToolCalls: []core.ToolCall{{Name: "f", Arguments: json.RawMessage(`{"a":`)}}}}}
	badSchema := core.ChatRequest{Messages: []core.ChatMessage{msg("user", "x")}, Tools: []core.ToolSpec{{Name: "f", Parameters: json.RawMessage(`[1,`)}}}
	for name, req := range map[string]core.ChatRequest{"arguments": badArgs, "schema": badSchema} {
		if _, err := tmpl.Render(req); !errors.Is(err, core.KindInvalid) {
			t.Errorf("%s: err = %v, want KindInvalid", name, err)
		}
	}
	if _, err := New("broken", "{% for %}"); !errors.Is(err, core.KindInvalid) {
		t.Errorf("compile error: err = %v", err)
	}
}

func TestSupportsToolsDetection(t *testing.T) {
	tests := map[string]bool{
		"{%- if tools %}x{% endif %}":              true,
		"{{ tools | tojson }}":                     true,
		"{% for t in tools\n %}{% endfor %}":       true,
		"{{ custom_tools }}":                       false,
		"You may use tools. {{ messages }}":        false,
		"{{ message.tool_calls }}{{ toolsy }}":     false,
		"{% set x = 1 %}tools{{ 'a' }}":            false,
		"{%- if x %}{{ y }}{% endif %}{{ tools }}": true,
	}
	for src, want := range tests {
		tmpl, err := New("t", src)
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if got := tmpl.SupportsTools(); got != want {
			t.Errorf("SupportsTools(%q) = %v, want %v", src, got, want)
		}
	}
}

func TestStrftimeNow(t *testing.T) {
	at := time.Date(2024, time.July, 6, 15, 4, 5, 0, time.UTC)
	tmpl, err := New("date", `{{ strftime_now("%d %b %Y") }}|{{ strftime_now("%Y-%m-%d %H:%M:%S %A %B %-d %I%p %j %y %% %Q") }}`,
		WithClock(func() time.Time { return at }))
	if err != nil {
		t.Fatal(err)
	}
	want := "06 Jul 2024|2024-07-06 15:04:05 Saturday July 6 03PM 188 24 % %Q"
	if got := render(t, tmpl, core.ChatRequest{}); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestTojson checks the filter against Python's json.dumps output.
func TestTojson(t *testing.T) {
	tests := []struct{ src, want string }{
		{`{{ {"b": 1, "a": "<&>", "c": [1.0, 2.5, 0.00001, none, true]} | tojson }}`,
			`{"b": 1, "a": "<&>", "c": [1.0, 2.5, 1e-05, null, true]}`},
		// The engine ends a tag at the first "}}", so nested literals need a space.
		{`{{ {"b": {"x": []}, "a": {} } | tojson(indent=2) }}`, "{\n  \"b\": {\n    \"x\": []\n  },\n  \"a\": {}\n}"},
		{`{{ {"b": 1, "a": 2} | tojson(sort_keys=true) }}`, `{"a": 2, "b": 1}`},
		{`{{ [1, "x"] | tojson(separators=(",", ":")) }}`, `[1,"x"]`},
		{`{{ messages[0].content | tojson }}`, `"q\"\\\n\t\u0001é` + "\u2028" + `<>"`},
		{`{{- messages[0].tool_calls[0].function.arguments|tojson -}}`, `{"z": 1, "a": [2, 3.5, 10.0, 1e+20, -0.0001]}`},
	}
	req := core.ChatRequest{Messages: []core.ChatMessage{{Role: "assistant", Content: "q\"\\\n\t\x01é\u2028<>", ToolCalls: []core.ToolCall{{Name: "f",
		Arguments: json.RawMessage(`{"z":1,"a":[2,3.5,10.0,1e20,-1e-4]}`)}}}}}
	for _, tt := range tests {
		tmpl, err := New("json", tt.src)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		if diff := cmp.Diff(tt.want, render(t, tmpl, req)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.src, diff)
		}
	}
}

// FuzzJSONValue feeds arbitrary tool arguments through the ordered JSON
// decoder and the tojson filter: no panics, and valid JSON survives the
// round trip with the same meaning.
func FuzzJSONValue(f *testing.F) {
	for _, s := range []string{`{"a": 1, "b": [true, null, 2.5, "x"]}`, `[]`, `"\u2028"`, `{"a":`, `1e400`, `{"z":{"y":{}}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := jsonValue(json.RawMessage(s))
		var want any
		validJSON := json.Unmarshal([]byte(s), &want) == nil
		if err != nil {
			if validJSON {
				t.Fatalf("valid JSON %q rejected: %v", s, err)
			}
			return
		}
		out, err := tojson([]jinja.Value{v}, nil)
		if err != nil {
			t.Fatalf("tojson(%q): %v", s, err)
		}
		var got any
		if err := json.Unmarshal([]byte(out.AsString()), &got); err != nil {
			t.Fatalf("tojson(%q) = %q is not JSON: %v", s, out.AsString(), err)
		}
		if validJSON && !cmp.Equal(want, got) {
			t.Fatalf("%q → %q changes meaning", s, out.AsString())
		}
	})
}
