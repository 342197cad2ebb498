package safetensors

import (
	"fmt"
	"strconv"
	"strings"
)

// FormatError describes what is wrong with a SafeTensors file and where.
// Readers return it wrapped in a *core.Error of kind core.KindInvalid; get
// it back with errors.As.
type FormatError struct {
	Offset int64  // byte offset in the file (the header starts at 8)
	Tensor string // the tensor involved, if any
	Msg    string // what is wrong
}

// Error formats the error as "safetensors: offset N: tensor "t": msg".
func (e *FormatError) Error() string {
	var b strings.Builder
	b.WriteString("safetensors: offset ")
	b.WriteString(strconv.FormatInt(e.Offset, 10))
	if e.Tensor != "" {
		b.WriteString(": tensor ")
		b.WriteString(strconv.Quote(e.Tensor))
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

func formatErr(off int64, tensor, format string, args ...any) *FormatError {
	return &FormatError{Offset: off, Tensor: tensor, Msg: fmt.Sprintf(format, args...)}
}
