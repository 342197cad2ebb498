package soak

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pensieve-llm/pensieve/core"
)

// kind says what a request was.
type kind int

const (
	kindStream kind = iota
	kindNonStream
	kindMalformed
)

// outcome is the result of one request.
type outcome struct {
	kind       kind
	name       string // for failures
	err        error
	hungUp     bool
	tokens     int
	firstEvent time.Duration // to message_start (streams)
	firstDelta time.Duration // to the first content_block_delta (streams)
	total      time.Duration
}

// prompts vary the requests a little so that not every one shares the same
// cached prefix.
var prompts = []string{
	"Write a short poem about the sea.",
	"List three prime numbers.",
	"What is the capital of France?",
	"Say hello in five languages.",
	"Describe a cat in one sentence.",
}

// stream sends one streaming request. With hangUp, the client cancels the
// request right after the first content_block_delta; everything read until
// then must still be valid.
func (r *runner) stream(ctx context.Context, i int, hangUp bool) (o outcome) {
	o = outcome{kind: kindStream, name: fmt.Sprintf("stream %d", i)}
	if hangUp {
		o.name += " (hang-up)"
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	start := time.Now()
	defer func() { o.total = time.Since(start) }()
	req, err := newRequest(ctx, r.cfg.BaseURL, r.cfg.APIKey, messageBody(r.cfg.Model, prompts[i%len(prompts)], r.cfg.MaxTokens, true))
	if err != nil {
		o.err = err
		return o
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		o.err = core.Errorf(core.KindUnavailable, "soak.stream", "POST: %w", err)
		return o
	}
	defer resp.Body.Close()
	if err := checkStreamHead(resp); err != nil {
		o.err = err
		return o
	}
	er, c := NewEventReader(resp.Body), NewChecker()
	for {
		ev, err := er.Next()
		if err == io.EOF {
			o.err = c.Finish()
			break
		}
		if err != nil {
			o.err = err
			return o
		}
		if err := c.Feed(ev); err != nil {
			o.err = err
			return o
		}
		switch {
		case ev.Name == "message_start":
			o.firstEvent = time.Since(start)
		case ev.Name == "content_block_delta" && o.firstDelta == 0:
			o.firstDelta = time.Since(start)
			if hangUp {
				// Hang up: cancel the request and drop the connection
				// without reading further.
				cancel()
				o.hungUp = true
				return o
			}
		}
	}
	if o.err == nil {
		o.err = checkTokens(c.Message(), r.cfg.MaxTokens)
		o.tokens = c.Message().OutputTokens
	}
	return o
}

// checkStreamHead checks a stream's status line and headers (spec §2, §6.1).
func checkStreamHead(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return core.Errorf(core.KindInvalid, "soak.stream", "status %d: %.300q", resp.StatusCode, body)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return core.Errorf(core.KindInvalid, "soak.stream", "content type %q, want text/event-stream", resp.Header.Get("Content-Type"))
	}
	if id := resp.Header.Get("request-id"); !strings.HasPrefix(id, "req_") {
		return core.Errorf(core.KindInvalid, "soak.stream", "request-id header %q does not start with req_", id)
	}
	return nil
}

// checkTokens checks output_tokens against max_tokens.
func checkTokens(m Message, maxTokens int) error {
	if m.OutputTokens > maxTokens {
		return core.Errorf(core.KindInvalid, "soak", "output_tokens %d > max_tokens %d", m.OutputTokens, maxTokens)
	}
	return nil
}

// nonStream sends one non-streaming request and checks the message.
func (r *runner) nonStream(ctx context.Context, i int) (o outcome) {
	o = outcome{kind: kindNonStream, name: fmt.Sprintf("non-stream %d", i)}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	start := time.Now()
	defer func() { o.total = time.Since(start) }()
	req, err := newRequest(ctx, r.cfg.BaseURL, r.cfg.APIKey, messageBody(r.cfg.Model, prompts[i%len(prompts)], r.cfg.MaxTokens, false))
	if err != nil {
		o.err = err
		return o
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		o.err = core.Errorf(core.KindUnavailable, "soak.nonStream", "POST: %w", err)
		return o
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	switch {
	case err != nil:
		o.err = core.Errorf(core.KindUnavailable, "soak.nonStream", "reading body: %w", err)
	case resp.StatusCode != http.StatusOK:
		o.err = core.Errorf(core.KindInvalid, "soak.nonStream", "status %d: %.300q", resp.StatusCode, body)
	default:
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
			o.err = core.Errorf(core.KindInvalid, "soak.nonStream", "content type %q, want application/json", resp.Header.Get("Content-Type"))
			break
		}
		m, err := CheckMessage(body)
		if err == nil {
			err = checkTokens(m, r.cfg.MaxTokens)
		}
		o.err, o.tokens = err, m.OutputTokens
	}
	return o
}

// malformed sends one refused request and checks the envelope.
func (r *runner) malformed(ctx context.Context, c ErrorCase) (o outcome) {
	o = outcome{kind: kindMalformed, name: "malformed " + c.Name}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	start := time.Now()
	defer func() { o.total = time.Since(start) }()
	req, err := newRequest(ctx, r.cfg.BaseURL, r.cfg.APIKey, c.Body)
	if err != nil {
		o.err = err
		return o
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		o.err = core.Errorf(core.KindUnavailable, "soak.malformed", "POST: %w", err)
		return o
	}
	defer resp.Body.Close()
	o.err = CheckErrorResponse(resp, c)
	return o
}

// tally adds the outcomes of a round to it.
func (rd *Round) tally(outs []outcome) {
	var first, delta, stream []time.Duration
	for _, o := range outs {
		rd.Requests++
		if o.err != nil {
			rd.Failures = append(rd.Failures, o.name+": "+o.err.Error())
			continue
		}
		rd.OutputTokens += o.tokens
		switch o.kind {
		case kindStream:
			first = append(first, o.firstEvent)
			if o.firstDelta > 0 {
				delta = append(delta, o.firstDelta)
			}
			if o.hungUp {
				rd.HungUp++
			} else {
				rd.Completed++
				stream = append(stream, o.total)
			}
		case kindNonStream:
			rd.NonStream++
		case kindMalformed:
			rd.Refused++
		}
	}
	rd.FirstEvent, rd.FirstDelta, rd.Stream = latencyOf(first), latencyOf(delta), latencyOf(stream)
}

// Latency summarizes durations.
type Latency struct {
	// P50, P95 and Max are the median, 95th percentile and maximum.
	P50 time.Duration `json:"p50_ns"`
	P95 time.Duration `json:"p95_ns"`
	Max time.Duration `json:"max_ns"`
}

// latencyOf computes nearest-rank percentiles.
func latencyOf(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(ds))+0.999999) - 1
		return ds[max(0, min(i, len(ds)-1))]
	}
	return Latency{P50: rank(0.50), P95: rank(0.95), Max: ds[len(ds)-1]}
}
