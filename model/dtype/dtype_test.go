package dtype

import (
	"errors"
	"testing"

	"github.com/pensieve-llm/pensieve/core"
)

func TestTable(t *testing.T) {
	// Expected values transcribed from spec §2.1 (ggml.h / ggml-common.h).
	cases := []struct {
		code        core.DType
		name        string
		block, size int
	}{
		{0, "f32", 1, 4}, {1, "f16", 1, 2}, {2, "q4_0", 32, 18}, {3, "q4_1", 32, 20},
		{6, "q5_0", 32, 22}, {7, "q5_1", 32, 24}, {8, "q8_0", 32, 34}, {9, "q8_1", 32, 36},
		{10, "q2_k", 256, 84}, {11, "q3_k", 256, 110}, {12, "q4_k", 256, 144},
		{13, "q5_k", 256, 176}, {14, "q6_k", 256, 210}, {15, "q8_k", 256, 292},
		{16, "iq2_xxs", 256, 66}, {17, "iq2_xs", 256, 74}, {18, "iq3_xxs", 256, 98},
		{19, "iq1_s", 256, 50}, {20, "iq4_nl", 32, 18}, {21, "iq3_s", 256, 110},
		{22, "iq2_s", 256, 82}, {23, "iq4_xs", 256, 136}, {24, "i8", 1, 1}, {25, "i16", 1, 2},
		{26, "i32", 1, 4}, {27, "i64", 1, 8}, {28, "f64", 1, 8}, {29, "iq1_m", 256, 56},
		{30, "bf16", 1, 2}, {34, "tq1_0", 256, 54}, {35, "tq2_0", 256, 66}, {39, "mxfp4", 32, 17},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !Known(c.code) {
				t.Fatalf("Known(%d) = false", c.code)
			}
			if got := Name(c.code); got != c.name {
				t.Errorf("Name(%d) = %q, want %q", c.code, got, c.name)
			}
			if got := BlockSize(c.code); got != c.block {
				t.Errorf("BlockSize = %d, want %d", got, c.block)
			}
			if got := TypeSize(c.code); got != c.size {
				t.Errorf("TypeSize = %d, want %d", got, c.size)
			}
			got, err := Parse(c.name)
			if err != nil || got != c.code {
				t.Errorf("Parse(%q) = %d, %v; want %d", c.name, got, err, c.code)
			}
		})
	}
	known := 0
	for c := core.DType(0); c < 64; c++ {
		if Known(c) {
			known++
		}
	}
	if known != len(cases) {
		t.Errorf("%d known codes, want %d", known, len(cases))
	}
}

func TestRemovedAndUnknown(t *testing.T) {
	for _, c := range []core.DType{4, 5, 31, 32, 33, 36, 37, 38, 40, 41, 1 << 31} {
		if Known(c) {
			t.Errorf("Known(%d) = true", c)
		}
		if BlockSize(c) != 0 || TypeSize(c) != 0 {
			t.Errorf("code %d has a size", c)
		}
		if _, err := RowSize(c, 32); !errors.Is(err, core.KindInvalid) {
			t.Errorf("RowSize(%d) err = %v, want KindInvalid", c, err)
		}
	}
	if got := Name(4); got != "type(4)" {
		t.Errorf("Name(4) = %q", got)
	}
}

func TestParseSpellings(t *testing.T) {
	for in, want := range map[string]core.DType{"q4_K": core.Q4_K, "Q8_0": core.Q8_0, "BF16": core.BF16, "iq4_XS": core.IQ4_XS} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "q4_2", "f8", "type(4)"} {
		if _, err := Parse(in); !errors.Is(err, core.KindInvalid) {
			t.Errorf("Parse(%q) err = %v, want KindInvalid", in, err)
		}
	}
}

func TestRowSize(t *testing.T) {
	cases := []struct {
		name string
		t    core.DType
		ne0  int
		want int
		ok   bool
	}{
		{"f32", core.F32, 7, 28, true},
		{"q4_0", core.Q4_0, 64, 36, true},
		{"q4_k", core.Q4_K, 512, 288, true},
		{"q6_k", core.Q6_K, 256, 210, true},
		{"zero", core.Q8_0, 0, 0, true},
		{"not a multiple", core.Q4_K, 300, 0, false},
		{"negative", core.F32, -1, 0, false},
		{"overflow", core.F64, maxInt/4 + 1, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := RowSize(c.t, c.ne0)
			if (err == nil) != c.ok || got != c.want {
				t.Errorf("RowSize = %d, %v; want %d ok=%v", got, err, c.want, c.ok)
			}
		})
	}
}

func TestSize(t *testing.T) {
	cases := []struct {
		name  string
		t     core.DType
		shape []int
		want  int64
		ok    bool
	}{
		{"matrix", core.Q8_0, []int{256, 10}, 8 * 34 * 10, true},
		{"scalar", core.F32, nil, 4, true},
		{"4d", core.F16, []int{2, 3, 4, 5}, 240, true},
		{"zero dim", core.F32, []int{4, 0, 3}, 0, true},
		{"negative", core.F32, []int{4, -1}, 0, false},
		{"overflow", core.F32, []int{1 << 20, 1 << 20, 1 << 20, 1 << 20}, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Size(c.t, c.shape)
			if (err == nil) != c.ok || got != c.want {
				t.Errorf("Size = %d, %v; want %d ok=%v", got, err, c.want, c.ok)
			}
		})
	}
}
