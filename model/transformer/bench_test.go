package transformer

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/model/gguf"
	"github.com/pensieve-llm/pensieve/model/quant"
)

func BenchmarkDecode(b *testing.B) {
	m := openFixture(b, "fx-llama-q4_k_m")
	c, err := m.NewCache(1, 256)
	if err != nil {
		b.Fatal(err)
	}
	prefill(b, m, c, make([]core.TokenID, 128), false)
	logits := make([]float32, m.Info().VocabSize)
	var batch core.Batch
	batch.Add(1, 128, 0, true)
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Forward(context.Background(), c, &batch, logits); err != nil {
			b.Fatal(err)
		}
		if err := c.Truncate(0, 128); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPrefill64(b *testing.B) {
	m := openFixture(b, "fx-llama-q4_k_m")
	c, err := m.NewCache(1, 256)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]core.TokenID, 64)
	b.ReportAllocs()
	for b.Loop() {
		prefill(b, m, c, ids, false)
	}
}

func BenchmarkDotF16(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	q := randVec(r, 128, 1)
	k := make([]uint16, 128)
	for i, v := range randVec(r, 128, 1) {
		k[i] = quant.F32ToF16(v)
	}
	b.ReportAllocs()
	for b.Loop() {
		dotF16(q, k, halfTable())
	}
}

func BenchmarkSwiGLU(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	g, u := randVec(r, 4096, 2), randVec(r, 4096, 1)
	out := make([]float32, 4096)
	b.ReportAllocs()
	for b.Loop() {
		swiglu(out, g, u)
	}
}

// BenchmarkDecodeFile decodes one token after a 256-token prompt, as
// `pensieve-cli bench` does, on the GGUF file named by PENSIEVE_BENCH_MODEL
// (for example a model of make bench's cache); it is skipped without it.
// Each iteration is one forward pass of one token at position 256.
// PENSIEVE_BENCH_THREADS sets the worker count (default: GOMAXPROCS).
// cpu-ms/tok is the CPU time per token: with one thread, the work of a
// token, which a shared machine's load disturbs much less than tok/s.
// With PENSIEVE_BENCH_READ set, a 1 GiB buffer is read on the model's
// workers (quant.StreamRead) before every token, and bw-frac is the median
// over tokens of file size / token time / that read rate: the share of the
// read bandwidth decoding reaches, each token against the rate measured
// just before it (as pensieve-cli bench --bandwidth, but pairwise).
//
//	PENSIEVE_BENCH_MODEL=~/.cache/pensieve/bench/llama3.2-1b-q4_k_m.gguf \
//	  go test -run '^$' -bench DecodeFile -benchtime 50x -cpuprofile cpu.out ./transformer
func BenchmarkDecodeFile(b *testing.B) {
	path := os.Getenv("PENSIEVE_BENCH_MODEL")
	if path == "" {
		b.Skip("PENSIEVE_BENCH_MODEL is not set")
	}
	f, err := gguf.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	threads, _ := strconv.Atoi(os.Getenv("PENSIEVE_BENCH_THREADS"))
	m, err := FromGGUF(f, WithThreads(threads))
	if err != nil {
		f.Close()
		b.Fatal(err)
	}
	defer m.Close()
	const prompt = 256
	c, err := m.NewCache(1, prompt+1)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 3))
	ids := make([]core.TokenID, prompt)
	for i := range ids {
		ids[i] = core.TokenID(r.IntN(m.Info().VocabSize))
	}
	prefill(b, m, c, ids, false)
	logits := make([]float32, m.Info().VocabSize)
	var batch core.Batch
	batch.Add(1, prompt, 0, true)
	var buf []byte // PENSIEVE_BENCH_READ: 1 GiB read before every token
	var fracs []float64
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	if os.Getenv("PENSIEVE_BENCH_READ") != "" {
		buf = make([]byte, 1<<30)
		for i := 0; i < len(buf); i += 4096 {
			buf[i] = byte(i >> 12)
		}
	}
	b.ReportAllocs()
	cpu0 := cpuSeconds()
	for b.Loop() {
		var rate float64
		if buf != nil {
			b.StopTimer()
			t0 := time.Now()
			quant.StreamRead(m.pool, buf)
			rate = float64(len(buf)) / time.Since(t0).Seconds()
			b.StartTimer()
		}
		t0 := time.Now()
		if err := m.Forward(context.Background(), c, &batch, logits); err != nil {
			b.Fatal(err)
		}
		if buf != nil {
			fracs = append(fracs, float64(st.Size())/time.Since(t0).Seconds()/rate)
		}
		if err := c.Truncate(0, prompt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tok/s")
	if cpu := cpuSeconds() - cpu0; cpu > 0 {
		b.ReportMetric(cpu/float64(b.N)*1e3, "cpu-ms/tok")
	}
	if len(fracs) > 0 {
		slices.Sort(fracs)
		b.ReportMetric(fracs[len(fracs)/2], "bw-frac")
	}
}
