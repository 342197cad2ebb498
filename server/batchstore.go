package server

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/pensieve-llm/pensieve/claude"
)

// Batch processing states (spec §9).
const (
	batchInProgress = "in_progress"
	batchCanceling  = "canceling"
	batchEnded      = "ended"
)

// Result types of one batch request (spec §9).
const (
	resultSucceeded = "succeeded"
	resultErrored   = "errored"
	resultCanceled  = "canceled"
	resultExpired   = "expired"
)

// batchTTL is how long a batch may take before its unfinished requests
// expire (spec §9: expires_at = created_at + 24 h).
const batchTTL = 24 * time.Hour

// batchStore keeps Message Batches in memory and hands their requests to
// the workers. Batches live until deleted or until the server stops.
type batchStore struct {
	now  func() time.Time
	wake chan struct{} // capacity 1: "there may be work"; workers take turns

	mu      sync.Mutex // guards batches, order and every batch's mutable fields
	batches map[string]*batch
	order   []*batch // creation order, oldest first
}

// batch is one Message Batch. Its fields after items are guarded by
// batchStore.mu.
type batch struct {
	id      string
	version claude.Version // anthropic-version at creation, applied to every request
	items   []*batchItem

	status          string
	created         time.Time
	expires         time.Time
	ended           time.Time // zero until ended
	cancelInitiated time.Time // zero unless canceled
	next            int       // index of the first item not yet handed out
	running         int       // items handed out and not finished
}

// batchItem is one request of a batch and, once finished, its result.
type batchItem struct {
	customID string
	params   json.RawMessage
	cancel   context.CancelFunc // set while running
	result   json.RawMessage    // the "result" object; nil until finished
	kind     string             // result type, once finished
}

func newBatchStore(now func() time.Time) *batchStore {
	return &batchStore{now: now, wake: make(chan struct{}, 1), batches: map[string]*batch{}}
}

func (st *batchStore) signal() {
	select {
	case st.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// add stores a new batch and wakes a worker.
func (st *batchStore) add(b *batch) {
	st.mu.Lock()
	b.status = batchInProgress
	b.created = st.now()
	b.expires = b.created.Add(batchTTL)
	st.batches[b.id] = b
	st.order = append(st.order, b)
	st.mu.Unlock()
	st.signal()
}

// take blocks until a request is ready to run, oldest batch first, and
// returns it with a context derived from run that canceling the batch also
// ends. It returns nils once stop ends.
func (st *batchStore) take(stop, run context.Context) (*batch, *batchItem, context.Context) {
	for {
		if stop.Err() != nil {
			return nil, nil, nil
		}
		st.mu.Lock()
		b, it := st.nextLocked()
		var ictx context.Context
		if it != nil {
			ictx, it.cancel = context.WithCancel(run)
			if st.pendingLocked() {
				st.signal() // let another worker take the rest
			}
		}
		st.mu.Unlock()
		if it != nil {
			return b, it, ictx
		}
		select {
		case <-st.wake:
		case <-stop.Done():
			return nil, nil, nil
		}
	}
}

func (st *batchStore) nextLocked() (*batch, *batchItem) {
	now := st.now()
	for _, b := range st.order {
		st.refreshLocked(b, now)
		if b.status == batchInProgress && b.next < len(b.items) {
			it := b.items[b.next]
			b.next++
			b.running++
			return b, it
		}
	}
	return nil, nil
}

func (st *batchStore) pendingLocked() bool {
	return slices.ContainsFunc(st.order, func(b *batch) bool {
		return b.status == batchInProgress && b.next < len(b.items)
	})
}

// finish records the result of a request handed out by take.
func (st *batchStore) finish(b *batch, it *batchItem, kind string, result json.RawMessage) {
	st.mu.Lock()
	defer st.mu.Unlock()
	it.cancel()
	it.cancel = nil
	it.kind, it.result = kind, result
	b.running--
	st.refreshLocked(b, st.now())
}

// refreshLocked applies expiry and ends a batch whose requests are all done.
func (st *batchStore) refreshLocked(b *batch, now time.Time) {
	if b.status == batchEnded {
		return
	}
	if !now.Before(b.expires) {
		for ; b.next < len(b.items); b.next++ {
			b.items[b.next].kind = resultExpired
		}
	}
	if b.next == len(b.items) && b.running == 0 {
		b.status = batchEnded
		b.ended = now
	}
}

// cancel stops a batch: requests not yet run become canceled, running ones
// are told to stop (they finish as canceled).
func (st *batchStore) cancelBatch(id string) (batchView, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	b, err := st.getLocked(id)
	if err != nil {
		return batchView{}, err
	}
	if b.status == batchInProgress {
		b.status = batchCanceling
		b.cancelInitiated = st.now()
		for ; b.next < len(b.items); b.next++ {
			b.items[b.next].kind = resultCanceled
		}
		for _, it := range b.items {
			if it.cancel != nil {
				it.cancel()
			}
		}
		st.refreshLocked(b, st.now())
	}
	return st.viewLocked(b), nil
}

// batchView is a consistent snapshot of a batch for rendering.
type batchView struct {
	id, status                       string
	created, expires, ended, cancelI time.Time
	counts                           requestCounts
}

// requestCounts are the request_counts of a batch (spec §9): while it runs
// every request counts as processing; the other counters are filled when
// it ends, so the sum is always the number of requests.
type requestCounts struct {
	Processing int `json:"processing"`
	Succeeded  int `json:"succeeded"`
	Errored    int `json:"errored"`
	Canceled   int `json:"canceled"`
	Expired    int `json:"expired"`
}

func (st *batchStore) viewLocked(b *batch) batchView {
	v := batchView{id: b.id, status: b.status, created: b.created, expires: b.expires,
		ended: b.ended, cancelI: b.cancelInitiated}
	if b.status != batchEnded {
		v.counts.Processing = len(b.items)
		return v
	}
	for _, it := range b.items {
		switch it.kind {
		case resultSucceeded:
			v.counts.Succeeded++
		case resultErrored:
			v.counts.Errored++
		case resultCanceled:
			v.counts.Canceled++
		case resultExpired:
			v.counts.Expired++
		}
	}
	return v
}

func (st *batchStore) getLocked(id string) (*batch, error) {
	b, ok := st.batches[id]
	if !ok {
		return nil, errorNotFoundBatch(id)
	}
	st.refreshLocked(b, st.now())
	return b, nil
}

// get returns a snapshot of one batch.
func (st *batchStore) get(id string) (batchView, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	b, err := st.getLocked(id)
	if err != nil {
		return batchView{}, err
	}
	return st.viewLocked(b), nil
}

// list returns snapshots of every batch, newest first.
func (st *batchStore) list() []batchView {
	st.mu.Lock()
	defer st.mu.Unlock()
	now := st.now()
	views := make([]batchView, 0, len(st.order))
	for i := len(st.order) - 1; i >= 0; i-- {
		st.refreshLocked(st.order[i], now)
		views = append(views, st.viewLocked(st.order[i]))
	}
	return views
}

// resultLine is one line of the results file.
type resultLine struct {
	CustomID string          `json:"custom_id"`
	Result   json.RawMessage `json:"result"`
}

// results returns the JSONL lines of an ended batch.
func (st *batchStore) results(id string) ([]resultLine, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	b, err := st.getLocked(id)
	if err != nil {
		return nil, err
	}
	if b.status != batchEnded {
		return nil, errorBatchNotEnded(id, "results are not available until the batch has ended")
	}
	lines := make([]resultLine, len(b.items))
	for i, it := range b.items {
		res := it.result
		if res == nil {
			res = json.RawMessage(`{"type":"` + it.kind + `"}`)
		}
		lines[i] = resultLine{CustomID: it.customID, Result: res}
	}
	return lines, nil
}

// remove deletes an ended batch.
func (st *batchStore) remove(id string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	b, err := st.getLocked(id)
	if err != nil {
		return err
	}
	if b.status != batchEnded {
		return errorBatchNotEnded(id, "only ended batches can be deleted; cancel it first")
	}
	delete(st.batches, id)
	st.order = slices.DeleteFunc(st.order, func(x *batch) bool { return x == b })
	return nil
}
