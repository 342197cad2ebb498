package pretok

import "strings"

// The patterns below follow llama.cpp/src/llama-vocab.cpp (llm_tokenizer_bpe)
// and spec §4.6. Each is written once and shared by every pre-tokenizer name
// that uses it.

var (
	// gpt2Stage is G.
	gpt2Stage stage = scanGPT2
	// llama3Stage is L3.
	llama3Stage = l3{digits: 3, contractions: true, punctNL: true}.stage()
	// qwen2Stage is Q2: L3 with one digit per piece.
	qwen2Stage = l3{digits: 1, contractions: true, punctNL: true}.stage()

	oneNumber   = upTo(1, isNumber).stage() // \p{N}
	numbers     = plus(isNumber).stage()    // \p{N}+
	threeNumber = upTo(3, isNumber).stage() // \p{N}{1,3}
	// threeDigits is `[0-9][0-9][0-9]`: only complete triples match.
	threeDigits = matcher(func(s span, i int) int {
		if i+3 <= s.hi && isDigit(s.t.cp[i], 0) && isDigit(s.t.cp[i+1], 0) && isDigit(s.t.cp[i+2], 0) {
			return i + 3
		}
		return -1
	}).stage()
)

// punctRun returns `[\p{P}<extra>]+` where extra lists literal characters.
func punctRun(extra string) stage {
	return plus(func(r rune, f uint8) bool {
		return isPunctRegex(r, f) || (r < 128 && strings.ContainsRune(extra, r))
	}).stage()
}

// finnish is FI, ` ?[^(\s|.,!?…。，、।۔،)]+`: the bracket is a negated class,
// so the parentheses and the bar are excluded literally too.
var finnish = func() stage {
	const excluded = "(|).,!?…。，、।۔،"
	word := func(r rune, f uint8) bool { return f&clsW == 0 && !strings.ContainsRune(excluded, r) }
	body := plus(word)
	return matcher(func(s span, i int) int {
		if s.at(i) == ' ' {
			if e := body(s, i+1); e >= 0 {
				return e
			}
		}
		return body(s, i)
	}).stage()
}()

// wsTail matches `\s*[\r\n]+|\s+(?!\S)|\s+` at i.
func wsTail(s span, i int) int {
	n, pastNL := whitespaceRun(s, i)
	switch {
	case pastNL > 0:
		return pastNL
	case n > 1 && s.at(i+n) != outside:
		return i + n - 1
	case n > 0:
		return i + n
	}
	return -1
}

// cjk is the `[一-龥ࠀ-一가-퟿]` class of the DeepSeek patterns.
var cjk = rangeClass([]rune{0x4E00, 0x9FA5, 0x0800, 0x4E00, 0xAC00, 0xD7FF})

// deepseekCoder: `[\r\n]`, `\s?\p{L}+`, `\s?\p{P}+`, CJK runs, `\p{N}`.
var deepseekCoder = []stage{
	upTo(1, func(r rune, _ uint8) bool { return isNL(r) }).stage(),
	spaceThen(plus(isLetter)).stage(),
	spaceThen(plus(isPunctRegex)).stage(),
	plus(cjk).stage(),
	oneNumber,
}

// deepseekLLM: `[\r\n]`, `\s?[letters]+`, `\s?[ASCII and full-width
// punctuation]+`, `\s+$`, CJK runs, `\p{N}+`.
var deepseekLLM = []stage{
	upTo(1, func(r rune, _ uint8) bool { return isNL(r) }).stage(),
	spaceThen(plus(rangeClass(deepseekLetters))).stage(),
	spaceThen(plus(rangeClass([]rune{
		'!', '/', ':', '~', 0xFF01, 0xFF0F, 0xFF1A, 0xFF5E, 0x2018, 0x201F, 0x3000, 0x3002,
	}))).stage(),
	matcher(func(s span, i int) int { // \s+$
		if i < s.hi && run(s, i, func(_ rune, f uint8) bool { return f&clsW != 0 }) == s.hi {
			return s.hi
		}
		return -1
	}).stage(),
	plus(cjk).stage(),
	numbers,
}

// deepseekV3: `\p{N}{1,3}`, `[一-龥぀-ゟ゠-ヿ]+`, then
//
//	[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
var deepseekV3 = []stage{
	threeNumber,
	plus(rangeClass([]rune{0x4E00, 0x9FA5, 0x3040, 0x309F, 0x30A0, 0x30FF})).stage(),
	matcher(deepseekV3Main).stage(),
}

func deepseekV3Main(s span, i int) int {
	isASCIIPunct := func(r rune) bool {
		return (r >= '!' && r <= '/') || (r >= ':' && r <= '@') || (r >= '[' && r <= '`') || (r >= '{' && r <= '~')
	}
	isASCIILetter := func(r rune) bool { return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') }
	ps := func(r rune, f uint8) bool { return isPunctRegex(r, f) || isSymbolRegex(r, f) }
	lm := func(_ rune, f uint8) bool { return f&(clsL|clsM) != 0 }

	r := s.at(i)
	if isASCIIPunct(r) {
		if e := run(s, i+1, func(r rune, _ uint8) bool { return isASCIILetter(r) }); e > i+1 {
			return e
		}
	}
	if r != outside && !isNL(r) && !isLetter(r, s.class(i)) && !ps(r, s.class(i)) {
		if e := run(s, i+1, lm); e > i+1 {
			return e
		}
	}
	if e := run(s, i, lm); e > i {
		return e
	}
	p := i
	if r == ' ' && i+1 < s.hi && ps(s.t.cp[i+1], s.t.cls[i+1]) {
		p = i + 1
	}
	if e := run(s, p, ps); e > p {
		return run(s, e, func(r rune, _ uint8) bool { return isNL(r) })
	}
	return wsTail(s, i)
}

// o200k configures the case-aware patterns of GPT-4o and Tekken, where
// `((?=[\p{L}])([^a-z]))` means "a letter other than a–z" and
// `((?=[\p{L}])([^A-Z]))` "a letter other than A–Z":
//
//	[^\r\n\p{L}\p{N}]?U*L+C?|[^\r\n\p{L}\p{N}]?U+L*C?|\p{N}{1,k}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// with C the optional case-insensitive contractions (GPT-4o only).
type o200k struct {
	digits       int
	contractions bool
}

func isUpperish(r rune, f uint8) bool { return f&clsL != 0 && (r < 'a' || r > 'z') }
func isLowerish(r rune, f uint8) bool { return f&clsL != 0 && (r < 'A' || r > 'Z') }

// word matches U*L+ (need == "lower") or U+L* at j, with regex backtracking
// of the greedy U run, then the optional contraction.
func (o o200k) word(s span, j int, lowerRequired bool) int {
	uEnd := run(s, j, isUpperish)
	end := -1
	if lowerRequired {
		for u := uEnd; u >= j; u-- {
			if e := run(s, u, isLowerish); e > u {
				end = e
				break
			}
		}
	} else if uEnd > j {
		end = run(s, uEnd, isLowerish)
	}
	if end < 0 {
		return -1
	}
	if o.contractions {
		end += contraction(s, end, true)
	}
	return end
}

func (o o200k) match(s span, i int) int {
	r, f := s.at(i), s.class(i)
	prefix := r != outside && !isNL(r) && f&(clsL|clsN) == 0
	for _, lowerRequired := range []bool{true, false} {
		if prefix {
			if e := o.word(s, i+1, lowerRequired); e >= 0 {
				return e
			}
		}
		if e := o.word(s, i, lowerRequired); e >= 0 {
			return e
		}
	}
	if f&clsN != 0 {
		e := i
		for e < s.hi && e-i < o.digits && s.t.cls[e]&clsN != 0 {
			e++
		}
		return e
	}
	notPunct := clsW | clsL | clsN
	p := i
	if r == ' ' && s.class(i+1) != 0 && s.class(i+1)&notPunct == 0 {
		p = i + 1
	}
	if e := run(s, p, func(_ rune, f uint8) bool { return f&notPunct == 0 }); e > p {
		return run(s, e, func(r rune, _ uint8) bool { return isNL(r) || r == '/' })
	}
	return wsTail(s, i)
}

// family describes one pre-tokenizer: its stages and the vocabulary flags
// llama.cpp sets with it.
type family struct {
	stages       []stage
	ignoreMerges bool // a word that is itself a token skips merging (spec §4.5)
	addBOS       bool // add_bos defaults to true
}

func families() map[string]family {
	llama3 := family{stages: []stage{llama3Stage}, ignoreMerges: true, addBOS: true}
	plainL3 := family{stages: []stage{llama3Stage}}
	qwen2 := family{stages: []stage{qwen2Stage}}
	gpt2 := family{stages: []stage{gpt2Stage}}
	starcoder := family{stages: []stage{oneNumber, gpt2Stage}}
	fi := family{stages: []stage{finnish}}
	dsV3 := family{stages: deepseekV3}
	gpt4o := family{stages: []stage{matcher(o200k{digits: 3, contractions: true}.match).stage()}}

	m := map[string]family{
		"default":        {stages: []stage{punctRun("$+<=>^~|"), gpt2Stage, numbers, threeDigits}},
		"falcon":         {stages: []stage{punctRun("$+<=>^~|`"), gpt2Stage, threeDigits}},
		"deepseek-llm":   {stages: deepseekLLM},
		"deepseek-coder": {stages: deepseekCoder},
		"viking":         {stages: []stage{finnish, oneNumber}},
		"tekken": {
			stages:       []stage{matcher(o200k{digits: 1}.match).stage()},
			ignoreMerges: true, addBOS: true,
		},
		"qwen35":     {stages: []stage{l3{digits: 1, contractions: true, punctNL: true, marks: true}.stage()}},
		"seed-coder": {stages: []stage{l3{digits: 1, contractions: true}.stage()}},
		"ufakzeka":   {stages: []stage{l3{digits: 1, punctNL: true}.stage()}},
		"minicpm5": {
			stages:       []stage{threeNumber, l3{contractions: true, punctNL: true}.stage()},
			ignoreMerges: true,
		},
		"laguna": {stages: []stage{matcher(lineOrNewlines).stage(), qwen2Stage}},
	}
	add := func(f family, names ...string) {
		for _, n := range names {
			m[n] = f
		}
	}
	add(llama3, "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano")
	add(plainL3, "dbrx", "smaug-bpe", "glm4", "chatglm-bpe")
	add(qwen2, "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan", "grok-2",
		"solar-open", "bailingmoe", "bailingmoe2", "llada-moe")
	add(gpt2, "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
		"modern-bert", "mpt", "olmo", "jais", "trillion", "granite-docling", "exaone4", "jina-v1-en", "jina-v2-code",
		"roberta-bpe")
	add(starcoder, "starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2")
	add(fi, "poro-chat", "bloom", "gpt3-finnish")
	add(dsV3, "deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4")
	add(gpt4o, "gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2")
	return m
}

// lineOrNewlines is `[^\n]+|[\n]+`.
func lineOrNewlines(s span, i int) int {
	nl := s.t.cp[i] == '\n'
	return run(s, i, func(r rune, _ uint8) bool { return (r == '\n') == nl })
}
