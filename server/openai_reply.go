package server

import (
	"encoding/json"
	"strings"

	"github.com/pensieve-llm/pensieve/claude"
)

// chatCompletion is OpenAI's chat.completion and chat.completion.chunk.
type chatCompletion struct {
	ID      string       `json:"id"` // "chatcmpl-…"
	Object  string       `json:"object"`
	Created int64        `json:"created"` // Unix seconds
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   *chatUsage   `json:"usage,omitempty"`
}

type chatChoice struct {
	Index        int        `json:"index"`
	Message      *chatReply `json:"message,omitempty"` // chat.completion
	Delta        *chatDelta `json:"delta,omitempty"`   // chat.completion.chunk
	FinishReason *string    `json:"finish_reason"`
	Logprobs     *struct{}  `json:"logprobs"` // always null
}

// chatReply is the assistant message of a complete answer; content is null
// when the answer is only tool calls.
type chatReply struct {
	Role             string         `json:"role"`
	Content          *string        `json:"content"`
	ReasoningContent string         `json:"reasoning_content,omitempty"` // thinking, as several compatible servers name it
	ToolCalls        []chatToolCall `json:"tool_calls,omitempty"`
}

// chatDelta is the change one chunk brings.
type chatDelta struct {
	Role             string         `json:"role,omitempty"`
	Content          *string        `json:"content,omitempty"`
	ReasoningContent string         `json:"reasoning_content,omitempty"`
	ToolCalls        []chatToolCall `json:"tool_calls,omitempty"`
}

type chatUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

func usageOf(u claude.Usage) *chatUsage {
	prompt := u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens
	cu := &chatUsage{PromptTokens: prompt, CompletionTokens: u.OutputTokens, TotalTokens: prompt + u.OutputTokens}
	cu.PromptTokensDetails.CachedTokens = u.CacheReadInputTokens
	return cu
}

// chatCompletionOf translates a complete Messages reply.
func chatCompletionOf(id string, created int64, m *claude.Message) chatCompletion {
	var text, thinking strings.Builder
	reply := &chatReply{Role: "assistant"}
	hasText := false
	for _, b := range m.Content {
		switch blk := b.(type) {
		case claude.TextBlock:
			text.WriteString(blk.Text)
			hasText = true
		case claude.ThinkingBlock:
			thinking.WriteString(blk.Thinking)
		case claude.ToolUseBlock:
			tc := chatToolCall{ID: blk.ID, Type: "function"}
			tc.Function.Name, tc.Function.Arguments = blk.Name, string(blk.Input)
			reply.ToolCalls = append(reply.ToolCalls, tc)
		}
	}
	if hasText || len(reply.ToolCalls) == 0 {
		s := text.String()
		reply.Content = &s
	}
	reply.ReasoningContent = thinking.String()
	finish := finishReason(m.StopReason)
	return chatCompletion{
		ID: id, Object: "chat.completion", Created: created, Model: m.Model,
		Choices: []chatChoice{{Index: 0, Message: reply, FinishReason: &finish}},
		Usage:   usageOf(m.Usage),
	}
}

// chatStreamer translates Messages stream events into chat.completion.chunk
// objects. It holds the state of one stream and is not safe for concurrent
// use.
type chatStreamer struct {
	id           string
	created      int64
	model        string
	includeUsage bool
	tools        map[int]int // content block index → tool call index
	usage        claude.Usage
}

func newChatStreamer(id string, created int64, includeUsage bool) *chatStreamer {
	return &chatStreamer{id: id, created: created, includeUsage: includeUsage, tools: map[int]int{}}
}

func (cs *chatStreamer) chunk(d *chatDelta, finish *string) chatCompletion {
	return chatCompletion{ID: cs.id, Object: "chat.completion.chunk", Created: cs.created, Model: cs.model,
		Choices: []chatChoice{{Index: 0, Delta: d, FinishReason: finish}}}
}

// translate returns the chunks for one Messages stream event (often none).
func (cs *chatStreamer) translate(ev claude.StreamEvent) []chatCompletion {
	switch e := ev.(type) {
	case claude.MessageStartEvent:
		cs.model, cs.usage = e.Message.Model, e.Message.Usage
		empty := ""
		return []chatCompletion{cs.chunk(&chatDelta{Role: "assistant", Content: &empty}, nil)}
	case claude.ContentBlockStartEvent:
		tu, ok := e.ContentBlock.(claude.ToolUseBlock)
		if !ok {
			return nil
		}
		k := len(cs.tools)
		cs.tools[e.Index] = k
		tc := chatToolCall{Index: &k, ID: tu.ID, Type: "function"}
		tc.Function.Name = tu.Name
		return []chatCompletion{cs.chunk(&chatDelta{ToolCalls: []chatToolCall{tc}}, nil)}
	case claude.ContentBlockDeltaEvent:
		return cs.delta(e)
	case claude.MessageDeltaEvent:
		cs.usage.InputTokens = e.Usage.InputTokens
		cs.usage.CacheReadInputTokens = e.Usage.CacheReadInputTokens
		cs.usage.CacheCreationInputTokens = e.Usage.CacheCreationInputTokens
		cs.usage.OutputTokens = e.Usage.OutputTokens
		finish := finishReason(e.Delta.StopReason)
		out := []chatCompletion{cs.chunk(&chatDelta{}, &finish)}
		if cs.includeUsage {
			out = append(out, chatCompletion{ID: cs.id, Object: "chat.completion.chunk", Created: cs.created,
				Model: cs.model, Choices: []chatChoice{}, Usage: usageOf(cs.usage)})
		}
		return out
	}
	return nil
}

func (cs *chatStreamer) delta(e claude.ContentBlockDeltaEvent) []chatCompletion {
	switch d := e.Delta.(type) {
	case claude.TextDelta:
		text := d.Text
		return []chatCompletion{cs.chunk(&chatDelta{Content: &text}, nil)}
	case claude.ThinkingDelta:
		return []chatCompletion{cs.chunk(&chatDelta{ReasoningContent: d.Thinking}, nil)}
	case claude.InputJSONDelta:
		k, ok := cs.tools[e.Index]
		if !ok || d.PartialJSON == "" {
			return nil
		}
		tc := chatToolCall{Index: &k}
		tc.Function.Arguments = d.PartialJSON
		return []chatCompletion{cs.chunk(&chatDelta{ToolCalls: []chatToolCall{tc}}, nil)}
	}
	return nil
}

// chatError is the data of the event that ends a failed OpenAI stream; the
// OpenAI SDK turns an "error" key into an error.
func chatError(env claude.ErrorResponse) ([]byte, error) {
	return json.Marshal(map[string]any{"error": map[string]any{
		"type": env.Error.Type, "message": env.Error.Message, "code": nil, "param": nil,
	}})
}
