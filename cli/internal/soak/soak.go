// Package soak is a load generator for a running Pensieve server. It speaks
// real HTTP to POST /v1/messages in rounds: concurrent streaming clients
// (some hanging up mid-stream), non-streaming clients and malformed
// requests. Every finished stream is checked against the Messages stream
// grammar, every refusal against the error envelope, and between rounds it
// reads go_goroutines and the resident memory from /metrics and fails when
// they grow.
package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/core"
)

// Config sets up a soak run. For every field the zero value selects the
// documented default.
type Config struct {
	// BaseURL is the server, e.g. "http://127.0.0.1:8080"; required.
	BaseURL string
	// APIKey is sent as x-api-key on every request (and to /metrics); empty
	// sends none.
	APIKey string
	// Model is the model id to ask for; empty means the first id of GET
	// /v1/models.
	Model string
	// Streams is the number of concurrent streaming clients per round;
	// default 32.
	Streams int
	// HangUps is how many of the streams cancel right after their first
	// content_block_delta; default Streams/4. Negative means none.
	HangUps int
	// NonStream is the number of concurrent non-streaming requests per
	// round; default 4. Negative means none.
	NonStream int
	// Malformed lists the refused requests sent once per round; nil means
	// MalformedCases(Model).
	Malformed []ErrorCase
	// MaxTokens is max_tokens of every valid request; default 16.
	MaxTokens int
	// Rounds is the least number of measured rounds; default 3.
	Rounds int
	// WarmUpRounds are full rounds run before the baseline is sampled, so
	// that pools, caches and the heap have reached their working size; the
	// memory check compares against the first measured round. Default 1;
	// negative means none (only one warm-up stream and request).
	WarmUpRounds int
	// Duration keeps starting rounds until it has passed (at least Rounds
	// are run); zero runs exactly Rounds.
	Duration time.Duration
	// RequestTimeout bounds each request; default 2 minutes.
	RequestTimeout time.Duration
	// Settle is how long the goroutine count may take to come back after a
	// round; default 10 s.
	Settle time.Duration
	// GoroutineSlack is how far above the baseline the goroutine count may
	// settle; default 5.
	GoroutineSlack int
	// RSSGrowth is the allowed growth of resident memory over the first
	// round's, as a fraction; default 0.20.
	RSSGrowth float64
}

func (c Config) withDefaults() Config {
	if c.Streams <= 0 {
		c.Streams = 32
	}
	switch {
	case c.HangUps == 0:
		c.HangUps = c.Streams / 4
	case c.HangUps < 0:
		c.HangUps = 0
	}
	c.HangUps = min(c.HangUps, c.Streams)
	switch {
	case c.NonStream == 0:
		c.NonStream = 4
	case c.NonStream < 0:
		c.NonStream = 0
	}
	if c.MaxTokens <= 0 {
		c.MaxTokens = 16
	}
	if c.Rounds <= 0 {
		c.Rounds = 3
	}
	switch {
	case c.WarmUpRounds == 0:
		c.WarmUpRounds = 1
	case c.WarmUpRounds < 0:
		c.WarmUpRounds = 0
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 2 * time.Minute
	}
	if c.Settle <= 0 {
		c.Settle = 10 * time.Second
	}
	if c.GoroutineSlack <= 0 {
		c.GoroutineSlack = 5
	}
	if c.RSSGrowth <= 0 {
		c.RSSGrowth = 0.20
	}
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	return c
}

// Option configures Run.
type Option func(*options)

type options struct {
	log    *zap.Logger
	client *http.Client
}

// WithLogger sets the logger for progress (one line per round); the default
// discards it.
func WithLogger(l *zap.Logger) Option { return func(o *options) { o.log = l } }

// WithHTTPClient sets the client of the load requests. The default is a
// client of its own whose idle connections are closed after every round, so
// kept-alive connections do not count as server goroutines.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// Report is the outcome of a run.
type Report struct {
	// BaseURL and Model are what was soaked.
	BaseURL string `json:"base_url"`
	Model   string `json:"model"`
	// WarmUp are the warm-up rounds; their failures count like any other.
	WarmUp []Round `json:"warm_up,omitempty"`
	// Baseline is sampled after the warm-up, before the first round.
	Baseline Sample `json:"baseline"`
	// Rounds are the rounds in order.
	Rounds []Round `json:"rounds"`
	// Elapsed is the wall time of the whole run.
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Round is the outcome of one round.
type Round struct {
	// Index counts rounds from 1.
	Index int `json:"index"`
	// Elapsed is the time from the first request to the last response.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Requests counts every request sent.
	Requests int `json:"requests"`
	// Completed counts streams read to message_stop; HungUp those the client
	// cancelled mid-stream; NonStream the valid non-streaming responses;
	// Refused the malformed requests answered with the right envelope.
	Completed int `json:"completed"`
	HungUp    int `json:"hung_up"`
	NonStream int `json:"non_stream"`
	Refused   int `json:"refused"`
	// OutputTokens sums output_tokens of completed streams and non-streaming
	// responses.
	OutputTokens int `json:"output_tokens"`
	// FirstEvent is the time to message_start, FirstDelta the time to the
	// first content_block_delta, Stream the time of a completed stream.
	FirstEvent Latency `json:"first_event"`
	FirstDelta Latency `json:"first_delta"`
	Stream     Latency `json:"stream"`
	// After is sampled once the round has settled; SettledIn is how long the
	// goroutine count took to come back.
	After     Sample        `json:"after"`
	SettledIn time.Duration `json:"settled_in_ns"`
	// Failures describes everything that went wrong, one line each.
	Failures []string `json:"failures,omitempty"`
}

// Requests is the number of requests sent in all measured rounds.
func (r *Report) Requests() int {
	n := 0
	for _, rd := range r.Rounds {
		n += rd.Requests
	}
	return n
}

// Failures returns every failure of the warm-up and of every round,
// prefixed by its round.
func (r *Report) Failures() []string {
	var out []string
	for _, rd := range r.WarmUp {
		for _, f := range rd.Failures {
			out = append(out, fmt.Sprintf("warm-up round %d: %s", rd.Index, f))
		}
	}
	for _, rd := range r.Rounds {
		for _, f := range rd.Failures {
			out = append(out, fmt.Sprintf("round %d: %s", rd.Index, f))
		}
	}
	return out
}

// Run soaks the server described by cfg and returns the report. The error
// is non-nil when the run could not start (bad configuration, server
// unreachable) or when any round had failures; the report is filled as far
// as the run went either way.
func Run(ctx context.Context, cfg Config, opts ...Option) (*Report, error) {
	cfg = cfg.withDefaults()
	o := options{log: zap.NewNop()}
	for _, opt := range opts {
		opt(&o)
	}
	if cfg.BaseURL == "" {
		return nil, core.Errorf(core.KindInvalid, "soak.Run", "no base URL")
	}
	if o.client == nil {
		tr := &http.Transport{MaxIdleConnsPerHost: cfg.Streams + cfg.NonStream + 8, DisableCompression: true}
		defer tr.CloseIdleConnections()
		o.client = &http.Client{Transport: tr}
	}
	r := &runner{cfg: cfg, log: o.log, hc: o.client,
		// Scrapes use their own connection each time, so they leave no
		// kept-alive connection (and its goroutines) behind on the server.
		scraper: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}}
	start := time.Now()
	rep := &Report{BaseURL: cfg.BaseURL}
	if err := r.prepare(ctx, rep); err != nil {
		return rep, err
	}
	for i := 1; i <= cfg.Rounds || time.Since(start) < cfg.Duration; i++ {
		if err := ctx.Err(); err != nil {
			rep.Elapsed = time.Since(start)
			return rep, core.E(core.KindCanceled, "soak.Run", err)
		}
		rd := r.round(ctx, i, rep)
		rep.Rounds = append(rep.Rounds, rd)
		o.log.Info("soak round",
			zap.Int("round", i), zap.Int("requests", rd.Requests), zap.Int("completed", rd.Completed),
			zap.Int("hung_up", rd.HungUp), zap.Int("failures", len(rd.Failures)),
			zap.Duration("elapsed", rd.Elapsed), zap.Duration("stream_p95", rd.Stream.P95),
			zap.Int("goroutines", rd.After.Goroutines), zap.Int64("rss_bytes", rd.After.RSSBytes), zap.Int64("heap_bytes", rd.After.HeapBytes))
	}
	rep.Elapsed = time.Since(start)
	if f := rep.Failures(); len(f) > 0 {
		return rep, core.Errorf(core.KindInternal, "soak.Run", "%d failures in %d requests; first: %s", len(f), rep.Requests(), f[0])
	}
	return rep, nil
}

// runner holds one run's settings and clients.
type runner struct {
	cfg     Config
	log     *zap.Logger
	hc      *http.Client
	scraper *http.Client
}

// prepare resolves the model, sends one warm-up stream and one
// non-streaming request and the warm-up rounds (so lazily started server
// goroutines and pools exist before the baseline) and samples the baseline
// once the goroutine count is steady.
func (r *runner) prepare(ctx context.Context, rep *Report) error {
	if r.cfg.Model == "" {
		m, err := firstModel(ctx, r.hc, r.cfg.BaseURL, r.cfg.APIKey)
		if err != nil {
			return err
		}
		r.cfg.Model = m
	}
	if r.cfg.Malformed == nil {
		r.cfg.Malformed = MalformedCases(r.cfg.Model)
	}
	rep.Model = r.cfg.Model
	if o := r.stream(ctx, 0, false); o.err != nil {
		return core.Errorf(core.KindUnavailable, "soak.Run", "warm-up stream: %w", o.err)
	}
	if o := r.nonStream(ctx, 0); o.err != nil {
		return core.Errorf(core.KindUnavailable, "soak.Run", "warm-up request: %w", o.err)
	}
	for i := 1; i <= r.cfg.WarmUpRounds; i++ {
		rd := r.round(ctx, i, nil)
		rep.WarmUp = append(rep.WarmUp, rd)
		if len(rd.Failures) > 0 {
			return core.Errorf(core.KindInternal, "soak.Run", "warm-up round %d: %d failures; first: %s", i, len(rd.Failures), rd.Failures[0])
		}
	}
	r.hc.CloseIdleConnections()
	// Steady: two scrapes in a row agree, or the settle time passed.
	deadline := time.Now().Add(r.cfg.Settle)
	prev := -1
	for {
		s, err := r.sample(ctx)
		if err != nil {
			return err
		}
		rep.Baseline = s
		if s.Goroutines == prev || time.Now().After(deadline) {
			return nil
		}
		prev = s.Goroutines
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// round runs one round and, unless it is a warm-up round (rep nil), checks
// what it left behind.
func (r *runner) round(ctx context.Context, index int, rep *Report) Round {
	rd := Round{Index: index}
	var outs []outcome
	var mu sync.Mutex // guards outs
	var wg sync.WaitGroup
	launch := func(f func() outcome) {
		wg.Go(func() {
			o := f()
			mu.Lock()
			outs = append(outs, o)
			mu.Unlock()
		})
	}
	start := time.Now()
	for i := range r.cfg.Streams {
		hangUp := i < r.cfg.HangUps
		launch(func() outcome { return r.stream(ctx, index*1000+i, hangUp) })
	}
	for i := range r.cfg.NonStream {
		launch(func() outcome { return r.nonStream(ctx, index*1000+i) })
	}
	for _, c := range r.cfg.Malformed {
		launch(func() outcome { return r.malformed(ctx, c) })
	}
	wg.Wait()
	rd.Elapsed = time.Since(start)
	rd.tally(outs)
	r.hc.CloseIdleConnections()
	if rep != nil {
		r.settle(ctx, &rd, rep)
	}
	return rd
}

// settle polls /metrics until the goroutine count is back within the slack
// of the baseline (and no request or generation is left in flight), then
// checks resident memory against the first round.
func (r *runner) settle(ctx context.Context, rd *Round, rep *Report) {
	start := time.Now()
	limit := rep.Baseline.Goroutines + r.cfg.GoroutineSlack
	for {
		s, err := r.sample(ctx)
		if err != nil {
			rd.Failures = append(rd.Failures, "scrape: "+err.Error())
			return
		}
		rd.After, rd.SettledIn = s, time.Since(start)
		quiet := s.Goroutines <= limit && s.Inflight <= 1 && s.Active <= 0
		if quiet {
			break
		}
		if time.Since(start) > r.cfg.Settle {
			rd.Failures = append(rd.Failures, fmt.Sprintf(
				"not settled after %v: goroutines %d (baseline %d, limit %d), inflight requests %d, active generations %d",
				r.cfg.Settle, s.Goroutines, rep.Baseline.Goroutines, limit, s.Inflight, s.Active))
			break
		}
		if sleep(ctx, 100*time.Millisecond) != nil {
			rd.Failures = append(rd.Failures, "canceled while settling")
			return
		}
	}
	if len(rep.Rounds) > 0 {
		first := rep.Rounds[0].After.RSSBytes
		if lim := int64(float64(first) * (1 + r.cfg.RSSGrowth)); first > 0 && rd.After.RSSBytes > lim {
			rd.Failures = append(rd.Failures, fmt.Sprintf("resident memory %d bytes exceeds the first round's %d by more than %.0f%%",
				rd.After.RSSBytes, first, r.cfg.RSSGrowth*100))
		}
	}
}

func (r *runner) sample(ctx context.Context) (Sample, error) {
	m, err := scrape(ctx, r.scraper, r.cfg.BaseURL, r.cfg.APIKey)
	if err != nil {
		return Sample{}, err
	}
	return sampleOf(m)
}

// firstModel returns the first id GET /v1/models lists.
func firstModel(ctx context.Context, hc *http.Client, baseURL, apiKey string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/v1/models", nil)
	if err != nil {
		return "", core.Errorf(core.KindInvalid, "soak.firstModel", "%w", err)
	}
	if apiKey != "" {
		req.Header.Set("x-api-key", apiKey)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", core.Errorf(core.KindUnavailable, "soak.firstModel", "GET /v1/models: %w", err)
	}
	defer resp.Body.Close()
	var page struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := decodeJSON(resp, &page); err != nil {
		return "", core.Errorf(core.KindUnavailable, "soak.firstModel", "GET /v1/models: %w", err)
	}
	if len(page.Data) == 0 {
		return "", core.Errorf(core.KindUnavailable, "soak.firstModel", "the server lists no models")
	}
	return page.Data[0].ID, nil
}

func decodeJSON(resp *http.Response, v any) error {
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %.200q", resp.StatusCode, body)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return fmt.Errorf("content type %q, want application/json", resp.Header.Get("Content-Type"))
	}
	return json.Unmarshal(body, v)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
