package engine

import (
	"context"
	"sync"

	"github.com/pensieve-llm/pensieve/core"
)

// request is one accepted generation on its way through the engine: the
// scheduler posts events into its mailbox without ever blocking, and the
// request's forwarder goroutine moves them to the caller's channel.
type request struct {
	// ctx is the caller's context. A queued request is the one place that
	// stores a context: the scheduler checks it on every step.
	ctx  context.Context
	req  core.Request    // the caller's request with Prompt and Stop copied
	out  chan core.Event // capacity 1; the forwarder is its only sender
	wake chan struct{}   // capacity 1; tells the forwarder the mailbox changed

	mu      sync.Mutex // guards next, hasNext and final
	next    core.Event // events posted but not yet taken, merged into one
	hasNext bool
	final   *core.Event // the last event, once posted
}

func newRequest(ctx context.Context, req *core.Request) *request {
	r := &request{
		ctx:  ctx,
		req:  *req,
		out:  make(chan core.Event, 1),
		wake: make(chan struct{}, 1),
	}
	r.req.Prompt = append([]core.TokenID(nil), req.Prompt...)
	r.req.Stop = append([]string(nil), req.Stop...)
	return r
}

// post queues a non-final event. Events that pile up while the consumer is
// slow are merged: texts and tokens concatenated, usage the latest.
func (r *request) post(ev core.Event) {
	r.mu.Lock()
	if r.hasNext {
		r.next.Text += ev.Text
		r.next.Tokens = append(r.next.Tokens, ev.Tokens...)
		r.next.Usage = ev.Usage
	} else {
		r.next, r.hasNext = ev, true
	}
	r.mu.Unlock()
	r.signal()
}

// finish queues the last event; nothing may be posted after it.
func (r *request) finish(ev core.Event) {
	ev.Done = true
	r.mu.Lock()
	r.final = &ev
	r.mu.Unlock()
	r.signal()
}

func (r *request) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// take empties the mailbox: the merged pending event (ok reports whether
// there is one) and the final event if it has been posted.
func (r *request) take() (ev core.Event, ok bool, final *core.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev, ok, final = r.next, r.hasNext, r.final
	r.next, r.hasNext = core.Event{}, false
	return ev, ok, final
}

// deliver is the forwarder: it runs for the lifetime of one request and
// exits after closing out. abort is closed when the engine stops waiting
// for consumers.
func (r *request) deliver(abort <-chan struct{}) {
	defer close(r.out)
	send := func(ev core.Event) bool {
		select {
		case r.out <- ev:
			return true
		case <-r.ctx.Done():
		case <-abort:
		}
		return false
	}
	for live := true; live; {
		ev, ok, final := r.take()
		if ok && !send(ev) {
			break
		}
		if final != nil {
			if !send(*final) {
				r.replace(*final)
			}
			return
		}
		select {
		case <-r.wake:
		case <-r.ctx.Done():
			live = false
		case <-abort:
			live = false
		}
	}
	// The consumer has gone (or the engine is closing): the scheduler posts
	// the final event within one step; hand it over without waiting for
	// the consumer to read.
	for {
		if _, _, final := r.take(); final != nil {
			r.replace(*final)
			return
		}
		<-r.wake
	}
}

// replace puts final into out without blocking: if the consumer left an
// earlier event unread in the buffer, that event is dropped for it. This
// cannot block because the forwarder is out's only sender.
func (r *request) replace(final core.Event) {
	select {
	case r.out <- final:
		return
	default:
	}
	select {
	case <-r.out:
	default:
	}
	r.out <- final
}
