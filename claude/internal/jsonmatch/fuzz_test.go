package jsonmatch

import (
	"encoding/json"
	"testing"
)

// FuzzCompileAndMatch compiles arbitrary schemas and drives a matcher with
// choices taken from walk under a byte budget: compiling never panics, and
// every completed match is valid JSON within the budget.
func FuzzCompileAndMatch(f *testing.F) {
	for _, doc := range testSchemas {
		f.Add([]byte(doc), []byte("walk the schema"))
	}
	f.Add([]byte(`{"$ref":"#","properties":{"a":{"$ref":"#"},"b":{"$ref":"#"},"c":{"$ref":"#"}}}`), []byte{1, 2, 3})
	f.Add([]byte(`{"anyOf":[{"enum":[1,"x",null]},{"type":"array","items":{"const":{"k":[true]}},"minItems":2}]}`), []byte{7})
	f.Fuzz(func(t *testing.T, doc, walk []byte) {
		s, err := Compile(doc)
		if err != nil {
			return
		}
		p, err := NewProgram(Grammar{Prefix: "<", Schemas: []*Schema{s}, Suffix: ">"})
		if err != nil {
			t.Fatal(err)
		}
		m := NewMatcher(p)
		budget := m.MinRemaining() + len(walk)
		if budget > 4096 {
			return // an enormous minimal document; not interesting here
		}
		var out []byte
		for i := 0; !m.Done(); i++ {
			if len(out) > budget {
				t.Fatalf("exceeded the budget of %d: %q", budget, out)
			}
			bs := allowedBytes(m, budget-len(out))
			if len(bs) == 0 {
				t.Fatalf("stuck after %q (state %v)", out, m)
			}
			choice := byte(i)
			if i < len(walk) {
				choice = walk[i]
			}
			b := bs[int(choice)%len(bs)]
			m.Feed(b)
			out = append(out, b)
		}
		if len(out) < 2 || !json.Valid(out[1:len(out)-1]) {
			t.Fatalf("schema %s: output %q is not JSON", doc, out)
		}
	})
}
