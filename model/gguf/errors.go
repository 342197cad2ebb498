package gguf

import (
	"fmt"
	"strconv"
	"strings"
)

// FormatError describes what is wrong with a GGUF file and where. Readers
// return it wrapped in a *core.Error of kind core.KindInvalid; get it back
// with errors.As.
type FormatError struct {
	Offset int64  // byte offset in the file where the problem was found
	Key    string // the metadata key involved, if any
	Tensor string // the tensor involved, if any
	Msg    string // what is wrong
}

// Error formats the error as "gguf: offset N: key "k": tensor "t": msg".
func (e *FormatError) Error() string {
	var b strings.Builder
	b.WriteString("gguf: offset ")
	b.WriteString(strconv.FormatInt(e.Offset, 10))
	if e.Key != "" {
		b.WriteString(": key ")
		b.WriteString(strconv.Quote(e.Key))
	}
	if e.Tensor != "" {
		b.WriteString(": tensor ")
		b.WriteString(strconv.Quote(e.Tensor))
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

func formatErr(off int64, format string, args ...any) *FormatError {
	return &FormatError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}
