package server

import (
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/pensieve-llm/pensieve/core"
)

// slots counts the generation requests in flight per client (the
// rate-limit identity: the matched API key's index, or the client IP on an
// open server) and refuses one past the per-client bound.
type slots struct {
	limit int // > 0

	mu     sync.Mutex     // guards inUse
	inUse  map[string]int // client → requests in flight; absent when 0
	onFull func()         // called for every refusal (metrics)
}

func newSlots(limit int, onFull func()) *slots {
	return &slots{limit: limit, inUse: map[string]int{}, onFull: onFull}
}

// acquire takes one of client's slots; on success the caller must call
// the returned release exactly once (later calls do nothing). It fails
// with a 429 rate_limit_error when client already has limit requests in
// flight.
func (sl *slots) acquire(client string) (release func(), err error) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.inUse[client] >= sl.limit {
		if sl.onFull != nil {
			sl.onFull()
		}
		return nil, &retryAfterError{after: defaultRetryAfter, err: core.Errorf(core.KindRateLimited, "server.concurrency",
			"Number of concurrent requests has exceeded your limit (%d). Please wait for a request to finish and try again.", sl.limit)}
	}
	sl.inUse[client]++
	var once sync.Once
	return func() { once.Do(func() { sl.release(client) }) }, nil
}

func (sl *slots) release(client string) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.inUse[client]--; sl.inUse[client] <= 0 {
		delete(sl.inUse, client) // keeps the map as small as the clients in flight
	}
}

// acquireSlot takes a concurrency slot for client when
// Config.MaxConcurrentPerKey is set; release must be called when the
// request ends. Without the limit release does nothing.
func (s *Server) acquireSlot(client string) (release func(), err error) {
	if s.slots == nil {
		return func() {}, nil
	}
	return s.slots.acquire(client)
}

// limitConcurrency holds one of the client's concurrency slots (see
// Config.MaxConcurrentPerKey) for the whole request, stream included: the
// handler returns only when the response has ended or the client has gone.
func (s *Server) limitConcurrency(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		client, _ := c.Get(ctxClient).(string)
		release, err := s.acquireSlot(client)
		if err != nil {
			return err
		}
		defer release()
		return next(c)
	}
}
