package claude

import (
	"encoding/json"
	"strings"
)

// jsonCall states
const (
	jcOpen  = iota // before '{'
	jcKey          // before a key (or '}' when none was read)
	jcKeyIn        // inside a key
	jcColon        // after a key
	jcValue        // before a value
	jcIn           // inside a value other than the input object
	jcArgs         // inside the input object
	jcAfter        // after a value
)

// jsonCall reads one call object: {"name": …, "arguments": {…}} (or
// "parameters", "input", "args"). The input streams as soon as the name is
// known; an input written before the name is held until the name comes.
type jsonCall struct {
	c        *callParser
	bare     bool // a bare object: it is a call only if its name is a known tool
	st       int
	keys     int
	key      string
	kr, val  *valueReader
	args     *argsStream
	held     []byte // input bytes read before the name
	hasArgs  bool   // an input key was read
	argsDone bool
	name     string
	haveName bool
	started  bool
}

func newJSONCall(c *callParser, bare bool) *jsonCall { return &jsonCall{c: c, bare: bare} }

func (j *jsonCall) fail() callStatus {
	if j.started {
		j.truncate()
		return callReprocess
	}
	return callFailed
}

// feed reads one byte of the object.
func (j *jsonCall) feed(b byte) callStatus {
	switch j.st {
	case jcOpen:
		if b != '{' {
			return j.fail()
		}
		j.st = jcKey
		return callMore
	case jcKey:
		switch {
		case isSpaceByte(b):
			return callMore
		case b == '}' && j.keys == 0:
			return j.closeObject()
		case b != '"':
			return j.fail()
		}
		j.kr = newValueReader(stringKeyProg)
		j.kr.feed(b)
		j.st = jcKeyIn
		return callMore
	case jcKeyIn:
		switch j.kr.feed(b) {
		case valueBad:
			return j.fail()
		case valueClosed:
			_ = json.Unmarshal(j.kr.raw, &j.key)
			j.keys++
			if j.bare && j.keys == 1 && j.key != "name" && j.key != "type" && !argKeys[j.key] {
				return callFailed
			}
			j.st = jcColon
		}
		return callMore
	case jcColon:
		switch {
		case isSpaceByte(b):
			return callMore
		case b == ':':
			j.st = jcValue
			return callMore
		}
		return j.fail()
	case jcValue:
		if isSpaceByte(b) {
			return callMore
		}
		if argKeys[j.key] && b == '{' {
			j.hasArgs = true
			j.args = newArgsStream()
			if j.haveName && !j.started {
				j.start()
			}
			j.st = jcArgs
			return j.argsByte(b)
		}
		j.val = newValueReader(anyValueProg)
		j.st = jcIn
		return j.valueByte(b)
	case jcIn:
		return j.valueByte(b)
	case jcArgs:
		return j.argsByte(b)
	case jcAfter:
		switch {
		case isSpaceByte(b):
			return callMore
		case b == ',':
			j.st = jcKey
			return callMore
		case b == '}':
			return j.closeObject()
		}
		return j.fail()
	}
	return j.fail()
}

func (j *jsonCall) start() {
	j.c.start(j.name)
	j.started = true
	j.c.arg(j.held...)
	j.held = nil
}

func (j *jsonCall) argsByte(b byte) callStatus {
	r := j.args.feed(b)
	if r == argsBad {
		return j.fail()
	}
	if j.started {
		j.c.arg(b)
	} else {
		j.held = append(j.held, b)
	}
	if r == argsClosed {
		j.args, j.argsDone = nil, true
		j.st = jcAfter
	}
	return callMore
}

func (j *jsonCall) valueByte(b byte) callStatus {
	switch j.val.feed(b) {
	case valueBad:
		return j.fail()
	case valueMore:
		return callMore
	case valueEnded:
		if st := j.valueDone(); st != callMore {
			return st
		}
		j.st = jcAfter
		return j.feed(b)
	}
	if st := j.valueDone(); st != callMore {
		return st
	}
	j.st = jcAfter
	return callMore
}

// valueDone takes a complete value: the name, or an input written as a
// JSON string holding an object.
func (j *jsonCall) valueDone() callStatus {
	raw := j.val.raw
	j.val = nil
	switch {
	case j.key == "name":
		var name string
		if json.Unmarshal(raw, &name) != nil || name == "" {
			return j.fail()
		}
		if _, known := j.c.p.tools[name]; j.bare && !known {
			return callFailed
		}
		j.name, j.haveName = name, true
	case argKeys[j.key]:
		var s string
		j.hasArgs, j.argsDone = true, true
		j.held = []byte("{}")
		if json.Unmarshal(raw, &s) == nil {
			if t := strings.TrimSpace(s); strings.HasPrefix(t, "{") && json.Valid([]byte(t)) {
				j.held = compactJSON(json.RawMessage(t))
			}
		}
	}
	return callMore
}

// closeObject ends the call at its closing brace.
func (j *jsonCall) closeObject() callStatus {
	if !j.haveName {
		return j.fail()
	}
	if !j.started {
		j.start()
	}
	j.c.end(!j.hasArgs || j.argsDone)
	return callDone
}

// truncate ends the call where the output stopped: a call with a name is
// emitted with its input completed to valid JSON.
func (j *jsonCall) truncate() {
	if !j.started {
		if !j.haveName || j.args != nil {
			return // nothing callable (an input without a name is dropped)
		}
		j.start()
	}
	if j.args != nil {
		j.c.arg(j.args.m.Completion()...)
		j.args = nil
	}
	j.c.end(j.argsDone)
}
