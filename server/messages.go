package server

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/claude"
	"github.com/pensieve-llm/pensieve/core"
	"github.com/pensieve-llm/pensieve/server/internal/sse"
)

// createMessage serves POST /v1/messages (spec §3–§6): one JSON message, or
// an SSE stream when the body asks for one. Everything that can fail before
// the generation starts (body, validation, model, prompt length, overload)
// is a plain HTTP error, also for streams (spec §6.1).
func (s *Server) createMessage(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	req, err := claude.DecodeRequest(body, versionOf(c))
	if err != nil {
		return err
	}
	m, prep, err := s.prepare(c, req)
	if err != nil {
		return err
	}
	defer s.models.release(m)
	s.logPrompt(requestLogger(c), prep)
	ctx, cancel := context.WithCancel(c.Request().Context())
	defer cancel() // stops the generation if the response ends first
	events, err := s.generate(ctx, requestLogger(c), m, prep)
	if err != nil {
		return err
	}
	stream := prep.NewStream(claude.StreamOptions{})
	if req.Stream {
		sink := &messagesSink{sw: sse.NewWriter(c.Response(), s.cfg.WriteTimeout), requestID: requestIDOf(c)}
		s.pump(ctx, requestLogger(c), events, stream, sink)
		return nil
	}
	msg, err := claude.Collect(ctx, events, stream)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, msg)
}

// countTokens serves POST /v1/messages/count_tokens (spec §8): the prompt
// length Prepare would produce for the same request.
func (s *Server) countTokens(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	req, err := claude.DecodeCountTokensRequest(body, versionOf(c))
	if err != nil {
		return err
	}
	m, err := s.models.acquire(c.Request().Context(), req.Model)
	if err != nil {
		return err
	}
	defer s.models.release(m)
	setModel(c, m.ID)
	n, err := m.profile.CountTokens(req)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, claude.CountTokensResponse{InputTokens: n})
}

// prepare resolves the request's URL images (see ImageURLs), acquires its
// model (loading it if needed) and builds its prompt and engine request. On success the caller releases the model.
func (s *Server) prepare(c echo.Context, req *claude.MessageRequest) (*served, *claude.Prepared, error) {
	return s.prepareFor(c.Request().Context(), req, func(id string) { setModel(c, id) })
}

// prepareFor is prepare for a caller without an echo context (WebSocket
// frames); named, if not nil, learns the resolved model's id.
func (s *Server) prepareFor(ctx context.Context, req *claude.MessageRequest, named func(id string)) (*served, *claude.Prepared, error) {
	if err := s.resolveImageURLs(ctx, req); err != nil {
		return nil, nil, err
	}
	m, err := s.models.acquire(ctx, req.Model)
	if err != nil {
		return nil, nil, err
	}
	if named != nil {
		named(m.ID)
	}
	prep, err := m.profile.Prepare(req)
	if err != nil {
		s.models.release(m)
		return nil, nil, err
	}
	return m, prep, nil
}

// generate starts prep's generation on m. The returned channel relays the
// engine's events through a goroutine that records metrics and, once ctx
// ends, drains the engine's channel so the consumer may stop reading at
// any time; the caller must cancel ctx when it is done. The relay holds m
// loaded until the engine has finished, and logs the completion to log
// when Config.LogPrompts is set. A request with
// max_tokens 0 runs no generation (spec §3.1): its channel holds the one
// final event.
func (s *Server) generate(ctx context.Context, log *zap.Logger, m *served, prep *claude.Prepared) (<-chan core.Event, error) {
	if prep.Request.MaxTokens == 0 {
		ch := make(chan core.Event, 1)
		ch <- prep.EmptyCompletion()
		close(ch)
		return ch, nil
	}
	src, err := m.Generator.Generate(ctx, &prep.Request)
	if err != nil {
		s.metrics.generation.Inc(m.ID, "rejected_"+core.KindOf(err).String())
		return nil, err
	}
	out := make(chan core.Event)
	s.metrics.active.add(m.ID, 1)
	s.models.retain(m)
	s.relays.Go(func() {
		defer s.models.release(m)
		s.relay(ctx, m.ID, src, out, s.completionLogFor(log))
	})
	return out, nil
}

// relay forwards src to out until the consumer's ctx ends, then only
// drains src; either way it records the time to the first text and the
// final usage. The engine closes src after its final event, also when
// ctx is canceled, so relay always ends.
func (s *Server) relay(ctx context.Context, model string, src <-chan core.Event, out chan<- core.Event, cl *completionLog) {
	defer close(out)
	defer s.metrics.active.add(model, -1)
	start, first, forward := time.Now(), true, true
	for ev := range src {
		cl.add(&ev)
		if first && (ev.Text != "" || len(ev.Tokens) > 0) {
			s.metrics.ttft.Observe(time.Since(start).Seconds(), model)
			first = false
		}
		if ev.Done {
			s.metrics.finished(model, &ev)
		}
		if forward {
			select {
			case out <- ev:
			case <-ctx.Done():
				forward = false
			}
		}
	}
}

// streamSink is where pump writes one streamed response: the Messages SSE
// dialect or the OpenAI one.
type streamSink interface {
	// events writes the stream events of one engine event.
	events(evs []claude.StreamEvent) error
	// ping keeps a quiet stream alive.
	ping() error
	// fail reports a failure after the stream has begun and ends it.
	fail(err error) error
}

// pump drives one streamed generation: it sends message_start at once,
// feeds the engine's events to stream and writes what comes out, pings
// when nothing was written for PingInterval (queueing, prefill), and ends
// the stream with an error event when the generation fails. It returns
// when the stream has finished, or when the client has gone (ctx ended or
// a write failed); the caller then cancels the generation.
func (s *Server) pump(ctx context.Context, log *zap.Logger, events <-chan core.Event, stream *claude.Stream, sink streamSink) {
	err := sink.events(stream.Start())
	idle := time.NewTimer(s.cfg.PingInterval)
	defer idle.Stop()
	for err == nil && !stream.Finished() {
		select {
		case ev, ok := <-events:
			switch {
			case !ok:
				ev.Err = core.Errorf(core.KindInternal, "server.pump", "the generation ended without a final event")
			case ev.Err != nil && ctx.Err() != nil:
				return // the client left; nobody reads an error event
			}
			if ev.Err != nil {
				log.Warn("generation failed after the stream began", zap.Error(ev.Err))
				if err := sink.fail(ev.Err); err != nil {
					log.Debug("writing the error event", zap.Error(err))
				}
				return
			}
			evs := stream.Feed(ev)
			if len(evs) == 0 {
				continue // text held back (a possible tool call or stop sequence): keep the ping clock
			}
			err = sink.events(evs)
		case <-idle.C:
			err = sink.ping()
		case <-ctx.Done():
			return
		}
		idle.Reset(s.cfg.PingInterval)
	}
	if err != nil {
		log.Debug("stream write failed; the client has probably gone", zap.Error(err))
	}
}

// messagesSink writes the Messages API's SSE events (spec §6).
type messagesSink struct {
	sw        *sse.Writer
	requestID string
}

func (k *messagesSink) events(evs []claude.StreamEvent) error {
	for _, ev := range evs {
		data, err := claude.MarshalEvent(ev)
		if err != nil {
			return err
		}
		if err := k.sw.Event(string(ev.EventType()), data); err != nil {
			return err
		}
	}
	return nil
}

func (k *messagesSink) ping() error { return k.events([]claude.StreamEvent{claude.PingEvent{}}) }

// fail sends the error event: the §7.1 envelope, typed by the same mapping
// as HTTP errors; no message_stop follows (spec §6.5).
func (k *messagesSink) fail(err error) error {
	_, env := envelopeOf(err, k.requestID)
	return k.events([]claude.StreamEvent{claude.ErrorEvent{Error: env.Error, RequestID: env.RequestID}})
}
