package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countTask records how often each item was visited and by which worker.
type countTask struct {
	hits    []atomic.Int32
	workers int
	bad     atomic.Int32
}

func (c *countTask) Do(worker, lo, hi int) {
	if worker < 0 || worker >= c.workers || lo >= hi {
		c.bad.Add(1)
	}
	for i := lo; i < hi; i++ {
		c.hits[i].Add(1)
	}
}

func checkOnce(t *testing.T, c *countTask) {
	t.Helper()
	if c.bad.Load() != 0 {
		t.Fatal("Do called with a bad worker index or an empty range")
	}
	for i := range c.hits {
		if h := c.hits[i].Swap(0); h != 1 {
			t.Fatalf("item %d visited %d times", i, h)
		}
	}
}

func TestRun(t *testing.T) {
	for _, workers := range []int{1, 2, 3, 8} {
		p := New(workers)
		for _, c := range []struct{ n, grain int }{{0, 1}, {1, 1}, {7, 1}, {100, 7}, {1000, 0}, {5, 100}} {
			task := &countTask{hits: make([]atomic.Int32, c.n), workers: p.Workers()}
			p.Run(task, c.n, c.grain)
			checkOnce(t, task)
		}
		p.Close()
	}
}

func TestNilPool(t *testing.T) {
	var p *Pool
	task := &countTask{hits: make([]atomic.Int32, 10), workers: 1}
	p.Run(task, 10, 3)
	checkOnce(t, task)
	if p.Workers() != 1 {
		t.Fatal("nil pool should report one worker")
	}
	p.Close()
}

// TestParkAndWake lets the workers park between jobs and checks they still
// pick up work.
func TestParkAndWake(t *testing.T) {
	p := New(3)
	defer p.Close()
	task := &countTask{hits: make([]atomic.Int32, 64), workers: 3}
	for range 3 {
		time.Sleep(20 * time.Millisecond) // long past the spin phase
		p.Run(task, 64, 1)
		checkOnce(t, task)
	}
}

func TestConcurrentRun(t *testing.T) {
	p := New(4)
	defer p.Close()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			task := &countTask{hits: make([]atomic.Int32, 200), workers: 4}
			for range 50 {
				p.Run(task, 200, 3)
				for i := range task.hits {
					if h := task.hits[i].Swap(0); h != 1 {
						t.Errorf("item %d visited %d times", i, h)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func TestCloseStopsWorkers(t *testing.T) {
	before := runtime.NumGoroutine()
	p := New(6)
	task := &countTask{hits: make([]atomic.Int32, 100), workers: 6}
	p.Run(task, 100, 1)
	checkOnce(t, task)
	p.Close()
	p.Close() // idempotent
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Fatalf("%d goroutines after Close, %d before New", g, before)
	}
	// Run after Close still completes, on the caller.
	p.Run(task, 100, 9)
	checkOnce(t, task)
}

type nopTask struct{ sum atomic.Int64 }

func (n *nopTask) Do(_, lo, hi int) { n.sum.Add(int64(hi - lo)) }

func TestRunAllocs(t *testing.T) {
	p := New(2)
	defer p.Close()
	task := &nopTask{}
	if a := testing.AllocsPerRun(100, func() { p.Run(task, 64, 4) }); a != 0 {
		t.Fatalf("Run allocates %v times per call", a)
	}
}

func BenchmarkRunDispatch(b *testing.B) {
	p := New(0)
	defer p.Close()
	task := &nopTask{}
	b.ReportAllocs()
	for b.Loop() {
		p.Run(task, 64, 1)
	}
}

// blockTask blocks the first chunk it is given until release is closed.
type blockTask struct {
	first   atomic.Bool
	started chan struct{}
	release chan struct{}
	hits    atomic.Int32
}

func (b *blockTask) Do(_, lo, hi int) {
	if b.first.CompareAndSwap(false, true) {
		close(b.started)
		<-b.release
	}
	b.hits.Add(int32(hi - lo))
}

// TestRunWaitsOnlyForChunks: while one worker is held inside a chunk, the
// other does every remaining chunk, and Run returns once the held chunk
// finishes — completion is counted in chunks, not in workers checking in.
func TestRunWaitsOnlyForChunks(t *testing.T) {
	p := New(2)
	defer p.Close()
	task := &blockTask{started: make(chan struct{}), release: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		p.Run(task, 100, 1)
		close(done)
	}()
	<-task.started
	deadline := time.Now().Add(5 * time.Second)
	for task.hits.Load() < 99 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if h := task.hits.Load(); h != 99 {
		t.Fatalf("%d items done while one chunk was held, want 99", h)
	}
	select {
	case <-done:
		t.Fatal("Run returned before its held chunk finished")
	default:
	}
	close(task.release)
	<-done
	if h := task.hits.Load(); h != 100 {
		t.Fatalf("%d items done, want 100", h)
	}
}

// TestManyChunks: more chunks than the job word can count still run once each.
func TestManyChunks(t *testing.T) {
	p := New(2)
	defer p.Close()
	n := maxChunks + 1000
	task := &countTask{hits: make([]atomic.Int32, n), workers: 2}
	p.Run(task, n, 1)
	checkOnce(t, task)
}
