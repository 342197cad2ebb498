package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/claude"
	"github.com/pensieve-llm/pensieve/core"
)

// wsQueue bounds the requests one WebSocket may send ahead of the one
// being answered; past it a request is refused with an overloaded error
// event.
const wsQueue = 4

// messagesWebSocket serves GET /v1/messages/ws: the Messages API over a
// WebSocket. Every text message the client sends is a Messages request
// body (its "stream" field is ignored: answers always stream); the server
// answers with one text message per stream event — the JSON objects of
// the SSE data lines, pings and error events included — then waits for
// the next request on the same socket. Requests sent ahead are answered in
// order. A request that fails before its generation starts gets an error
// event and the socket stays open. Closing the socket cancels the
// generation in flight. Authentication and anthropic-version come from the
// upgrade request's headers; the rate limit counts the upgrade and every
// request sent on the socket after it, and each request holds one of the
// client's concurrency slots (Config.MaxConcurrentPerKey) while answered.
func (s *Server) messagesWebSocket(c echo.Context) error {
	r := c.Request()
	if !isWebSocketUpgrade(r) {
		return core.Errorf(core.KindInvalid, "server.websocket", "GET /v1/messages/ws expects a WebSocket upgrade request")
	}
	rc := http.NewResponseController(c.Response())
	// Runs after the deadlines middleware's hook: the hijacked connection
	// must keep no write deadline (the per-message timeout replaces it);
	// net/http clears the read deadline itself when it hands the
	// connection over.
	c.Response().Before(func() { _ = rc.SetWriteDeadline(time.Time{}) })
	opts := &websocket.AcceptOptions{OriginPatterns: s.originPatterns()}
	if len(opts.OriginPatterns) == 1 && opts.OriginPatterns[0] == "*" {
		opts.OriginPatterns, opts.InsecureSkipVerify = nil, true
	}
	conn, err := websocket.Accept(c.Response(), r, opts)
	if err != nil {
		requestLogger(c).Info("websocket upgrade refused", zap.Error(err)) // Accept has answered
		return nil
	}
	defer conn.CloseNow()
	conn.SetReadLimit(s.cfg.BodyLimit)
	// The request's context is not canceled when a hijacked client leaves;
	// the socket's reader cancels ctx instead.
	client, _ := c.Get(ctxClient).(string)
	s.serveSocket(context.WithoutCancel(r.Context()), conn, socketClient{version: versionOf(c), id: client}, requestLogger(c))
	return nil
}

// socketClient is what every request of one WebSocket shares: the API
// version and the rate-limit identity of its upgrade request.
type socketClient struct {
	version claude.Version
	id      string
}

// isWebSocketUpgrade reports whether r asks to switch to WebSocket (RFC
// 6455 §4.1).
func isWebSocketUpgrade(r *http.Request) bool {
	hasToken := func(header, token string) bool {
		for _, v := range r.Header.Values(header) {
			for t := range strings.SplitSeq(v, ",") {
				if strings.EqualFold(strings.TrimSpace(t), token) {
					return true
				}
			}
		}
		return false
	}
	return hasToken("Connection", "upgrade") && hasToken("Upgrade", "websocket")
}

// originPatterns are the browser origins allowed to open a WebSocket: the
// hosts of the CORS origins. None means only same-host pages (and clients
// that send no Origin, i.e. everything but browsers).
func (s *Server) originPatterns() []string {
	var out []string
	for _, o := range s.cfg.CORSOrigins {
		if o == "*" {
			return []string{"*"}
		}
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			out = append(out, u.Host)
		}
	}
	return out
}

// serveSocket answers the requests of one WebSocket until the client
// closes it or Shutdown drains the server. A reader goroutine reads the
// client's messages into a bounded queue and, when the socket ends,
// cancels ctx, which stops the generation in flight.
func (s *Server) serveSocket(ctx context.Context, conn *websocket.Conn, cl socketClient, log *zap.Logger) {
	ctx, cancel := context.WithCancel(ctx)
	write := func(b []byte) error {
		wctx, wcancel := ctx, context.CancelFunc(func() {})
		if s.cfg.WriteTimeout > 0 {
			wctx, wcancel = context.WithTimeout(ctx, s.cfg.WriteTimeout)
		}
		defer wcancel()
		return conn.Write(wctx, websocket.MessageText, b)
	}
	queue := make(chan []byte, wsQueue)
	var reader sync.WaitGroup
	reader.Go(func() {
		defer cancel()
		s.readSocket(ctx, conn, queue, write, log)
	})
	defer func() {
		cancel()
		conn.CloseNow()
		reader.Wait()
	}()
	for {
		select { // a draining server closes idle sockets before taking more work
		case <-s.draining:
			conn.Close(websocket.StatusGoingAway, "the server is shutting down")
			return
		default:
		}
		select {
		case body := <-queue:
			s.socketRequest(ctx, body, cl, write, log)
		case <-ctx.Done():
			return
		case <-s.draining:
		}
	}
}

// readSocket reads the client's messages into queue until the socket
// ends. A binary message, or one past the queue's bound, is answered with
// an error event at once.
func (s *Server) readSocket(ctx context.Context, conn *websocket.Conn, queue chan<- []byte, write func([]byte) error, log *zap.Logger) {
	for {
		typ, body, err := conn.Read(ctx)
		if err != nil {
			if st := websocket.CloseStatus(err); st != websocket.StatusNormalClosure && st != websocket.StatusGoingAway &&
				ctx.Err() == nil {
				log.Debug("websocket read ended", zap.Error(err))
			}
			return
		}
		var refuse error
		if typ != websocket.MessageText {
			refuse = core.Errorf(core.KindInvalid, "server.websocket", "send requests as text messages, not binary ones")
		} else {
			select {
			case queue <- body:
				continue
			default:
				refuse = core.Errorf(core.KindOverloaded, "server.websocket",
					"more than %d requests are waiting on this WebSocket; wait for an answer to end", wsQueue)
			}
		}
		if err := (&socketSink{write: write, requestID: claude.NewID("req_")}).fail(refuse); err != nil {
			return
		}
	}
}

// socketRequest answers one request body with its stream events. Its
// generation ends with ctx (the socket closed) or when Shutdown's grace
// period is over.
func (s *Server) socketRequest(ctx context.Context, body []byte, cl socketClient, write func([]byte) error, log *zap.Logger) {
	sink := &socketSink{write: write, requestID: claude.NewID("req_")}
	log = log.With(zap.String("message_request_id", sink.requestID))
	start := time.Now()
	model, err := "", s.admit(cl.id)
	if err == nil {
		var release func()
		if release, err = s.acquireSlot(cl.id); err == nil {
			model, err = s.socketGenerate(ctx, body, cl.version, sink, log)
			release()
		}
	}
	if err != nil {
		if werr := sink.fail(err); werr != nil {
			log.Debug("writing the error event", zap.Error(werr))
		}
	}
	log.Info("websocket request", zap.String("model", model), zap.Duration("latency", time.Since(start)),
		zap.String("error", errorKind(err)))
}

// socketGenerate decodes, prepares and streams one request; it returns an
// error for failures before the stream began.
func (s *Server) socketGenerate(ctx context.Context, body []byte, v claude.Version, sink *socketSink, log *zap.Logger) (string, error) {
	req, err := claude.DecodeRequest(body, v)
	if err != nil {
		return "", err
	}
	m, prep, err := s.prepareFor(ctx, req, nil)
	if err != nil {
		return req.Model, err
	}
	defer s.models.release(m)
	s.logPrompt(log, prep)
	ctx, cancel := context.WithCancel(ctx)
	var watch sync.WaitGroup
	defer func() {
		cancel()
		watch.Wait()
	}()
	watch.Go(func() {
		select {
		case <-s.aborting:
			cancel()
		case <-ctx.Done():
		}
	})
	events, err := s.generate(ctx, log, m, prep)
	if err != nil {
		return m.ID, err
	}
	s.pump(ctx, log.With(zap.String("model", m.ID)), events, prep.NewStream(claude.StreamOptions{}), sink)
	return m.ID, nil
}

// errorKind names err's kind for logs; empty for nil.
func errorKind(err error) string {
	if err == nil {
		return ""
	}
	return core.KindOf(err).String()
}

// socketSink writes stream events as WebSocket text messages: each the
// JSON object an SSE data line would carry.
type socketSink struct {
	write     func([]byte) error // one text message, bounded by the write timeout
	requestID string
}

func (k *socketSink) events(evs []claude.StreamEvent) error {
	for _, ev := range evs {
		data, err := claude.MarshalEvent(ev)
		if err != nil {
			return err
		}
		if err := k.write(data); err != nil {
			return core.E(core.KindCanceled, "server.websocket", err)
		}
	}
	return nil
}

func (k *socketSink) ping() error { return k.events([]claude.StreamEvent{claude.PingEvent{}}) }

// fail sends the error event, typed by the same mapping as HTTP errors.
func (k *socketSink) fail(err error) error {
	_, env := envelopeOf(err, k.requestID)
	return k.events([]claude.StreamEvent{claude.ErrorEvent{Error: env.Error, RequestID: env.RequestID}})
}
