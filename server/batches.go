package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/claude"
	"github.com/pensieve-llm/pensieve/core"
)

// maxBatchRequests is the largest number of requests in one batch (spec §9).
const maxBatchRequests = 100_000

var customIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func errorNotFoundBatch(id string) error {
	return core.Errorf(core.KindNotFound, "server.batch", "message batch %s not found", id)
}

func errorBatchNotEnded(id, why string) error {
	return core.Errorf(core.KindInvalid, "server.batch", "message batch %s has not ended: %s", id, why)
}

// batchJSON is the message_batch object (spec §9).
type batchJSON struct {
	ID                string        `json:"id"`
	Type              string        `json:"type"` // "message_batch"
	ProcessingStatus  string        `json:"processing_status"`
	RequestCounts     requestCounts `json:"request_counts"`
	CreatedAt         string        `json:"created_at"`
	ExpiresAt         string        `json:"expires_at"`
	EndedAt           *string       `json:"ended_at"`
	CancelInitiatedAt *string       `json:"cancel_initiated_at"`
	ArchivedAt        *string       `json:"archived_at"` // never archived locally
	ResultsURL        *string       `json:"results_url"`
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func stampOrNull(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := stamp(t)
	return &s
}

// renderBatch turns a snapshot into its JSON; results_url is absolute, on
// the host the client used.
func renderBatch(c echo.Context, v batchView) batchJSON {
	out := batchJSON{
		ID: v.id, Type: "message_batch", ProcessingStatus: v.status, RequestCounts: v.counts,
		CreatedAt: stamp(v.created), ExpiresAt: stamp(v.expires),
		EndedAt: stampOrNull(v.ended), CancelInitiatedAt: stampOrNull(v.cancelI),
	}
	if v.status == batchEnded {
		u := c.Scheme() + "://" + c.Request().Host + "/v1/messages/batches/" + v.id + "/results"
		out.ResultsURL = &u
	}
	return out
}

// decodeBatch reads a create body: 1–100,000 requests with unique custom
// ids. Params are kept raw: invalid params become errored results, they do
// not fail the batch (spec §9).
func decodeBatch(body []byte) ([]*batchItem, error) {
	const op = "server.createBatch"
	var in struct {
		Requests []struct {
			CustomID *string         `json:"custom_id"`
			Params   json.RawMessage `json:"params"`
		} `json:"requests"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, core.Errorf(core.KindInvalid, op, "requests: %v", err)
	}
	if len(in.Requests) == 0 || len(in.Requests) > maxBatchRequests {
		return nil, core.Errorf(core.KindInvalid, op, "requests: must hold between 1 and %d requests, got %d",
			maxBatchRequests, len(in.Requests))
	}
	seen := make(map[string]bool, len(in.Requests))
	items := make([]*batchItem, len(in.Requests))
	for i, r := range in.Requests {
		switch {
		case r.CustomID == nil:
			return nil, core.Errorf(core.KindInvalid, op, "requests.%d.custom_id: Field required", i)
		case !customIDPattern.MatchString(*r.CustomID):
			return nil, core.Errorf(core.KindInvalid, op, "requests.%d.custom_id: must be 1-64 characters of [A-Za-z0-9_-]", i)
		case seen[*r.CustomID]:
			return nil, core.Errorf(core.KindInvalid, op, "requests.%d.custom_id: duplicate custom_id %q", i, *r.CustomID)
		case len(r.Params) == 0:
			return nil, core.Errorf(core.KindInvalid, op, "requests.%d.params: Field required", i)
		}
		seen[*r.CustomID] = true
		items[i] = &batchItem{customID: *r.CustomID, params: r.Params}
	}
	return items, nil
}

// createBatch serves POST /v1/messages/batches.
func (s *Server) createBatch(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	items, err := decodeBatch(body)
	if err != nil {
		return err
	}
	b := &batch{id: claude.NewID("msgbatch_"), version: versionOf(c), items: items}
	if err := s.startBatchWorkers(c.Request().Context()); err != nil {
		return err
	}
	s.batches.add(b)
	requestLogger(c).Info("batch created", zap.String("batch_id", b.id), zap.Int("requests", len(items)))
	v, err := s.batches.get(b.id)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, renderBatch(c, v))
}

// listBatches serves GET /v1/messages/batches, newest first.
func (s *Server) listBatches(c echo.Context) error {
	views := s.batches.list()
	items := make([]batchJSON, len(views))
	for i, v := range views {
		items[i] = renderBatch(c, v)
	}
	p, err := paginate(c, items, func(b batchJSON) string { return b.ID })
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, p)
}

// getBatch serves GET /v1/messages/batches/{id}.
func (s *Server) getBatch(c echo.Context) error {
	v, err := s.batches.get(c.Param("id"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, renderBatch(c, v))
}

// cancelBatch serves POST /v1/messages/batches/{id}/cancel.
func (s *Server) cancelBatch(c echo.Context) error {
	v, err := s.batches.cancelBatch(c.Param("id"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, renderBatch(c, v))
}

// batchResults serves GET /v1/messages/batches/{id}/results as JSON Lines:
// one object per request, each ending in "\n", no blank lines.
func (s *Server) batchResults(c echo.Context) error {
	lines, err := s.batches.results(c.Param("id"))
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // Encode terminates each value with "\n"
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			return core.E(core.KindInternal, "server.batchResults", err)
		}
	}
	return c.Blob(http.StatusOK, "application/x-jsonl", buf.Bytes())
}

// deleteBatch serves DELETE /v1/messages/batches/{id}.
func (s *Server) deleteBatch(c echo.Context) error {
	id := c.Param("id")
	if err := s.batches.remove(id); err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, map[string]string{"id": id, "type": "message_batch_deleted"})
}

// startBatchWorkers starts the workers on first use; they run until
// Shutdown. Their contexts keep the values of ctx (the request that created
// the first batch) but not its cancellation: batches outlive requests.
func (s *Server) startBatchWorkers(ctx context.Context) error {
	s.batchMu.Lock()
	defer s.batchMu.Unlock()
	switch {
	case s.batchClosed:
		return core.Errorf(core.KindUnavailable, "server.createBatch", "the server is shutting down")
	case s.batchTake != nil:
		return nil
	}
	base := context.WithoutCancel(ctx)
	s.batchTake, s.stopTaking = context.WithCancel(base)
	s.batchRun, s.cancelRuns = context.WithCancel(base)
	for range s.cfg.BatchConcurrency {
		s.batchWG.Go(s.batchWorker)
	}
	return nil
}

// batchWorker runs batch requests one at a time until Shutdown.
func (s *Server) batchWorker() {
	for {
		b, it, ctx := s.batches.take(s.batchTake, s.batchRun)
		if it == nil {
			return
		}
		kind, result := s.runBatchRequest(ctx, b.version, it.params)
		s.batches.finish(b, it, kind, result)
	}
}

// retryOverloaded waits before retrying a batch request the engine refused
// as overloaded: batches yield to interactive traffic.
const retryOverloaded = 250 * time.Millisecond

// stopBatches stops the workers: they finish the request in hand until ctx
// ends, then it is canceled.
func (s *Server) stopBatches(ctx context.Context) error {
	s.batchMu.Lock()
	s.batchClosed = true
	started := s.batchTake != nil
	s.batchMu.Unlock()
	if !started {
		return nil
	}
	done := make(chan struct{})
	go func() {
		s.batchWG.Wait()
		close(done)
	}()
	s.stopTaking()
	select {
	case <-done:
		s.cancelRuns() // releases the context; nothing runs any more
		return nil
	case <-ctx.Done():
		s.cancelRuns()
		<-done
		return ctx.Err()
	}
}

// runBatchRequest runs one batch request to its result: the params are
// decoded and validated under the batch's API version and answered like a
// non-streaming POST /v1/messages. Failures become errored results;
// cancellation (of the batch, or by Shutdown) a canceled one. When the
// engine is overloaded the request waits and tries again.
func (s *Server) runBatchRequest(ctx context.Context, v claude.Version, params json.RawMessage) (string, json.RawMessage) {
	for {
		msg, err := s.batchMessage(ctx, v, params)
		switch {
		case err == nil:
			msg.Usage.ServiceTier = "batch"
			return resultSucceeded, mustJSON(map[string]any{"type": resultSucceeded, "message": msg})
		case ctx.Err() != nil:
			return resultCanceled, mustJSON(map[string]string{"type": resultCanceled})
		case core.KindOf(err) == core.KindOverloaded:
			t := time.NewTimer(retryOverloaded)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			continue
		}
		_, env := envelopeOf(err, claude.NewID("req_"))
		return resultErrored, mustJSON(map[string]any{"type": resultErrored, "error": env})
	}
}

func (s *Server) batchMessage(ctx context.Context, v claude.Version, params json.RawMessage) (*claude.Message, error) {
	req, err := claude.DecodeRequest(params, v)
	if err != nil {
		return nil, err
	}
	m, err := s.models.resolve(req.Model)
	if err != nil {
		return nil, err
	}
	prep, err := m.profile.Prepare(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := s.generate(ctx, m, prep)
	if err != nil {
		return nil, err
	}
	return claude.Collect(ctx, events, prep.NewStream(claude.StreamOptions{}))
}

// mustJSON marshals values built from plain maps and claude types, which
// cannot fail; a failure would be a bug and yields an api_error result.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`{"type":"errored","error":{"type":"error","error":{"type":"api_error","message":"Internal server error"}}}`)
	}
	return b
}
