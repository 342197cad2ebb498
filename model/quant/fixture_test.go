package quant

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/internal/fixtures"
)

// quantFixture is one reference/quants/<type>.json file: ggml's own
// quantization and dequantization of src.
type quantFixture struct {
	Type        string    `json:"type"`
	GGMLType    int       `json:"ggml_type"`
	Rows        int       `json:"rows"`
	Cols        int       `json:"cols"`
	RowBytes    int       `json:"row_bytes"`
	Src         []float64 `json:"src"`
	QuantHex    string    `json:"quantized_hex"`
	Dequantized []float64 `json:"dequantized"`

	src, deq []float32 // Src and Dequantized as float32 (exact: printed with 9 digits)
	q        []byte
}

var fixtureTypes = []string{"f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0",
	"q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "iq4_nl", "iq4_xs"}

func loadFixture(t *testing.T, name string) *quantFixture {
	t.Helper()
	raw, err := os.ReadFile(fixtures.Path(t, "reference", "quants", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var f quantFixture
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if f.q, err = hex.DecodeString(f.QuantHex); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	f.src, f.deq = toF32(f.Src), toF32(f.Dequantized)
	if len(f.src) != f.Rows*f.Cols || len(f.q) != f.Rows*f.RowBytes || len(f.deq) != len(f.src) {
		t.Fatalf("%s: inconsistent fixture sizes", name)
	}
	return &f
}

func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// firstBitDiff returns the first index where a and b differ in bits, or -1.
func firstBitDiff(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

func TestDequantizeFixtures(t *testing.T) {
	for _, name := range fixtureTypes {
		t.Run(name, func(t *testing.T) {
			f := loadFixture(t, name)
			got := make([]float32, len(f.deq))
			if err := Dequantize(got, core.DType(f.GGMLType), f.q); err != nil {
				t.Fatal(err)
			}
			if i := firstBitDiff(f.deq, got); i >= 0 {
				t.Fatalf("element %d: want %v (%#08x), got %v (%#08x)", i, f.deq[i], math.Float32bits(f.deq[i]), got[i], math.Float32bits(got[i]))
			}
		})
	}
}

func TestDequantizeErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		typ  core.DType
		dst  int
		src  int
	}{
		{"unsupported", core.I32, 4, 16},
		{"unknown", core.DType(99), 4, 16},
		{"partial block", core.Q4_0, 31, 18},
		{"short source", core.Q4_K, 256, 143},
		{"long source", core.F16, 4, 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Dequantize(make([]float32, c.dst), c.typ, make([]byte, c.src))
			if core.KindOf(err) != core.KindInvalid {
				t.Fatalf("got %v, want a KindInvalid error", err)
			}
		})
	}
}

func TestQuantizeFixtures(t *testing.T) {
	for _, name := range fixtureTypes {
		t.Run(name, func(t *testing.T) {
			f := loadFixture(t, name)
			got, err := Quantize(nil, core.DType(f.GGMLType), f.src)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(f.q) {
				t.Fatalf("got %d bytes, want %d", len(got), len(f.q))
			}
			diffBytes := 0
			for i := range got {
				if got[i] != f.q[i] {
					diffBytes++
				}
			}
			deq := make([]float32, len(f.deq))
			if err := Dequantize(deq, core.DType(f.GGMLType), got); err != nil {
				t.Fatal(err)
			}
			var maxDiff float64
			for i := range deq {
				maxDiff = math.Max(maxDiff, math.Abs(float64(deq[i])-float64(f.deq[i])))
			}
			// The fixture README asks bit-exactness of the simple types and
			// 1e-6 of the K/IQ types; all of them are reproduced exactly, so
			// any byte that changes is a regression.
			if diffBytes != 0 {
				t.Fatalf("%d bytes differ from ggml's reference quantization (max dequantized difference %g)", diffBytes, maxDiff)
			}
		})
	}
}
