package claude

import (
	"encoding/json"
	"strings"

	"github.com/pensieve-llm/pensieve/claude/internal/jsonmatch"
)

// callStatus is what the call parser says after a byte.
type callStatus uint8

const (
	callMore      callStatus = iota // the call goes on
	callDone                        // the byte ended the call
	callReprocess                   // the call ended before the byte; parse the byte as text
	callFailed                      // not a call: its text is plain text
)

// Programs of the lenient matchers the call parser reads JSON with.
var (
	anyValueProg  = mustProgram(jsonmatch.Any())
	objectProg    = mustProgram(mustCompile(`{"type":"object"}`))
	stringKeyProg = mustProgram(mustCompile(`{"type":"string"}`))
)

func mustCompile(doc string) *jsonmatch.Schema {
	s, err := jsonmatch.Compile([]byte(doc))
	if err != nil {
		panic(err) // a constant schema
	}
	return s
}

func mustProgram(s *jsonmatch.Schema) *jsonmatch.Program {
	p, err := jsonmatch.NewProgram(jsonmatch.Grammar{Schemas: []*jsonmatch.Schema{s}, Lenient: true})
	if err != nil {
		panic(err) // a constant grammar
	}
	return p
}

// argKeys are the keys that hold a call's input in the JSON formats.
var argKeys = map[string]bool{"arguments": true, "parameters": true, "input": true, "args": true}

// call wrapper states
const (
	wStart      = iota // before the first call of the wrapper
	wObj               // inside a JSON call object
	wXMLTag            // reading "<function=" (Qwen3-Coder)
	wXML               // inside an XML call
	wClose             // after a call: the closer, another call, or the end
	wArray             // Mistral: inside [ … ]
	wArrayAfter        // Mistral: after an array element
	wName              // Mistral: name[ARGS]{…}
	wArgsTag           // Mistral: reading "[ARGS]"
	wArgs              // Mistral: before and inside the arguments object
)

// callParser reads one tool-call wrapper (<tool_call>…</tool_call>,
// <|python_tag|>…, [TOOL_CALLS]…, or a bare JSON object), which may hold
// several calls, and emits tool segments through its outputParser.
type callParser struct {
	p         *outputParser
	opener    string
	st        int
	lit       []byte // text of a tag being read
	obj       *jsonCall
	xml       *xmlCall
	name      []byte                       // Mistral name[ARGS] form
	args      *argsStream                  // Mistral name[ARGS] form
	pending   []byte                       // argument bytes not yet emitted
	committed bool                         // a call was emitted: no falling back to text
	failed    bool                         // finish found no call
	inArray   bool                         // Mistral: the calls are in a JSON array
	schemas   map[string]map[string]string // tool → property → declared type
}

func newCallParser(opener string, p *outputParser) *callParser {
	return &callParser{p: p, opener: opener}
}

// start emits the beginning of a call.
func (c *callParser) start(name string) {
	c.flush()
	c.p.emit(segment{kind: segToolStart, text: name})
	c.committed = true
}

// arg queues input JSON bytes of the current call.
func (c *callParser) arg(b ...byte) { c.pending = append(c.pending, b...) }

// end emits the end of the current call.
func (c *callParser) end(complete bool) {
	c.flush()
	c.p.emit(segment{kind: segToolEnd, complete: complete})
}

// flush emits queued argument bytes.
func (c *callParser) flush() {
	if len(c.pending) > 0 {
		c.p.emit(segment{kind: segToolArgs, text: string(c.pending)})
		c.pending = c.pending[:0]
	}
}

// broken ends a committed call whose text stopped making sense: its input
// is completed to valid JSON and the rest of the text is plain text.
func (c *callParser) broken() callStatus {
	c.closeOpen()
	return callReprocess
}

// closeOpen completes and ends the call in progress, if any.
func (c *callParser) closeOpen() {
	switch {
	case c.obj != nil:
		c.obj.truncate()
	case c.xml != nil:
		c.xml.truncate()
	case c.args != nil:
		c.arg(c.args.m.Completion()...)
		c.end(false)
	}
	c.obj, c.xml, c.args = nil, nil, nil
}

func (c *callParser) fail() callStatus {
	if c.committed {
		return c.broken()
	}
	return callFailed
}

// feed reads one byte.
func (c *callParser) feed(b byte) callStatus {
	switch c.st {
	case wStart:
		return c.begin(b)
	case wObj:
		switch c.obj.feed(b) {
		case callMore:
			return callMore
		case callFailed:
			c.obj = nil
			return c.fail()
		}
		c.obj = nil
		switch {
		case c.inArray:
			c.st = wArrayAfter
			return callMore
		case c.opener == "" || c.opener == "[TOOL_CALLS]":
			return callDone // a bare object or a single Mistral object is one call
		}
		c.st, c.lit = wClose, c.lit[:0]
		return callMore
	case wXMLTag:
		c.lit = append(c.lit, b)
		if !strings.HasPrefix("<function=", string(c.lit)) {
			return c.fail()
		}
		if len(c.lit) == len("<function=") {
			c.xml = &xmlCall{c: c}
			c.st = wXML
		}
		return callMore
	case wXML:
		st := c.xml.feed(b)
		if st == callDone {
			c.xml = nil
			c.st, c.lit = wClose, c.lit[:0]
			return callMore
		}
		if st == callFailed {
			c.xml = nil
			return c.fail()
		}
		return st
	case wClose:
		return c.close(b)
	case wArray, wArrayAfter:
		return c.array(b)
	case wName, wArgsTag, wArgs:
		return c.named(b)
	}
	return callFailed
}

// begin reads the first byte after the opener.
func (c *callParser) begin(b byte) callStatus {
	if isSpaceByte(b) {
		return callMore
	}
	switch {
	case b == '{':
		c.obj = newJSONCall(c, c.opener == "")
		c.st = wObj
		return c.obj.feed(b)
	case b == '<' && c.opener == "<tool_call>":
		c.lit = append(c.lit[:0], b)
		c.st = wXMLTag
		return callMore
	case c.opener == "[TOOL_CALLS]" && b == '[':
		c.st = wArray
		return callMore
	case c.opener == "[TOOL_CALLS]" && isNameByte(b):
		c.name = append(c.name[:0], b)
		c.st = wName
		return callMore
	}
	return c.fail()
}

func isNameByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-' || b == '.'
}

// close reads what follows a call: the wrapper's closer, another call
// object (several calls in one block or after ';'), or anything else,
// which ends the wrapper.
func (c *callParser) close(b byte) callStatus {
	const closer = "</tool_call>"
	if len(c.lit) > 0 {
		c.lit = append(c.lit, b)
		if !strings.HasPrefix(closer, string(c.lit)) {
			return callReprocess
		}
		if len(c.lit) == len(closer) {
			return callDone
		}
		return callMore
	}
	switch {
	case isSpaceByte(b):
		return callMore
	case b == ';' && c.opener == "<|python_tag|>":
		return callMore
	case b == '{':
		c.obj = newJSONCall(c, false)
		c.st = wObj
		return c.obj.feed(b)
	case b == '<' && c.opener == "<tool_call>":
		c.lit = append(c.lit[:0], b)
		return callMore
	}
	return callReprocess
}

// array reads Mistral's [{…}, {…}].
func (c *callParser) array(b byte) callStatus {
	switch {
	case isSpaceByte(b):
		return callMore
	case b == ']':
		return callDone
	case b == ',' && c.st == wArrayAfter:
		c.st = wArray
		return callMore
	case b == '{' && c.st == wArray:
		c.obj = newJSONCall(c, false)
		c.st, c.inArray = wObj, true
		return c.obj.feed(b)
	}
	return c.fail()
}

// named reads Mistral's name[ARGS]{…}.
func (c *callParser) named(b byte) callStatus {
	const tag = "[ARGS]"
	switch c.st {
	case wName:
		if isNameByte(b) {
			c.name = append(c.name, b)
			return callMore
		}
		if b != '[' {
			return c.fail()
		}
		c.lit = append(c.lit[:0], b)
		c.st = wArgsTag
		return callMore
	case wArgsTag:
		c.lit = append(c.lit, b)
		if !strings.HasPrefix(tag, string(c.lit)) {
			return c.fail()
		}
		if len(c.lit) == len(tag) {
			c.st = wArgs
		}
		return callMore
	}
	if c.args == nil {
		if isSpaceByte(b) {
			return callMore
		}
		if b != '{' {
			return c.fail()
		}
		c.start(string(c.name))
		c.args = newArgsStream()
	}
	switch c.args.feed(b) {
	case argsBad:
		return c.broken()
	case argsClosed:
		c.arg(b)
		c.args = nil
		c.end(true)
		return callDone
	}
	c.arg(b)
	return callMore
}

// finish handles the end of the output inside the wrapper.
func (c *callParser) finish() {
	switch {
	case c.obj != nil && !c.obj.started && !c.obj.haveName:
		c.failed = !c.committed
		c.obj = nil
	case c.st == wName || c.st == wArgsTag || (c.st == wArgs && c.args == nil):
		if len(c.name) > 0 && c.st != wName {
			c.start(string(c.name))
			c.end(false)
		} else {
			c.failed = !c.committed
		}
	case c.st == wStart || c.st == wXMLTag:
		c.failed = !c.committed
	}
	c.closeOpen()
	c.flush()
}

// argsStream validates a call's input object as it streams.
type argsStream struct {
	m *jsonmatch.Matcher
}

type argsResult uint8

const (
	argsMore argsResult = iota
	argsClosed
	argsBad
)

func newArgsStream() *argsStream { return &argsStream{m: jsonmatch.NewMatcher(objectProg)} }

func (a *argsStream) feed(b byte) argsResult {
	if !a.m.Feed(b) {
		return argsBad
	}
	if a.m.Closed() {
		return argsClosed
	}
	return argsMore
}

// valueReader reads one JSON value of any kind and keeps its bytes.
type valueReader struct {
	m, tmp *jsonmatch.Matcher
	raw    []byte
}

type valueResult uint8

const (
	valueMore   valueResult = iota
	valueClosed             // the byte ended the value
	valueEnded              // the value ended before the byte
	valueBad
)

func newValueReader(p *jsonmatch.Program) *valueReader {
	return &valueReader{m: jsonmatch.NewMatcher(p), tmp: jsonmatch.NewMatcher(p)}
}

func (v *valueReader) feed(b byte) valueResult {
	if v.m.Done() {
		v.tmp.CopyFrom(v.m)
		if !v.tmp.Feed(b) {
			return valueEnded
		}
	}
	if !v.m.Feed(b) {
		return valueBad
	}
	v.raw = append(v.raw, b)
	if v.m.Closed() {
		return valueClosed
	}
	return valueMore
}

// schemaTypes returns the declared "type" of each property of a tool's
// input schema (for Qwen3-Coder's untyped parameter values).
func (c *callParser) schemaTypes(tool string) map[string]string {
	if c.schemas == nil {
		c.schemas = map[string]map[string]string{}
	}
	if t, ok := c.schemas[tool]; ok {
		return t
	}
	var s struct {
		Properties map[string]struct {
			Type json.RawMessage `json:"type"`
		} `json:"properties"`
	}
	types := map[string]string{}
	if t, ok := c.p.tools[tool]; ok && json.Unmarshal(t.InputSchema, &s) == nil {
		for k, v := range s.Properties {
			var one string
			if json.Unmarshal(v.Type, &one) == nil {
				types[k] = one
			}
		}
	}
	c.schemas[tool] = types
	return types
}
