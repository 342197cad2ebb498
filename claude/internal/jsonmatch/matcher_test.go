package jsonmatch

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"unicode/utf8"

	"github.com/pensieve-llm/pensieve/claude/internal/testmodel"
)

var testSchemas = map[string]string{
	"bash":  `{"type":"object","properties":{"command":{"type":"string","description":"The command"},"timeout":{"type":"number"},"description":{"type":"string"},"run_in_background":{"type":"boolean"}},"required":["command"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}`,
	"todos": `{"type":"object","properties":{"todos":{"type":"array","items":{"type":"object","properties":{"content":{"type":"string","minLength":1},"status":{"type":"string","enum":["pending","in_progress","completed"]},"activeForm":{"type":"string","minLength":1}},"required":["content","status","activeForm"],"additionalProperties":false},"minItems":1,"maxItems":3}},"required":["todos"]}`,
	"mixed": `{"type":"object","properties":{"n":{"type":"integer"},"x":{"type":["number","null"]},"tags":{"type":"array","items":{"type":"string","maxLength":4}},"mode":{"enum":["a","ab",1,true,null]},"opt":{"anyOf":[{"type":"string"},{"type":"null"}]},"nested":{"type":"object","properties":{"deep":{"type":"object","properties":{"v":{"const":"fixed"}},"required":["v"]}},"required":["deep"]}},"required":["n","mode","nested"]}`,
	"free":  `{"type":"object"}`,
	"refs":  `{"type":"object","properties":{"p":{"$ref":"#/$defs/point"},"q":{"$ref":"#/definitions/point"}},"required":["p","q"],"$defs":{"point":{"type":"object","properties":{"x":{"type":"integer"},"y":{"type":"integer"}},"required":["x","y"]}},"definitions":{"point":{"type":"object","properties":{"x":{"type":"integer"},"y":{"type":"integer"}},"required":["x","y"]}}}`,
	"allof": `{"allOf":[{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},{"properties":{"b":{"type":"boolean"}},"required":["b"]}]}`,
	"empty": `{"type":"object","properties":{},"additionalProperties":false}`,
	"any":   `{}`,
}

func mustProgram(t testing.TB, g Grammar) *Program {
	t.Helper()
	p, err := NewProgram(g)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustSchema(t testing.TB, doc string) *Schema {
	t.Helper()
	s, err := Compile([]byte(doc))
	if err != nil {
		t.Fatalf("Compile(%s): %v", doc, err)
	}
	return s
}

func TestAcceptReject(t *testing.T) {
	tests := []struct {
		schema string
		text   string
		want   bool // complete match
	}{
		{"bash", `{"command":"ls -la"}`, true},
		{"bash", `{ "command" : "ls", "timeout": 1.5e3, "run_in_background": false }`, true},
		{"bash", `{"timeout":1}`, false},                  // missing required
		{"bash", `{"command":"a","command":"b"}`, false},  // duplicate key
		{"bash", `{"command":"a","extra":1}`, false},      // undeclared key
		{"bash", "{\"command\":\"tab\there\"}", false},    // raw control char
		{"bash", `{"command":"esc\\t\u00e9\"q\""}`, true}, // escapes
		{"bash", `{"command":"\ud800"}`, false},           // surrogate half
		{"bash", `{"command":"é ü 日本"}`, true},            // UTF-8
		{"bash", "{\"command\":\"\xff\"}", false},         // invalid UTF-8
		{"bash", `{"command":"x","timeout":01}`, false},   // leading zero
		{"mixed", `{"n":-12,"mode":"ab","nested":{"deep":{"v":"fixed"}}}`, true},
		{"mixed", `{"n":1.5,"mode":"a","nested":{"deep":{"v":"fixed"}}}`, false}, // integer
		{"mixed", `{"n":1,"mode":"b","nested":{"deep":{"v":"fixed"}}}`, false},   // enum
		{"mixed", `{"n":1,"mode":1,"x":null,"opt":null,"tags":["abcd"],"nested":{"deep":{"v":"fixed"}}}`, true},
		{"mixed", `{"n":1,"mode":true,"tags":["abcde"],"nested":{"deep":{"v":"fixed"}}}`, false}, // maxLength
		{"todos", `{"todos":[]}`, false},                                                         // minItems
		{"todos", `{"todos":[{"content":"a","status":"pending","activeForm":"b"}]}`, true},
		{"free", `{"any":{"thing":[1,"two",null,true,{"x":[]}]}}`, true},
		{"refs", `{"p":{"x":1,"y":2},"q":{"y":3,"x":4}}`, true},
		{"allof", `{"b":true,"a":"x"}`, true},
		{"allof", `{"a":"x"}`, false},
		{"empty", `{}`, true},
		{"empty", `{"a":1}`, false},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d_%s", i, tt.schema), func(t *testing.T) {
			p := mustProgram(t, Grammar{Schemas: []*Schema{mustSchema(t, testSchemas[tt.schema])}})
			m := NewMatcher(p)
			got := m.FeedBytes([]byte(tt.text)) && m.Done()
			if got != tt.want {
				t.Errorf("match %s = %v, want %v (state %v)", tt.text, got, tt.want, m)
			}
		})
	}
}

func TestWrapperAndNames(t *testing.T) {
	s := mustSchema(t, testSchemas["bash"])
	free := mustSchema(t, testSchemas["free"])
	p := mustProgram(t, Grammar{
		Prefix: "<tool_call>\n{\"name\": \"", Names: []string{"Bash", "Bash2", "Read"},
		Infix: "\", \"arguments\": ", Schemas: []*Schema{s, free, free}, Suffix: "}\n</tool_call>",
	})
	tests := []struct {
		text string
		want bool
	}{
		{"<tool_call>\n{\"name\": \"Bash\", \"arguments\": {\"command\":\"ls\"}}\n</tool_call>", true},
		{"<tool_call>\n{\"name\": \"Bash2\", \"arguments\": {\"z\":1}}\n</tool_call>", true},
		{"<tool_call>\n{\"name\": \"Bash\", \"arguments\": {\"z\":1}}\n</tool_call>", false},
		{"<tool_call>\n{\"name\": \"Write\", \"arguments\": {}}\n</tool_call>", false},
		{"<tool_call> {\"name\": \"Read\", \"arguments\": {}}\n</tool_call>", false},
	}
	for _, tt := range tests {
		m := NewMatcher(p)
		if got := m.FeedBytes([]byte(tt.text)) && m.Done(); got != tt.want {
			t.Errorf("match %q = %v, want %v", tt.text, got, tt.want)
		}
	}
}

// TestMinRemainingIsAchievable checks the property the token budget relies
// on: from any reachable state, some byte lowers MinRemaining by exactly
// one, so a completion of exactly MinRemaining bytes exists.
func TestMinRemainingIsAchievable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for name, doc := range testSchemas {
		t.Run(name, func(t *testing.T) {
			p := mustProgram(t, Grammar{Prefix: "<c>", Schemas: []*Schema{mustSchema(t, doc)}, Suffix: "</c>"})
			for walk := 0; walk < 30; walk++ {
				m := NewMatcher(p)
				// Wander randomly for a while, then complete greedily.
				for step := 0; step < rng.IntN(60); step++ {
					bs := allowedBytes(m, -1)
					if len(bs) == 0 {
						break
					}
					m.Feed(bs[rng.IntN(len(bs))])
				}
				var out []byte
				for !m.Done() {
					need := m.MinRemaining()
					found := false
					tmp := NewMatcher(p)
					for b := 0; b < 256; b++ {
						tmp.CopyFrom(m)
						if tmp.Feed(byte(b)) && tmp.MinRemaining() == need-1 {
							m.Feed(byte(b))
							out = append(out, byte(b))
							found = true
							break
						}
					}
					if !found {
						t.Fatalf("no byte completes in %d from %v after %q", need, m, out)
					}
				}
			}
		})
	}
}

// allowedBytes lists the bytes m accepts next whose completion still fits
// in budget bytes (budget < 0: unbounded).
func allowedBytes(m *Matcher, budget int) []byte {
	var out []byte
	tmp := NewMatcher(m.p)
	for b := 0; b < 256; b++ {
		tmp.CopyFrom(m)
		if tmp.Feed(byte(b)) && (budget < 0 || tmp.MinRemaining() <= budget-1) {
			out = append(out, byte(b))
		}
	}
	return out
}

// TestRandomWalkValid draws random allowed bytes under a byte budget: every
// walk must finish within the budget and produce JSON valid for the schema.
func TestRandomWalkValid(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for name, doc := range testSchemas {
		t.Run(name, func(t *testing.T) {
			s := mustSchema(t, doc)
			p := mustProgram(t, Grammar{Schemas: []*Schema{s}})
			for walk := 0; walk < 40; walk++ {
				budget := s.MinBytes() + rng.IntN(200)
				m := NewMatcher(p)
				var out []byte
				for !m.Done() {
					bs := allowedBytes(m, budget-len(out))
					if len(bs) == 0 {
						t.Fatalf("stuck after %q", out)
					}
					b := bs[rng.IntN(len(bs))]
					m.Feed(b)
					out = append(out, b)
				}
				if len(out) > budget {
					t.Fatalf("used %d bytes, budget %d: %q", len(out), budget, out)
				}
				var v any
				if err := json.Unmarshal(out, &v); err != nil {
					t.Fatalf("output %q does not parse: %v", out, err)
				}
				if !utf8.Valid(out) {
					t.Fatalf("output %q is not UTF-8", out)
				}
				if err := testmodel.Validate([]byte(doc), out); err != nil {
					t.Fatalf("output %q: %v", out, err)
				}
			}
		})
	}
}
