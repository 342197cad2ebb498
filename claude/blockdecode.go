package claude

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
)

// place is where a content block stands; it decides which block types are
// allowed there (§4.1).
type place int

const (
	inUser        place = iota // a user message
	inAssistant                // an assistant message
	inSystem                   // the system parameter or a system-role message
	inToolResult               // the content of a tool_result
	inDocContent               // the content of a document's content source
	inSearchBlock              // the content of a search_result
	inResponse                 // a response message (decoding upstream output)
)

// allowedBlocks lists the block types each place accepts.
var allowedBlocks = map[place][]BlockType{
	inUser: append([]BlockType{BlockText, BlockImage, BlockDocument, BlockSearchResult, BlockToolResult},
		serverBlockTypes...),
	inAssistant: append([]BlockType{BlockText, BlockToolUse, BlockThinking, BlockRedactedThinking, BlockDocument},
		serverBlockTypes...),
	inSystem:      {BlockText},
	inToolResult:  {BlockText, BlockImage, BlockDocument, BlockSearchResult, BlockToolReference},
	inDocContent:  {BlockText, BlockImage},
	inSearchBlock: {BlockText},
	inResponse: append([]BlockType{BlockText, BlockToolUse, BlockThinking, BlockRedactedThinking},
		serverBlockTypes...),
}

// knownBlockTypes is every block type this package decodes, for messages.
var knownBlockTypes = append([]BlockType{BlockText, BlockImage, BlockDocument, BlockSearchResult,
	BlockToolUse, BlockToolResult, BlockThinking, BlockRedactedThinking}, serverBlockTypes...)

// imageMediaTypes are the media types of base64 images (§4.2).
var imageMediaTypes = []string{"image/jpeg", "image/png", "image/gif", "image/webp"}

// blockReader decodes content blocks for one request.
type blockReader struct {
	op          string
	breakpoints *int // cache_control markers seen so far (§10)
}

// content reads a message content: a string (one text block, or none when
// empty) or an array of blocks allowed at p.
func (r blockReader) content(raw json.RawMessage, path string, p place) ([]Block, error) {
	if jsonKind(raw) == '"' {
		s, err := asString(r.op, raw, path)
		if err != nil || s == "" {
			return []Block{}, err
		}
		return []Block{TextBlock{Text: s}}, nil
	}
	if jsonKind(raw) != '[' {
		return nil, invalid(r.op, path, "Input should be a valid string or list")
	}
	items, err := asArray(r.op, raw, path)
	if err != nil {
		return nil, err
	}
	out := make([]Block, 0, len(items))
	for i, item := range items {
		b, err := r.block(item, join(path, strconv.Itoa(i)), p)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// block reads one block. Errors inside it carry the type as a path segment,
// as upstream's union errors do: messages.0.content.1.tool_use.input.
func (r blockReader) block(raw json.RawMessage, path string, p place) (Block, error) {
	o, err := asObject(r.op, raw, path)
	if err != nil {
		return nil, err
	}
	t, err := o.mustStr("type")
	if err != nil {
		return nil, err
	}
	bt := BlockType(t)
	if !slices.Contains(knownBlockTypes, bt) {
		names := make([]string, len(allowedBlocks[p]))
		for i, a := range allowedBlocks[p] {
			names[i] = string(a)
		}
		return nil, invalid(r.op, path, "Input tag '%s' found using 'type' does not match any of the expected tags: %s",
			t, quoteList(names))
	}
	if !slices.Contains(allowedBlocks[p], bt) {
		return nil, invalid(r.op, path, "%s blocks are not allowed in %s", t, placeName(p))
	}
	o.path = join(path, t)
	cc, err := r.readCacheControl(o)
	if err != nil {
		return nil, err
	}
	if cc != nil && (bt == BlockThinking || bt == BlockRedactedThinking) {
		return nil, invalid(r.op, o.at("cache_control"), "cache_control cannot be set on %s blocks", t)
	}
	switch bt {
	case BlockText:
		return r.text(o, cc)
	case BlockImage:
		src, err := r.source(o, BlockImage)
		return ImageBlock{Source: src, CacheControl: cc}, err
	case BlockDocument:
		return r.document(o, cc)
	case BlockSearchResult:
		return r.searchResult(o, cc)
	case BlockToolUse:
		return r.toolUse(o, cc)
	case BlockToolResult:
		return r.toolResult(o, cc)
	case BlockThinking:
		th, err := o.mustStr("thinking")
		if err != nil {
			return nil, err
		}
		sig, err := o.mustStr("signature")
		return ThinkingBlock{Thinking: th, Signature: sig}, err
	case BlockRedactedThinking:
		data, err := o.mustStr("data")
		return RedactedThinkingBlock{Data: data}, err
	}
	return ServerToolBlock{BlockType: bt, Raw: append(json.RawMessage(nil), raw...)}, nil
}

func placeName(p place) string {
	switch p {
	case inUser:
		return "user messages"
	case inAssistant:
		return "assistant messages"
	case inSystem:
		return "system content"
	case inToolResult:
		return "tool_result content"
	case inDocContent:
		return "document content"
	case inSearchBlock:
		return "search_result content"
	}
	return "responses"
}

// readCacheControl reads an optional cache_control object.
func (r blockReader) readCacheControl(o object) (*CacheControl, error) {
	cco, ok, err := o.obj("cache_control")
	if err != nil || !ok {
		return nil, err
	}
	typ, err := cco.mustStr("type")
	if err != nil {
		return nil, err
	}
	if typ != "ephemeral" {
		return nil, invalid(r.op, cco.at("type"), "Input should be 'ephemeral'")
	}
	ttl, _, err := cco.enum("ttl", "5m", "1h")
	if err != nil {
		return nil, err
	}
	if r.breakpoints != nil {
		*r.breakpoints++
	}
	return &CacheControl{Type: typ, TTL: ttl}, nil
}

func (r blockReader) text(o object, cc *CacheControl) (Block, error) {
	text, err := o.mustStr("text")
	if err != nil {
		return nil, err
	}
	cits, _, err := o.array("citations")
	if err != nil {
		return nil, err
	}
	for i, c := range cits {
		if _, err := asObject(r.op, c, join(o.at("citations"), strconv.Itoa(i))); err != nil {
			return nil, err
		}
	}
	return TextBlock{Text: text, Citations: cits, CacheControl: cc}, nil
}

// source reads an image's or a document's source (§4.2).
func (r blockReader) source(o object, of BlockType) (Source, error) {
	so, ok, err := o.obj("source")
	if err != nil {
		return Source{}, err
	}
	if !ok {
		return Source{}, o.required("source")
	}
	kinds := []string{"base64", "url", "file"}
	if of == BlockDocument {
		kinds = append(kinds, "text", "content")
	}
	t, ok, err := so.enum("type", kinds...)
	if err != nil {
		return Source{}, err
	}
	if !ok {
		return Source{}, so.required("type")
	}
	src := Source{Type: SourceType(t)}
	so.path = join(so.path, t)
	switch src.Type {
	case SourceBase64:
		if of == BlockImage {
			src.MediaType, ok, err = so.enum("media_type", imageMediaTypes...)
		} else {
			src.MediaType, ok, err = so.enum("media_type", "application/pdf")
		}
		if err == nil && !ok {
			err = so.required("media_type")
		}
		if err == nil {
			src.Data, err = so.mustStr("data")
		}
	case SourceURL:
		src.URL, err = so.mustStr("url")
	case SourceFile:
		src.FileID, err = so.mustStr("file_id")
	case SourceText:
		src.MediaType, ok, err = so.enum("media_type", "text/plain")
		if err == nil && !ok {
			err = so.required("media_type")
		}
		if err == nil {
			src.Data, err = so.mustStr("data")
		}
	case SourceContent:
		raw, ok := so.get("content")
		if !ok {
			return Source{}, so.required("content")
		}
		src.Content, err = r.content(raw, so.at("content"), inDocContent)
	}
	return src, err
}

func (r blockReader) document(o object, cc *CacheControl) (Block, error) {
	src, err := r.source(o, BlockDocument)
	if err != nil {
		return nil, err
	}
	d := DocumentBlock{Source: src, CacheControl: cc}
	if d.Title, _, err = o.str("title"); err != nil {
		return nil, err
	}
	if d.Context, _, err = o.str("context"); err != nil {
		return nil, err
	}
	d.Citations, err = citationsConfig(o)
	return d, err
}

func citationsConfig(o object) (*CitationsConfig, error) {
	co, ok, err := o.obj("citations")
	if err != nil || !ok {
		return nil, err
	}
	on, _, err := co.boolean("enabled")
	return &CitationsConfig{Enabled: on}, err
}

func (r blockReader) searchResult(o object, cc *CacheControl) (Block, error) {
	s := SearchResultBlock{CacheControl: cc}
	var err error
	if s.Source, err = o.mustStr("source"); err != nil {
		return nil, err
	}
	if s.Title, err = o.mustStr("title"); err != nil {
		return nil, err
	}
	items, ok, err := o.array("content")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, o.required("content")
	}
	s.Content = make([]TextBlock, 0, len(items))
	for i, item := range items {
		b, err := r.block(item, join(o.at("content"), strconv.Itoa(i)), inSearchBlock)
		if err != nil {
			return nil, err
		}
		s.Content = append(s.Content, b.(TextBlock))
	}
	s.Citations, err = citationsConfig(o)
	return s, err
}

func (r blockReader) toolUse(o object, cc *CacheControl) (Block, error) {
	t := ToolUseBlock{CacheControl: cc}
	var err error
	if t.ID, err = o.mustStr("id"); err != nil {
		return nil, err
	}
	if t.Name, err = o.mustStr("name"); err != nil {
		return nil, err
	}
	raw, ok := o.get("input")
	if !ok {
		return nil, o.required("input")
	}
	if jsonKind(raw) != '{' {
		return nil, invalid(r.op, o.at("input"), "Input should be a valid dictionary")
	}
	t.Input = compactJSON(raw)
	return t, nil
}

func (r blockReader) toolResult(o object, cc *CacheControl) (Block, error) {
	t := ToolResultBlock{CacheControl: cc}
	var err error
	if t.ToolUseID, err = o.mustStr("tool_use_id"); err != nil {
		return nil, err
	}
	if raw, ok := o.get("content"); ok {
		if t.Content, err = r.content(raw, o.at("content"), inToolResult); err != nil {
			return nil, err
		}
	}
	t.IsError, _, err = o.boolean("is_error")
	return t, err
}

// decodeResponseBlock decodes one block of a response (a Message's content
// or a content_block_start).
func decodeResponseBlock(raw json.RawMessage, path string) (Block, error) {
	return blockReader{op: "claude.DecodeBlock"}.block(raw, path, inResponse)
}

// compactJSON returns raw without insignificant whitespace; raw is valid.
func compactJSON(raw json.RawMessage) json.RawMessage {
	var out bytes.Buffer
	out.Grow(len(raw))
	if err := json.Compact(&out, raw); err != nil {
		return append(json.RawMessage(nil), raw...)
	}
	return json.RawMessage(out.Bytes())
}
