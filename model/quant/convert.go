package quant

import (
	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/dtype"
	"github.com/pensieve-llm/pensieve/model/parallel"
)

// convertChunk bounds the rows one worker converts at a time so the float32
// scratch stays near 1 MiB whatever the tensor size.
const convertChunk = 1 << 18 // elements

// Convert re-encodes src, rows of ne0 elements of type from, as type to
// into dst, which must have exactly the converted size. Each row goes
// through float32 (exact for every type Dequantize reads) and is then
// quantized as Quantize does, so the result is what llama.cpp's quantizer
// writes for the same input. Rows are spread over p (nil: the caller's
// goroutine). Unsupported types and sizes fail with core.KindInvalid.
func Convert(dst []byte, to core.DType, src []byte, from core.DType, ne0 int, p *parallel.Pool) error {
	const op = "quant.Convert"
	inRow, err := dtype.RowSize(from, ne0)
	if err != nil {
		return core.E(core.KindInvalid, op, err)
	}
	outRow, err := encodedSize(to, ne0)
	if err != nil {
		return core.E(core.KindInvalid, op, err)
	}
	if int(from) >= len(dequantFuncs) || dequantFuncs[from] == nil && from != core.F32 {
		return core.Errorf(core.KindInvalid, op, "conversion from type %s is not supported", dtype.Name(from))
	}
	if inRow == 0 || len(src)%inRow != 0 {
		return core.Errorf(core.KindInvalid, op, "%d source bytes are not whole rows of %d", len(src), inRow)
	}
	rows := len(src) / inRow
	if len(dst) != rows*outRow {
		return core.Errorf(core.KindInvalid, op, "destination holds %d bytes, %d rows of %s need %d", len(dst), rows, dtype.Name(to), rows*outRow)
	}
	task := &convertTask{
		dst: dst, src: src, to: to, from: from, ne0: ne0, inRow: inRow, outRow: outRow,
		scratch: make([][]float32, p.Workers()),
	}
	p.Run(task, rows, max(1, convertChunk/max(ne0, 1)))
	return nil
}

// convertTask converts rows [lo, hi) per call with per-worker scratch.
type convertTask struct {
	dst, src      []byte
	to, from      core.DType
	ne0           int
	inRow, outRow int
	scratch       [][]float32 // per worker
}

func (c *convertTask) Do(worker, lo, hi int) {
	n := (hi - lo) * c.ne0
	buf := c.scratch[worker]
	if cap(buf) < n {
		buf = make([]float32, n)
		c.scratch[worker] = buf
	}
	buf = buf[:n]
	// Lengths were validated by Convert; Dequantize cannot fail here.
	_ = Dequantize(buf, c.from, c.src[lo*c.inRow:hi*c.inRow])
	encode(c.dst[lo*c.outRow:hi*c.outRow], c.to, buf)
}
