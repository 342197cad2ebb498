package tokenizer

import (
	"strings"
	"testing"

	"github.com/pensieve-llm/pensieve/model/gguf"
	"github.com/pensieve-llm/pensieve/model/internal/fixtures"
)

// BenchmarkLoadLlama3 measures building the 128k-token Llama 3 tokenizer
// from an opened file (metadata parsing excluded).
func BenchmarkLoadLlama3(b *testing.B) {
	f, err := gguf.Open(fixtures.Path(b, "models", "vocab-llama3.gguf"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromGGUF(f); err != nil {
			b.Fatal(err)
		}
	}
}

// benchText is about 64 KiB of mixed prose, code and numbers.
var benchText = strings.Repeat("The quick brown fox — jumps over 1234567 lazy dogs; func main() { fmt.Println(\"héllo, wörld\") }\n\t", 650)

func BenchmarkEncode(b *testing.B) {
	for _, name := range []string{"vocab-llama3.gguf", "vocab-spm.gguf"} {
		b.Run(name, func(b *testing.B) {
			tok := load(b, name)
			b.SetBytes(int64(len(benchText)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tok.Encode(nil, benchText, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
