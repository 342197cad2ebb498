package claude

import (
	"strconv"
	"strings"
	"unicode"
)

// validate applies the cross-field rules of §3 to a decoded request.
func validate(op string, req *MessageRequest, v Version, counting bool) error {
	if err := validateMessages(op, req.Messages, v); err != nil {
		return err
	}
	if err := validateTools(op, req); err != nil {
		return err
	}
	return validateThinking(op, req, counting)
}

// validateMessages checks content emptiness, version block rules, prefill
// whitespace and tool_use/tool_result pairing (§3.2, §3.3).
func validateMessages(op string, msgs []InputMessage, v Version) error {
	last := len(msgs) - 1
	for i, m := range msgs {
		path := "messages." + strconv.Itoa(i)
		if isEmpty(m.Content) && !(i == last && m.Role == RoleAssistant) {
			return invalid(op, path, "all messages must have non-empty content except for the optional final assistant message")
		}
		if v.strictBlocks() {
			if err := strictBlockRules(op, path, m); err != nil {
				return err
			}
		}
	}
	if m := msgs[last]; m.Role == RoleAssistant && len(m.Content) > 0 {
		if t, ok := m.Content[len(m.Content)-1].(TextBlock); ok && t.Text != "" &&
			unicode.IsSpace(rune(t.Text[len(t.Text)-1])) {
			return invalid(op, "messages", "final assistant content cannot end with trailing whitespace")
		}
	}
	return validatePairing(op, msgs)
}

// isEmpty reports whether content has nothing a model could read.
func isEmpty(content []Block) bool {
	for _, b := range content {
		if t, ok := b.(TextBlock); !ok || t.Text != "" {
			return false
		}
	}
	return true
}

func strictBlockRules(op, path string, m InputMessage) error {
	for j, b := range m.Content {
		bp := path + ".content." + strconv.Itoa(j)
		switch blk := b.(type) {
		case DocumentBlock:
			if m.Role == RoleAssistant {
				return invalid(op, bp+".document", "document blocks are not allowed in assistant messages in API version %s", Version20261021)
			}
		case TextBlock:
			if m.Role == RoleUser && len(blk.Citations) > 0 {
				return invalid(op, bp+".text.citations", "citations are not allowed on text blocks in user messages in API version %s", Version20261021)
			}
		}
	}
	return nil
}

// validatePairing checks that every tool_use of an assistant turn is
// answered by a tool_result in the next user turn, and that every
// tool_result answers a tool_use of the turn before it. Consecutive
// same-role messages form one turn (they are merged, §3.3); system-role
// messages between turns are transparent.
func validatePairing(op string, msgs []InputMessage) error {
	seen := map[string]bool{}
	var pending []string // tool_use ids of the previous assistant turn, in order
	pendingAt := -1      // index of the message that opened them
	for i := 0; i < len(msgs); i++ {
		m := msgs[i]
		switch m.Role {
		case RoleSystem:
			continue
		case RoleAssistant:
			if len(pending) > 0 {
				return unansweredToolUse(op, pendingAt, pending)
			}
			for j, b := range m.Content {
				tu, ok := b.(ToolUseBlock)
				if !ok {
					continue
				}
				if seen[tu.ID] {
					return invalid(op, "messages."+strconv.Itoa(i)+".content."+strconv.Itoa(j)+".tool_use.id",
						"`tool_use` ids must be unique")
				}
				seen[tu.ID] = true
				pending = append(pending, tu.ID)
				pendingAt = i
			}
		case RoleUser:
			answered := map[string]bool{}
			// The whole user turn (consecutive user messages) answers.
			for ; i < len(msgs) && msgs[i].Role != RoleAssistant; i++ {
				for j, b := range msgs[i].Content {
					tr, ok := b.(ToolResultBlock)
					if !ok {
						continue
					}
					if !contains(pending, tr.ToolUseID) || answered[tr.ToolUseID] {
						return invalid(op, "messages."+strconv.Itoa(i)+".content."+strconv.Itoa(j),
							"unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.",
							tr.ToolUseID)
					}
					answered[tr.ToolUseID] = true
				}
			}
			i-- // the loop's i++ moves to the assistant message that stopped the scan
			var missing []string
			for _, id := range pending {
				if !answered[id] {
					missing = append(missing, id)
				}
			}
			if len(missing) > 0 {
				return unansweredToolUse(op, pendingAt, missing)
			}
			pending, pendingAt = nil, -1
		}
	}
	if len(pending) > 0 {
		return unansweredToolUse(op, pendingAt, pending)
	}
	return nil
}

func unansweredToolUse(op string, at int, ids []string) error {
	return invalid(op, "messages."+strconv.Itoa(at),
		"`tool_use` ids were found without `tool_result` blocks immediately after: %s. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
		strings.Join(ids, ", "))
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// validateTools checks tool names and tool_choice (§3.4).
func validateTools(op string, req *MessageRequest) error {
	names := map[string]bool{}
	for _, t := range req.Tools {
		if names[t.Name] {
			return invalid(op, "tools", "Tool names must be unique.")
		}
		names[t.Name] = true
	}
	tc := req.ToolChoice
	if tc == nil {
		return nil
	}
	if (tc.Type == ToolChoiceAny || tc.Type == ToolChoiceTool) && len(req.Tools) == 0 {
		return invalid(op, "tool_choice", "tool_choice may only be specified while providing tools")
	}
	if tc.Type == ToolChoiceTool && !names[tc.Name] {
		return invalid(op, "tool_choice.tool.name", "tool '%s' was not found in the request's tools", tc.Name)
	}
	return nil
}

// validateThinking checks the budget against max_tokens and forced tool use
// against thinking (§3.4, §3.5).
func validateThinking(op string, req *MessageRequest, counting bool) error {
	th := req.Thinking
	if th == nil {
		return nil
	}
	if th.Type == ThinkingEnabled && !counting && req.MaxTokens <= th.BudgetTokens {
		return invalid(op, "", "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size")
	}
	if req.thinkingOn() && req.ToolChoice != nil &&
		(req.ToolChoice.Type == ToolChoiceAny || req.ToolChoice.Type == ToolChoiceTool) {
		return invalid(op, "", "Thinking may not be enabled when tool_choice forces tool use.")
	}
	return nil
}
