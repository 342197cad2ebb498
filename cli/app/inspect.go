package app

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/dtype"
	"github.com/pensieve-llm/pensieve/model/gguf"
	"github.com/pensieve-llm/pensieve/model/safetensors"
	"github.com/urfave/cli/v2"
)

func init() { registerModels(modelsInspectCommand) }

func modelsInspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "print the metadata and tensor table of a GGUF or SafeTensors file",
		ArgsUsage: "FILE",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object instead of tables"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return UsageErrorf("models inspect: want exactly one FILE, got %d arguments", c.NArg())
			}
			rep, err := inspectFile(c.Args().First())
			if err != nil {
				return err
			}
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return rep.writeTable(c.App.Writer)
		},
	}
}

// inspectReport is the JSON shape of `models inspect --json`.
type inspectReport struct {
	Format   string          `json:"format"` // "gguf" or "safetensors"
	Version  uint32          `json:"version,omitempty"`
	Metadata orderedMetadata `json:"metadata"`
	Tensors  []inspectTensor `json:"tensors"`

	alignment  int   // GGUF data alignment (0 for SafeTensors)
	dataOffset int64 // absolute offset of the data section
}

type inspectTensor struct {
	Name   string `json:"name"`
	Type   string `json:"type"`   // lower-case type name: f32, q4_k, bf16, f8_e4m3, …
	Shape  []int  `json:"shape"`  // in file order (GGUF: ne0 first; SafeTensors: outermost first)
	Offset uint64 `json:"offset"` // relative to the data section
	Size   int64  `json:"size"`   // bytes
}

// metaEntry is one metadata value prepared for printing.
type metaEntry struct {
	key   string
	typ   string // GGUF value type, e.g. "uint32" or "[]string"
	value any    // JSON-ready value
}

// orderedMetadata marshals as a JSON object in file order.
type orderedMetadata []metaEntry

func (m orderedMetadata) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range m {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(e.key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(e.value)
		if err != nil {
			return nil, fmt.Errorf("metadata %q: %w", e.key, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Arrays longer than maxArray print as {"type":"array","len":N,"head":[…]}
// with their first headLen elements.
const (
	maxArray = 16
	headLen  = 8
)

// inspectFile opens path as GGUF or SafeTensors, deciding by its content.
func inspectFile(path string) (*inspectReport, error) {
	const op = "models.inspect"
	fh, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, core.E(core.KindNotFound, op, err)
		}
		return nil, core.E(core.KindInvalid, op, err)
	}
	var head [9]byte
	n, _ := io.ReadFull(fh, head[:])
	fh.Close()
	switch {
	case n >= 4 && string(head[:4]) == gguf.Magic:
		return inspectGGUF(path)
	case n == 9 && head[8] == '{' && binary.LittleEndian.Uint64(head[:8]) <= safetensors.MaxHeaderSize:
		return inspectSafetensors(path)
	}
	return nil, core.Errorf(core.KindInvalid, op, "%s: not a GGUF or SafeTensors file", path)
}

func inspectGGUF(path string) (*inspectReport, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rep := &inspectReport{Format: "gguf", Version: f.Version, alignment: f.Alignment, dataOffset: f.DataOffset}
	for _, kv := range f.KV {
		typ := kv.Value.Type.String()
		if kv.Value.Type == gguf.TypeArray {
			typ = "[]" + kv.Value.Elem.String()
		}
		rep.Metadata = append(rep.Metadata, metaEntry{key: kv.Key, typ: typ, value: jsonValue(kv.Value.V)})
	}
	rep.Tensors = make([]inspectTensor, 0, len(f.Tensors))
	for _, ti := range f.Tensors {
		rep.Tensors = append(rep.Tensors, inspectTensor{Name: ti.Name, Type: dtype.Name(ti.Type), Shape: ti.Shape, Offset: ti.Offset, Size: ti.Size})
	}
	return rep, nil
}

func inspectSafetensors(path string) (*inspectReport, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rep := &inspectReport{Format: "safetensors", dataOffset: f.DataOffset}
	keys := make([]string, 0, len(f.Metadata))
	for k := range f.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		rep.Metadata = append(rep.Metadata, metaEntry{key: k, typ: "string", value: f.Metadata[k]})
	}
	rep.Tensors = make([]inspectTensor, 0, len(f.Tensors))
	for _, ti := range f.Tensors {
		rep.Tensors = append(rep.Tensors, inspectTensor{Name: ti.Name, Type: strings.ToLower(ti.DType), Shape: ti.Shape, Offset: uint64(ti.Begin), Size: ti.Size()})
	}
	return rep, nil
}

// jsonValue converts a GGUF value into something encoding/json can print:
// non-finite floats become strings, long arrays are shortened.
func jsonValue(v any) any {
	switch x := v.(type) {
	case float32:
		return jsonFloat(float64(x), 32)
	case float64:
		return jsonFloat(x, 64)
	case []string:
		return shorten(x, func(s string) any { return s })
	case []float32:
		return shorten(x, func(f float32) any { return jsonFloat(float64(f), 32) })
	case []float64:
		return shorten(x, func(f float64) any { return jsonFloat(f, 64) })
	case []uint8:
		return shorten(x, func(u uint8) any { return u })
	case []int8:
		return shorten(x, func(u int8) any { return u })
	case []uint16:
		return shorten(x, func(u uint16) any { return u })
	case []int16:
		return shorten(x, func(u int16) any { return u })
	case []uint32:
		return shorten(x, func(u uint32) any { return u })
	case []int32:
		return shorten(x, func(u int32) any { return u })
	case []uint64:
		return shorten(x, func(u uint64) any { return u })
	case []int64:
		return shorten(x, func(u int64) any { return u })
	case []bool:
		return shorten(x, func(u bool) any { return u })
	}
	return v
}

// jsonFloat keeps the shortest decimal form of f at its own precision, so a
// float32 1e-5 prints as 1e-05 and not 9.999999747378752e-06.
func jsonFloat(f float64, bits int) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.FormatFloat(f, 'g', -1, bits)
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, bits))
}

// shortArray is the JSON form of a shortened array.
type shortArray struct {
	Type string `json:"type"`
	Len  int    `json:"len"`
	Head []any  `json:"head"`
}

func shorten[T any](a []T, conv func(T) any) any {
	n := len(a)
	if n > maxArray {
		n = headLen
	}
	out := make([]any, n)
	for i := range n {
		out[i] = conv(a[i])
	}
	if len(a) > maxArray {
		return shortArray{Type: "array", Len: len(a), Head: out}
	}
	return out
}

// writeTable prints the report as two aligned tables.
func (r *inspectReport) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	var total int64
	for _, t := range r.Tensors {
		total += t.Size
	}
	fmt.Fprintf(tw, "format\t%s\n", r.Format)
	if r.Version != 0 {
		fmt.Fprintf(tw, "version\t%d\n", r.Version)
	}
	if r.alignment != 0 {
		fmt.Fprintf(tw, "alignment\t%d\n", r.alignment)
	}
	fmt.Fprintf(tw, "data offset\t%d\n", r.dataOffset)
	fmt.Fprintf(tw, "metadata\t%d keys\n", len(r.Metadata))
	fmt.Fprintf(tw, "tensors\t%d (%d bytes)\n\n", len(r.Tensors), total)
	if len(r.Metadata) > 0 {
		fmt.Fprintln(tw, "KEY\tTYPE\tVALUE")
		for _, e := range r.Metadata {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", e.key, e.typ, tableValue(e.value))
		}
		fmt.Fprintln(tw)
	}
	if len(r.Tensors) > 0 {
		fmt.Fprintln(tw, "TENSOR\tTYPE\tSHAPE\tOFFSET\tSIZE")
		for _, t := range r.Tensors {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%d\n", t.Name, t.Type, t.Shape, t.Offset, t.Size)
		}
	}
	return tw.Flush()
}

// tableValue renders a value on one line of at most about 80 characters.
func tableValue(v any) string {
	var s string
	switch x := v.(type) {
	case string:
		s = strconv.Quote(x)
	case shortArray:
		s = fmt.Sprintf("[%d items] %s …", x.Len, joinAny(x.Head))
	case []any:
		s = "[" + joinAny(x) + "]"
	default:
		s = fmt.Sprint(x)
	}
	if r := []rune(s); len(r) > 80 {
		s = string(r[:77]) + "…"
	}
	return s
}

func joinAny(a []any) string {
	parts := make([]string, len(a))
	for i, x := range a {
		if s, ok := x.(string); ok {
			parts[i] = strconv.Quote(s)
		} else {
			parts[i] = fmt.Sprint(x)
		}
	}
	return strings.Join(parts, " ")
}
