package bpe

import "unicode/utf8"

// byteRune maps each byte to the code point GPT-2's byte-level BPE writes it
// as (spec §4.5): printable Latin-1 bytes stand for themselves, the other 68
// bytes take U+0100, U+0101, … in ascending byte order (space → Ġ U+0120,
// LF → Ċ U+010A).
var byteRune, runeByte = func() (br [256]rune, rb map[rune]byte) {
	rb = make(map[rune]byte, 256)
	n := rune(0)
	for b := range 256 {
		if (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			br[b] = rune(b)
		} else {
			br[b] = 256 + n
			n++
		}
		rb[br[b]] = byte(b)
	}
	return br, rb
}()

// byteText holds the UTF-8 text of each byte's code point.
var byteText = func() (t [256]string) {
	for b := range 256 {
		t[b] = string(byteRune[b])
	}
	return t
}()

// ByteRune returns the code point byte-level BPE uses for b.
func ByteRune(b byte) rune { return byteRune[b] }

// AppendEncoded appends the byte-level form of raw (each byte as its code
// point) to dst.
func AppendEncoded(dst []byte, raw string) []byte {
	for i := 0; i < len(raw); i++ {
		dst = append(dst, byteText[raw[i]]...)
	}
	return dst
}

// AppendDecoded appends the raw bytes a byte-level token text stands for.
// Code points outside the byte mapping (never produced by GPT-2-style
// vocabularies) are copied as their UTF-8 encoding.
func AppendDecoded(dst []byte, text string) []byte {
	for i := 0; i < len(text); {
		r, w := utf8.DecodeRuneInString(text[i:])
		if b, ok := runeByte[r]; ok && !(r == utf8.RuneError && w == 1) {
			dst = append(dst, b)
		} else {
			dst = append(dst, text[i:i+w]...)
		}
		i += w
	}
	return dst
}
