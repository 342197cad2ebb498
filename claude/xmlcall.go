package claude

import (
	"encoding/json"
	"strings"
)

// xmlCall states
const (
	xName  = iota // reading the function name, up to '>'
	xBody         // between parameters
	xTag          // reading a tag in the body
	xValue        // inside a parameter value
)

const paramEnd = "</parameter>"

// xmlCall reads a Qwen3-Coder call after "<function=":
//
//	NAME>
//	<parameter=KEY>
//	VALUE
//	</parameter>
//	</function>
//
// and streams it as a JSON object. Values of parameters the tool's schema
// declares as strings (or does not declare) stream as JSON strings; other
// values are read whole and written as JSON when they parse as JSON.
type xmlCall struct {
	c       *callParser
	st      int
	name    []byte
	tag     []byte
	key     string
	params  int
	asText  bool   // the value streams as a JSON string
	lead    bool   // the value's first newline is still to be skipped
	tail    string // value bytes that may begin the closing tag
	buf     []byte // a whole non-string value
	started bool
}

func (x *xmlCall) feed(b byte) callStatus {
	switch x.st {
	case xName:
		if b != '>' {
			if !isNameByte(b) {
				return x.fail()
			}
			x.name = append(x.name, b)
			return callMore
		}
		if len(x.name) == 0 {
			return x.fail()
		}
		x.c.start(string(x.name))
		x.started = true
		x.c.arg('{')
		x.st = xBody
		return callMore
	case xBody:
		if isSpaceByte(b) {
			return callMore
		}
		if b != '<' {
			return x.fail()
		}
		x.tag = append(x.tag[:0], b)
		x.st = xTag
		return callMore
	case xTag:
		x.tag = append(x.tag, b)
		if b != '>' {
			if len(x.tag) > 80 {
				return x.fail()
			}
			return callMore
		}
		return x.tagDone()
	}
	return x.valueByte(b)
}

func (x *xmlCall) fail() callStatus {
	if x.started {
		x.truncate()
		return callReprocess
	}
	return callFailed
}

// tagDone acts on a complete tag in the body.
func (x *xmlCall) tagDone() callStatus {
	tag := string(x.tag)
	switch {
	case tag == "</function>":
		x.c.arg('}')
		x.c.end(true)
		return callDone
	case strings.HasPrefix(tag, "<parameter="):
		x.key = strings.TrimSuffix(strings.TrimPrefix(tag, "<parameter="), ">")
		t, declared := x.c.schemaTypes(string(x.name))[x.key]
		x.asText = !declared || t == "string"
		x.lead, x.tail, x.buf = true, "", x.buf[:0]
		if x.params > 0 {
			x.c.arg(',', ' ')
		}
		x.params++
		key, _ := json.Marshal(x.key)
		x.c.arg(key...)
		x.c.arg(':', ' ')
		if x.asText {
			x.c.arg('"')
		}
		x.st = xValue
		return callMore
	}
	return x.fail()
}

// valueByte reads one byte of a value, holding back what may be the start
// of "\n</parameter>" (the newline before the closing tag is not part of
// the value).
func (x *xmlCall) valueByte(b byte) callStatus {
	if x.lead {
		x.lead = false
		if b == '\n' {
			return callMore
		}
	}
	x.tail += string(b)
	if strings.TrimPrefix(x.tail, "\n") == paramEnd {
		x.tail = ""
		x.endValue()
		x.st = xBody
		return callMore
	}
	for x.tail != "" && !closingPrefix(x.tail) {
		x.value(x.tail[0])
		x.tail = x.tail[1:]
	}
	return callMore
}

// closingPrefix reports whether t may still grow into "\n</parameter>".
func closingPrefix(t string) bool {
	return strings.HasPrefix(paramEnd, t) || t[0] == '\n' && strings.HasPrefix(paramEnd, t[1:])
}

// value takes one decided byte of a value.
func (x *xmlCall) value(b byte) {
	if !x.asText {
		x.buf = append(x.buf, b)
		return
	}
	x.c.arg(escapeJSONByte(b)...)
}

// endValue closes a value.
func (x *xmlCall) endValue() {
	if x.asText {
		x.c.arg('"')
		return
	}
	v := strings.TrimSpace(string(x.buf))
	if json.Valid([]byte(v)) {
		x.c.arg(compactJSON(json.RawMessage(v))...)
		return
	}
	s, _ := json.Marshal(v)
	x.c.arg(s...)
}

// truncate ends the call where the output stopped.
func (x *xmlCall) truncate() {
	if !x.started {
		return
	}
	if x.st == xValue {
		for i := 0; i < len(x.tail); i++ {
			x.value(x.tail[i])
		}
		x.tail = ""
		x.endValue()
	}
	x.c.arg('}')
	x.c.end(false)
	x.started = false
}

// escapeJSONByte returns b as it appears inside a JSON string. Bytes of
// multi-byte characters pass through unchanged.
func escapeJSONByte(b byte) []byte {
	switch b {
	case '"':
		return []byte(`\"`)
	case '\\':
		return []byte(`\\`)
	case '\n':
		return []byte(`\n`)
	case '\r':
		return []byte(`\r`)
	case '\t':
		return []byte(`\t`)
	}
	if b < 0x20 {
		const hex = "0123456789abcdef"
		return []byte{'\\', 'u', '0', '0', hex[b>>4], hex[b&0xF]}
	}
	return []byte{b}
}
