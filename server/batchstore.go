package server

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/pensieve-llm/pensieve/claude"
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

	status          claude.BatchStatus
	created         time.Time
	expires         time.Time
	ended           time.Time // zero until ended
	cancelInitiated time.Time // zero unless canceled
	next            int       // index of the first item not yet handed out
	running         int       // items handed out and not finished
}

// batchItem is one request of a batch and, once finished, its result.
type batchItem struct {
	claude.BatchRequest
	cancel context.CancelFunc // set while running
	result claude.BatchResult // Type is empty until finished
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

// add stores a new batch, wakes a worker and returns the batch as created
// (in progress: the answer to the create request must not race the workers).
func (st *batchStore) add(b *batch, base string) claude.MessageBatch {
	st.mu.Lock()
	b.status = claude.BatchInProgress
	b.created = st.now()
	b.expires = b.created.Add(batchTTL)
	st.batches[b.id] = b
	st.order = append(st.order, b)
	v := st.viewLocked(b, base)
	st.mu.Unlock()
	st.signal()
	return v
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
		if b.status == claude.BatchInProgress && b.next < len(b.items) {
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
		return b.status == claude.BatchInProgress && b.next < len(b.items)
	})
}

// finish records the result of a request handed out by take.
func (st *batchStore) finish(b *batch, it *batchItem, result claude.BatchResult) {
	st.mu.Lock()
	defer st.mu.Unlock()
	it.cancel()
	it.cancel = nil
	it.result = result
	b.running--
	st.refreshLocked(b, st.now())
}

// refreshLocked applies expiry and ends a batch whose requests are all done.
func (st *batchStore) refreshLocked(b *batch, now time.Time) {
	if b.status == claude.BatchEnded {
		return
	}
	if !now.Before(b.expires) {
		for ; b.next < len(b.items); b.next++ {
			b.items[b.next].result = claude.BatchResult{Type: claude.BatchExpired}
		}
	}
	if b.next == len(b.items) && b.running == 0 {
		b.status = claude.BatchEnded
		b.ended = now
	}
}

// cancelBatch stops a batch: requests not yet run become canceled, running
// ones are told to stop (they finish as canceled).
func (st *batchStore) cancelBatch(id, base string) (claude.MessageBatch, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	b, err := st.getLocked(id)
	if err != nil {
		return claude.MessageBatch{}, err
	}
	if b.status == claude.BatchInProgress {
		b.status = claude.BatchCanceling
		b.cancelInitiated = st.now()
		for ; b.next < len(b.items); b.next++ {
			b.items[b.next].result = claude.BatchResult{Type: claude.BatchCanceled}
		}
		for _, it := range b.items {
			if it.cancel != nil {
				it.cancel()
			}
		}
		st.refreshLocked(b, st.now())
	}
	return st.viewLocked(b, base), nil
}

// viewLocked renders a batch (spec §9). While it runs every request
// counts as processing; the other counters are filled when it ends, so the
// sum is always the number of requests. results_url is set when it has
// ended, relative to base (scheme and host the client used).
func (st *batchStore) viewLocked(b *batch, base string) claude.MessageBatch {
	v := claude.MessageBatch{ID: b.id, Type: "message_batch", ProcessingStatus: b.status,
		CreatedAt: b.created, ExpiresAt: b.expires, EndedAt: timeOrNil(b.ended), CancelInitiatedAt: timeOrNil(b.cancelInitiated)}
	if b.status != claude.BatchEnded {
		v.RequestCounts.Processing = len(b.items)
		return v
	}
	url := base + "/v1/messages/batches/" + b.id + "/results"
	v.ResultsURL = &url
	for _, it := range b.items {
		switch it.result.Type {
		case claude.BatchSucceeded:
			v.RequestCounts.Succeeded++
		case claude.BatchErrored:
			v.RequestCounts.Errored++
		case claude.BatchCanceled:
			v.RequestCounts.Canceled++
		case claude.BatchExpired:
			v.RequestCounts.Expired++
		}
	}
	return v
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (st *batchStore) getLocked(id string) (*batch, error) {
	b, ok := st.batches[id]
	if !ok {
		return nil, errorNotFoundBatch(id)
	}
	st.refreshLocked(b, st.now())
	return b, nil
}

// get renders one batch.
func (st *batchStore) get(id, base string) (claude.MessageBatch, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	b, err := st.getLocked(id)
	if err != nil {
		return claude.MessageBatch{}, err
	}
	return st.viewLocked(b, base), nil
}

// list renders every batch, newest first.
func (st *batchStore) list(base string) []claude.MessageBatch {
	st.mu.Lock()
	defer st.mu.Unlock()
	now := st.now()
	views := make([]claude.MessageBatch, 0, len(st.order))
	for i := len(st.order) - 1; i >= 0; i-- {
		st.refreshLocked(st.order[i], now)
		views = append(views, st.viewLocked(st.order[i], base))
	}
	return views
}

// results returns the result lines of an ended batch, in request order.
func (st *batchStore) results(id string) ([]claude.BatchResultLine, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	b, err := st.getLocked(id)
	if err != nil {
		return nil, err
	}
	if b.status != claude.BatchEnded {
		return nil, errorBatchNotEnded(id, "results are not available until the batch has ended")
	}
	lines := make([]claude.BatchResultLine, len(b.items))
	for i, it := range b.items {
		lines[i] = claude.BatchResultLine{CustomID: it.CustomID, Result: it.result}
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
	if b.status != claude.BatchEnded {
		return errorBatchNotEnded(id, "only ended batches can be deleted; cancel it first")
	}
	delete(st.batches, id)
	st.order = slices.DeleteFunc(st.order, func(x *batch) bool { return x == b })
	return nil
}
