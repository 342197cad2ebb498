package server

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/pensieve-llm/pensieve/claude"
	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/server/internal/sse"
)

// chatCompletions serves POST /v1/chat/completions, OpenAI's chat API, by
// translation to and from the Messages API (see openai.go).
func (s *Server) chatCompletions(c echo.Context) error {
	in, m, prep, err := s.prepareChat(c)
	if err != nil {
		return err
	}
	defer s.models.release(m)
	s.logPrompt(requestLogger(c), prep)
	ctx, cancel := context.WithCancel(c.Request().Context())
	defer cancel()
	events, err := s.generate(ctx, requestLogger(c), m, prep)
	if err != nil {
		return err
	}
	id, created := claude.NewID("chatcmpl-"), s.now().Unix()
	stream := prep.NewStream(claude.StreamOptions{})
	if in.Stream {
		includeUsage := in.StreamOptions != nil && in.StreamOptions.IncludeUsage
		sink := &chatSink{sw: sse.NewWriter(c.Response(), s.cfg.WriteTimeout), cs: newChatStreamer(id, created, includeUsage),
			requestID: requestIDOf(c)}
		s.pump(ctx, requestLogger(c), events, stream, sink)
		sink.done()
		return nil
	}
	msg, err := claude.Collect(ctx, events, stream)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, chatCompletionOf(id, created, msg))
}

// prepareChat decodes an OpenAI chat request and prepares it as a Messages
// request for its model, which it acquires; on success the caller releases
// the model.
func (s *Server) prepareChat(c echo.Context) (*chatRequest, *served, *claude.Prepared, error) {
	const op = "server.chatCompletions"
	body, err := readBody(c)
	if err != nil {
		return nil, nil, nil, err
	}
	var in chatRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, nil, nil, core.Errorf(core.KindInvalid, op, "invalid request body: %v", err)
	}
	m, err := s.models.acquire(c.Request().Context(), in.Model)
	if err != nil {
		return nil, nil, nil, err
	}
	done := false
	defer func() {
		if !done {
			s.models.release(m)
		}
	}()
	setModel(c, m.ID)
	anth, samp, err := toMessagesBody(&in, m.MaxOutputTokens)
	if err != nil {
		return nil, nil, nil, err
	}
	req, err := claude.DecodeRequest(anth, claude.Version20230601)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := s.resolveImageURLs(c.Request().Context(), req); err != nil {
		return nil, nil, nil, err
	}
	prep, err := m.profile.Prepare(req)
	if err != nil {
		return nil, nil, nil, err
	}
	samp.apply(&prep.Request.Sampling)
	done = true
	return &in, m, prep, nil
}

// apply sets the OpenAI sampling values, whose ranges the Messages
// validation does not share.
func (cs chatSampling) apply(s *core.Sampling) {
	if cs.temperature != nil {
		s.Temperature = float32(*cs.temperature)
	}
	if cs.topP != nil {
		s.TopP = float32(*cs.topP)
	}
	if cs.seed != nil {
		s.Seed = uint64(*cs.seed)
	}
}

// chatSink writes OpenAI's streaming dialect: "data: <chunk>" lines with
// no event names, ended by "data: [DONE]".
type chatSink struct {
	sw        *sse.Writer
	cs        *chatStreamer
	requestID string
	failed    bool
}

func (k *chatSink) events(evs []claude.StreamEvent) error {
	for _, ev := range evs {
		for _, chunk := range k.cs.translate(ev) {
			data, err := json.Marshal(chunk)
			if err != nil {
				return core.E(core.KindInternal, "server.chatSink", err)
			}
			if err := k.sw.Event("", data); err != nil {
				return err
			}
		}
	}
	return nil
}

// ping writes an SSE comment, which OpenAI clients skip.
func (k *chatSink) ping() error { return k.sw.Comment("ping") }

func (k *chatSink) fail(err error) error {
	k.failed = true
	_, env := envelopeOf(err, k.requestID)
	data, jerr := chatError(env)
	if jerr != nil {
		return core.E(core.KindInternal, "server.chatSink", jerr)
	}
	return k.sw.Event("", data)
}

// done ends a stream that finished normally with "data: [DONE]".
func (k *chatSink) done() {
	if !k.failed && k.sw.Started() {
		_ = k.sw.Event("", []byte("[DONE]")) // a client that left cannot be told
	}
}
