package server

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/claude"
	"github.com/pensieve-llm/pensieve/core"
)

func errorNotFoundBatch(id string) error {
	return core.Errorf(core.KindNotFound, "server.batch", "message batch %s not found", id)
}

func errorBatchNotEnded(id, why string) error {
	return core.Errorf(core.KindInvalid, "server.batch", "message batch %s has not ended: %s", id, why)
}

// baseURL is the scheme and host the client used, for results_url.
func baseURL(c echo.Context) string { return c.Scheme() + "://" + c.Request().Host }

// createBatch serves POST /v1/messages/batches.
func (s *Server) createBatch(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	in, err := claude.DecodeBatchCreate(body)
	if err != nil {
		return err
	}
	b := &batch{id: claude.NewID("msgbatch_"), version: versionOf(c), items: make([]*batchItem, len(in.Requests))}
	for i, r := range in.Requests {
		b.items[i] = &batchItem{BatchRequest: r}
	}
	if err := s.startBatchWorkers(c.Request().Context()); err != nil {
		return err
	}
	v := s.batches.add(b, baseURL(c))
	requestLogger(c).Info("batch created", zap.String("batch_id", b.id), zap.Int("requests", len(b.items)))
	return writeJSON(c, http.StatusOK, v)
}

// listBatches serves GET /v1/messages/batches, newest first.
func (s *Server) listBatches(c echo.Context) error {
	q, err := claude.ParsePageQuery(c.QueryParam("limit"), c.QueryParam("after_id"), c.QueryParam("before_id"))
	if err != nil {
		return err
	}
	p, err := claude.Paginate(s.batches.list(baseURL(c)), func(b claude.MessageBatch) string { return b.ID }, q)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, p)
}

// getBatch serves GET /v1/messages/batches/{id}.
func (s *Server) getBatch(c echo.Context) error {
	v, err := s.batches.get(c.Param("id"), baseURL(c))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, v)
}

// cancelBatch serves POST /v1/messages/batches/{id}/cancel.
func (s *Server) cancelBatch(c echo.Context) error {
	v, err := s.batches.cancelBatch(c.Param("id"), baseURL(c))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, v)
}

// batchResults serves GET /v1/messages/batches/{id}/results as JSON Lines:
// one object per request, each ending in "\n", no blank lines (spec §9).
func (s *Server) batchResults(c echo.Context) error {
	lines, err := s.batches.results(c.Param("id"))
	if err != nil {
		return err
	}
	var out []byte
	for _, l := range lines {
		if out, err = claude.AppendJSONL(out, l); err != nil {
			return core.E(core.KindInternal, "server.batchResults", err)
		}
	}
	return c.Blob(http.StatusOK, "application/x-jsonl", out)
}

// deleteBatch serves DELETE /v1/messages/batches/{id}.
func (s *Server) deleteBatch(c echo.Context) error {
	id := c.Param("id")
	if err := s.batches.remove(id); err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, claude.DeletedBatch{ID: id, Type: "message_batch_deleted"})
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
		log := s.log.With(zap.String("batch_id", b.id), zap.String("custom_id", it.CustomID))
		s.batches.finish(b, it, s.runBatchRequest(ctx, log, b.version, it.Params))
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
func (s *Server) runBatchRequest(ctx context.Context, log *zap.Logger, v claude.Version, params json.RawMessage) claude.BatchResult {
	for {
		msg, err := s.batchMessage(ctx, log, v, params)
		switch {
		case err == nil:
			msg.Usage.ServiceTier = "batch"
			return claude.BatchResult{Type: claude.BatchSucceeded, Message: msg}
		case ctx.Err() != nil:
			return claude.BatchResult{Type: claude.BatchCanceled}
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
		return claude.BatchResult{Type: claude.BatchErrored, Error: &env}
	}
}

func (s *Server) batchMessage(ctx context.Context, log *zap.Logger, v claude.Version, params json.RawMessage) (*claude.Message, error) {
	req, err := claude.DecodeRequest(params, v)
	if err != nil {
		return nil, err
	}
	if err := s.resolveImageURLs(ctx, req); err != nil {
		return nil, err
	}
	m, err := s.models.acquire(ctx, req.Model)
	if err != nil {
		return nil, err
	}
	defer s.models.release(m)
	prep, err := m.profile.Prepare(req)
	if err != nil {
		return nil, err
	}
	s.logPrompt(log, prep)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := s.generate(ctx, log, m, prep)
	if err != nil {
		return nil, err
	}
	return claude.Collect(ctx, events, prep.NewStream(claude.StreamOptions{}))
}
