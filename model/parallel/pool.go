// Package parallel runs data-parallel loops on a fixed set of persistent
// worker goroutines with low dispatch overhead: no goroutine is created and
// nothing is allocated per call, idle workers spin briefly before they park.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Task is a unit of data-parallel work. Do processes items [lo, hi); worker,
// in [0, Workers()), identifies the goroutine running it so a task can keep
// per-worker scratch. Do is called concurrently from several goroutines with
// disjoint ranges. Passing a pointer type as Task keeps Run allocation-free.
type Task interface {
	Do(worker, lo, hi int)
}

// spinRounds is how many polls an idle worker makes before it parks; each
// poll is a few nanoseconds plus an occasional scheduler yield, so a worker
// stays hot for some tens of microseconds — long enough to catch the next
// matrix product of a forward pass.
const spinRounds = 20000

// The job word packs the generation of the current job, its chunk count and
// the next chunk to hand out, so that claiming a chunk and checking that it
// belongs to the current job is one compare-and-swap.
const (
	chunkBits = 20
	chunkMask = 1<<chunkBits - 1
	maxChunks = chunkMask
	genShift  = 2 * chunkBits
)

func packWord(gen uint64, chunks, next int) uint64 {
	return gen<<genShift | uint64(chunks)<<chunkBits | uint64(next)
}

func unpackWord(w uint64) (gen uint64, chunks, next int) {
	return w >> genShift, int(w >> chunkBits & chunkMask), int(w & chunkMask)
}

// Pool is a fixed set of worker goroutines. The goroutine calling Run is
// worker 0 and takes part in the work; the pool owns Workers()-1 more
// goroutines, which exit on Close.
//
// A Run returns as soon as every chunk is done: a worker that has not woken
// up yet (its core busy with another process, say) is not waited for — the
// others take its share, and when it wakes it finds the job finished.
//
// A Pool is safe for concurrent use; concurrent Run calls are serialized.
// A nil *Pool is valid and runs every task on the caller.
type Pool struct {
	n       int
	run     sync.Mutex // serializes Run: guards job
	job     job
	word    atomic.Uint64 // generation, chunk count and next chunk (packWord)
	done    atomic.Int32  // chunks of the current job finished
	closed  atomic.Bool
	workers []worker
	wg      sync.WaitGroup
}

// job is the work published by one Run call. Its fields are written before
// the job word announces the generation and are read by a worker only once
// it holds a chunk of that generation, which the caller waits for before it
// writes them again.
type job struct {
	task  Task
	n     int
	grain int
}

type worker struct {
	parked atomic.Bool
	wake   chan struct{} // capacity 1: a wake-up token for a parked worker
	_      [48]byte      // keep workers' hot fields on separate cache lines
}

// New starts a pool of n workers (the caller of Run counts as one, so n-1
// goroutines are started). n ≤ 0 means runtime.GOMAXPROCS(0).
func New(n int) *Pool {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	p := &Pool{n: n, workers: make([]worker, n)}
	for i := 1; i < n; i++ {
		p.workers[i].wake = make(chan struct{}, 1)
		p.wg.Add(1)
		go p.loop(i)
	}
	return p
}

// Workers returns the number of workers, the caller of Run included (1 for
// a nil pool).
func (p *Pool) Workers() int {
	if p == nil {
		return 1
	}
	return p.n
}

// Run calls t.Do over [0, n) split into chunks of grain items (the last may
// be shorter; grain grows if there would be more than about a million
// chunks), spreading the chunks over the workers, and returns when all are
// done. grain < 1 is taken as 1. After Close, or on a nil or one-worker
// pool, the caller does all the work itself.
func (p *Pool) Run(t Task, n, grain int) {
	if n <= 0 {
		return
	}
	grain = max(grain, 1, (n+maxChunks-1)/maxChunks)
	if p == nil || p.n == 1 || n <= grain || p.closed.Load() {
		for lo := 0; lo < n; lo += grain {
			t.Do(0, lo, min(lo+grain, n))
		}
		return
	}
	p.run.Lock()
	defer p.run.Unlock()
	if p.closed.Load() {
		for lo := 0; lo < n; lo += grain {
			t.Do(0, lo, min(lo+grain, n))
		}
		return
	}
	j := &p.job
	j.task, j.n, j.grain = t, n, grain
	chunks := (n + grain - 1) / grain
	p.done.Store(0)
	gen, _, _ := unpackWord(p.word.Load())
	p.word.Store(packWord(gen+1, chunks, 0)) // publishes the job
	for i := 1; i < p.n; i++ {
		w := &p.workers[i]
		if w.parked.Load() {
			select {
			case w.wake <- struct{}{}:
			default: // a token is already waiting
			}
		}
	}
	p.work(0, gen+1)
	for spins := 0; p.done.Load() != int32(chunks); spins++ {
		if spins&63 == 63 {
			runtime.Gosched()
		}
	}
	j.task = nil // do not retain the caller's task
}

// work takes chunks of generation gen until none are left.
func (p *Pool) work(worker int, gen uint64) {
	for {
		w := p.word.Load()
		g, chunks, next := unpackWord(w)
		if g != gen || next >= chunks {
			return
		}
		if !p.word.CompareAndSwap(w, w+1) {
			continue
		}
		j := &p.job
		lo := next * j.grain
		j.task.Do(worker, lo, min(lo+j.grain, j.n))
		p.done.Add(1)
	}
}

// loop is worker i's goroutine: wait for a new generation, work. It exits
// when the pool is closed.
func (p *Pool) loop(i int) {
	defer p.wg.Done()
	w := &p.workers[i]
	// Generation 0 is the pool's initial state; reading the word here
	// instead could miss a job published before this goroutine first ran.
	var seen uint64
	for {
		gen, ok := p.await(w, seen)
		if !ok {
			return
		}
		seen = gen
		p.work(i, gen)
	}
}

// await spins, then parks, until the generation moves past seen, and
// returns the new one. It reports false when the pool is closing.
func (p *Pool) await(w *worker, seen uint64) (uint64, bool) {
	for spins := 0; spins < spinRounds; spins++ {
		if g, _, _ := unpackWord(p.word.Load()); g != seen {
			return g, true
		}
		if p.closed.Load() {
			return 0, false
		}
		if spins&255 == 255 {
			runtime.Gosched()
		}
	}
	for {
		w.parked.Store(true)
		// Re-check after announcing the park: Run stores the word before it
		// looks at parked, so either it sees parked and sends a token, or
		// this load sees the new generation.
		if g, _, _ := unpackWord(p.word.Load()); g != seen {
			w.parked.Store(false)
			return g, true
		}
		if p.closed.Load() {
			return 0, false
		}
		<-w.wake
		w.parked.Store(false)
		if g, _, _ := unpackWord(p.word.Load()); g != seen {
			return g, true
		}
		if p.closed.Load() {
			return 0, false
		}
		// A stale token from an earlier job: park again.
	}
}

// Close stops the workers and waits for them to exit. Run may still be
// called afterwards; it then runs on the caller alone. Close is idempotent.
func (p *Pool) Close() {
	if p == nil || p.closed.Swap(true) {
		return
	}
	p.run.Lock() // wait for a Run in progress
	defer p.run.Unlock()
	for i := 1; i < p.n; i++ {
		select {
		case p.workers[i].wake <- struct{}{}:
		default:
		}
	}
	p.wg.Wait()
}
