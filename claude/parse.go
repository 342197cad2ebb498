package claude

import (
	"strings"
)

// This file turns the text a model generates into content segments:
// plain text, reasoning, and tool calls in the formats of ToolFormat. The
// parser is a pure state machine: text goes in as the engine releases it,
// segments come out as soon as they are certain. Text that may still turn
// out to open a tool call or close a reasoning block is held back until it
// is decided.

type segKind uint8

const (
	segText        segKind = iota // answer text
	segThinking                   // reasoning text
	segThinkingEnd                // the reasoning block closed
	segToolStart                  // a tool call of name text begins
	segToolArgs                   // a fragment of the call's input JSON
	segToolEnd                    // the call ended; complete reports a closed input
)

type segment struct {
	kind     segKind
	text     string
	complete bool
}

// parser states
const (
	psStart    = iota // nothing but whitespace yet: reasoning or a call may open
	psThinking        // inside a reasoning block
	psText            // answer text
	psCall            // inside a tool call
	psAfter           // after a call or a reasoning block: whitespace, then more
)

// openers of tool calls found inside text; the bare JSON object of Llama 3
// is only recognised where a call may start (psStart, psAfter).
var callOpeners = []string{"<tool_call>", "<|python_tag|>", "[TOOL_CALLS]"}

// outputParser is the state of one output's parsing.
type outputParser struct {
	tools   map[string]Tool // the callable tools; nil: calls are not parsed
	prefill bool            // the output continues an assistant prefill: its leading whitespace is text
	state   int
	think   thinkTags // the open reasoning block's tags
	thought bool      // a reasoning block was seen (only one, at the start)
	buf     string    // text received and not yet decided
	call    *callParser
	raw     strings.Builder // text of the call in progress, while it may still fall back to text
	out     []segment
}

func newOutputParser(tools []Tool, startsInside, prefill bool, think thinkTags) *outputParser {
	p := &outputParser{prefill: prefill}
	if len(tools) > 0 {
		p.tools = make(map[string]Tool, len(tools))
		for _, t := range tools {
			p.tools[t.Name] = t
		}
	}
	if startsInside {
		p.state, p.think, p.thought = psThinking, think, true
	}
	return p
}

// push parses more text and returns the segments it decided.
func (p *outputParser) push(text string) []segment {
	p.out = p.out[:0]
	p.buf += text
	p.run(false)
	return p.out
}

// finish parses what is left at the end of the output (possibly cut off)
// and returns the last segments.
func (p *outputParser) finish() []segment {
	p.out = p.out[:0]
	p.run(true)
	switch p.state {
	case psThinking:
		p.emit(segment{kind: segThinkingEnd})
	case psCall:
		p.call.finish()
		if p.call.failed {
			p.emit(segment{kind: segText, text: p.raw.String()})
		}
		p.call = nil
	}
	p.state = psText
	return p.out
}

// emit appends a segment, merging runs of text, reasoning and arguments.
func (p *outputParser) emit(s segment) {
	if s.text == "" && (s.kind == segText || s.kind == segThinking || s.kind == segToolArgs) {
		return
	}
	if n := len(p.out); n > 0 && p.out[n-1].kind == s.kind &&
		(s.kind == segText || s.kind == segThinking || s.kind == segToolArgs) {
		p.out[n-1].text += s.text
		return
	}
	p.out = append(p.out, s)
}

// run consumes buf as far as it can be decided; with final everything is.
func (p *outputParser) run(final bool) {
	for {
		progressed := false
		switch p.state {
		case psStart, psAfter:
			progressed = p.runStart(final)
		case psThinking:
			progressed = p.runThinking(final)
		case psText:
			progressed = p.runText(final)
		case psCall:
			progressed = p.runCall()
		}
		if !progressed {
			return
		}
	}
}

// holdsPrefix reports whether s is a proper prefix of one of words.
func holdsPrefix(s string, words []string) bool {
	for _, w := range words {
		if len(s) < len(w) && strings.HasPrefix(w, s) {
			return true
		}
	}
	return false
}

func (p *outputParser) runStart(final bool) bool {
	trimmed := strings.TrimLeft(p.buf, " \t\r\n")
	if trimmed == "" {
		if final {
			p.buf = ""
		}
		return false
	}
	var undecided []string
	if p.state == psStart && !p.thought {
		for _, t := range knownThinkTags {
			if strings.HasPrefix(trimmed, t.open) {
				p.buf = trimmed[len(t.open):]
				p.state, p.think, p.thought = psThinking, t, true
				return true
			}
			undecided = append(undecided, t.open)
		}
	}
	if p.tools != nil {
		for _, o := range callOpeners {
			if strings.HasPrefix(trimmed, o) {
				p.buf = trimmed
				p.startCall(o, o)
				return true
			}
		}
		if trimmed[0] == '{' {
			p.buf = trimmed
			p.startCall("", "")
			return true
		}
		undecided = append(undecided, callOpeners...)
	}
	if !final && holdsPrefix(trimmed, undecided) {
		return false
	}
	// Text. Whitespace that continues a prefill is part of it; elsewhere
	// (after the template's header, a reasoning block or a call) it is not.
	if !(p.state == psStart && p.prefill) {
		p.buf = trimmed
	}
	p.state = psText
	return true
}

func (p *outputParser) runThinking(final bool) bool {
	if i := strings.Index(p.buf, p.think.close); i >= 0 {
		p.emit(segment{kind: segThinking, text: p.buf[:i]})
		p.emit(segment{kind: segThinkingEnd})
		p.buf = p.buf[i+len(p.think.close):]
		p.state = psAfter
		return true
	}
	keep := 0
	if !final {
		keep = heldSuffix(p.buf, []string{p.think.close})
	}
	p.emit(segment{kind: segThinking, text: p.buf[:len(p.buf)-keep]})
	p.buf = p.buf[len(p.buf)-keep:]
	return false
}

// heldSuffix returns the length of the longest suffix of s that is a
// proper prefix of one of words.
func heldSuffix(s string, words []string) int {
	best := 0
	for _, w := range words {
		for n := min(len(w)-1, len(s)); n > best; n-- {
			if strings.HasSuffix(s, w[:n]) {
				best = n
				break
			}
		}
	}
	return best
}

func (p *outputParser) runText(final bool) bool {
	if p.tools == nil {
		p.emit(segment{kind: segText, text: p.buf})
		p.buf = ""
		return false
	}
	at, opener := -1, ""
	for _, o := range callOpeners {
		if i := strings.Index(p.buf, o); i >= 0 && (at < 0 || i < at) {
			at, opener = i, o
		}
	}
	if at >= 0 {
		// The whitespace between text and a call belongs to neither.
		p.emit(segment{kind: segText, text: strings.TrimRight(p.buf[:at], " \t\r\n")})
		p.buf = p.buf[at:]
		p.startCall(opener, opener)
		return true
	}
	keep := 0
	if !final {
		// Hold back what may begin an opener, and the whitespace before it.
		keep = heldSuffix(p.buf, callOpeners)
		rest := p.buf[:len(p.buf)-keep]
		keep += len(rest) - len(strings.TrimRight(rest, " \t\r\n"))
	}
	p.emit(segment{kind: segText, text: p.buf[:len(p.buf)-keep]})
	p.buf = p.buf[len(p.buf)-keep:]
	return false
}

// startCall enters a call whose opener (possibly "" for a bare JSON
// object) starts buf.
func (p *outputParser) startCall(opener, raw string) {
	p.buf = p.buf[len(opener):]
	p.raw.Reset()
	p.raw.WriteString(raw)
	p.call = newCallParser(opener, p)
	p.state = psCall
}

// runCall feeds buf to the call parser byte by byte.
func (p *outputParser) runCall() bool {
	for i := 0; i < len(p.buf); i++ {
		b := p.buf[i]
		st := p.call.feed(b)
		if st != callReprocess && !p.call.committed {
			p.raw.WriteByte(b)
		}
		switch st {
		case callMore:
			continue
		case callDone, callReprocess:
			if st == callDone {
				i++
			}
			p.buf = p.buf[i:]
			p.call = nil
			p.state = psAfter
			return true
		case callFailed:
			// Not a call after all: what was read is text.
			p.buf = p.buf[i+1:]
			p.emit(segment{kind: segText, text: p.raw.String()})
			p.call = nil
			p.state = psText
			return true
		}
	}
	p.call.flush()
	p.buf = ""
	return false
}
