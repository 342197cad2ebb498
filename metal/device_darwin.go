//go:build darwin

package metal

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego/objc"

	"github.com/pensieve-llm/pensieve/core"
)

// Device is a Metal GPU with Pensieve's kernels compiled for it. It
// implements core.Backend and core.Normer, plus the other kernels of a
// forward pass as methods. Every call is synchronous: it encodes one command
// buffer, commits it and waits, so the caller's slices hold the result when
// it returns.
//
// A Device is safe for concurrent use; calls are serialised on its queue.
type Device struct {
	dev       objc.ID
	queue     objc.ID
	name      string
	pipelines map[string]objc.ID // kernel name → MTLComputePipelineState; read-only after newDevice

	mu      sync.Mutex             // guards weights and serialises command submission
	weights map[uintptr]weightView // weight buffers by the address of their first byte
}

// weightView is a Metal buffer wrapping (without copying, when possible) the
// memory of a weight tensor, and where the tensor starts inside it.
type weightView struct {
	buf    objc.ID
	offset uint
}

// Available reports whether a Metal device can be opened.
func Available() bool {
	create, err := loadFrameworks()
	if err != nil {
		return false
	}
	d := create()
	if d == 0 {
		return false
	}
	d.Send(selRelease)
	return true
}

func newDevice() (core.Backend, error) {
	const op = "metal.Open"
	create, err := loadFrameworks()
	if err != nil {
		return nil, core.Errorf(core.KindUnavailable, op, "loading Metal.framework on %s: %w", platform(), err)
	}
	d := &Device{pipelines: map[string]objc.ID{}, weights: map[uintptr]weightView{}}
	if d.dev = create(); d.dev == 0 {
		return nil, core.Errorf(core.KindUnavailable, op, "no Metal device on this %s machine", platform())
	}
	d.name = "metal:" + goString(d.dev.Send(selName))
	if d.queue = d.dev.Send(selNewCommandQueue); d.queue == 0 {
		d.Close()
		return nil, core.Errorf(core.KindUnavailable, op, "%s: cannot create a command queue", d.name)
	}
	if err := d.buildPipelines(); err != nil {
		d.Close()
		return nil, core.E(core.KindUnavailable, op, err)
	}
	return d, nil
}

// buildPipelines compiles the embedded MSL source and makes one pipeline per
// kernel.
func (d *Device) buildPipelines() (err error) {
	autoreleasePool(func() {
		var nsErr objc.ID
		lib := d.dev.Send(selNewLibraryWithSource, nsString(kernelSource), objc.ID(0), unsafe.Pointer(&nsErr))
		if lib == 0 {
			err = fmt.Errorf("compiling kernels.metal: %s", nsErrorString(nsErr))
			return
		}
		defer lib.Send(selRelease)
		for _, name := range Kernels {
			fn := lib.Send(selNewFunctionWithName, nsString(name))
			if fn == 0 {
				err = fmt.Errorf("kernel %q missing from the compiled library", name)
				return
			}
			pso := d.dev.Send(selNewComputePipelineState, fn, unsafe.Pointer(&nsErr))
			fn.Send(selRelease)
			if pso == 0 {
				err = fmt.Errorf("pipeline %q: %s", name, nsErrorString(nsErr))
				return
			}
			d.pipelines[name] = pso
		}
	})
	return err
}

// Name returns "metal:" and the GPU's name.
func (d *Device) Name() string { return d.name }

// Close releases the pipelines, weight buffers, queue and device.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range d.weights {
		w.buf.Send(selRelease)
	}
	d.weights = map[uintptr]weightView{}
	for _, p := range d.pipelines {
		p.Send(selRelease)
	}
	d.pipelines = map[string]objc.ID{}
	if d.queue != 0 {
		d.queue.Send(selRelease)
		d.queue = 0
	}
	if d.dev != 0 {
		d.dev.Send(selRelease)
		d.dev = 0
	}
	return nil
}

// weightBuffer returns a buffer over w.Data. Page-aligned memory (a
// memory-mapped file) is wrapped without copying, from the page holding the
// first byte; other memory is copied once. Buffers are cached by address:
// weights are immutable for the life of the model. The caller holds d.mu.
func (d *Device) weightBuffer(data []byte) (weightView, error) {
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	if w, ok := d.weights[addr]; ok {
		return w, nil
	}
	page := uintptr(pageSize)
	lead := addr & (page - 1)
	length := (lead + uintptr(len(data)) + page - 1) &^ (page - 1)
	first := unsafe.Pointer(unsafe.SliceData(data))
	w := weightView{offset: uint(lead)}
	w.buf = d.dev.Send(selNewBufferWithBytesNoCopy, unsafe.Add(first, -int(lead)), uint(length), uint(storageModeShared), objc.ID(0))
	if w.buf == 0 {
		w = weightView{buf: d.dev.Send(selNewBufferWithBytes, first, uint(len(data)), uint(storageModeShared))}
		if w.buf == 0 {
			return weightView{}, fmt.Errorf("cannot allocate a %d-byte weight buffer", len(data))
		}
	}
	d.weights[addr] = w
	return w, nil
}

var pageSize = os.Getpagesize()

// arg is one kernel argument: a float32 slice (copied in, and out again when
// out is set), an int32 slice, a weight view, or raw constant bytes.
type arg struct {
	f32   []float32
	i32   []int32
	w     *weightView
	bytes unsafe.Pointer
	size  uintptr
	out   bool
}

func floats(s []float32) arg    { return arg{f32: s} }
func outFloats(s []float32) arg { return arg{f32: s, out: true} }
func ints(s []int32) arg        { return arg{i32: s} }
func constant[T any](v *T) arg  { return arg{bytes: unsafe.Pointer(v), size: unsafe.Sizeof(*v)} }

// run encodes one dispatch of kernel over args, waits for it and copies the
// outputs back. With threads true, grid counts threads (dispatchThreads);
// otherwise it counts threadgroups.
func (d *Device) run(kernel string, grid, group mtlSize, threads bool, args ...arg) error {
	pso, ok := d.pipelines[kernel]
	if !ok {
		return fmt.Errorf("metal: unknown kernel %q", kernel)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d.mu.Lock()
	defer d.mu.Unlock()
	var err error
	autoreleasePool(func() {
		bufs := make([]objc.ID, len(args))
		defer func() {
			for _, b := range bufs {
				if b != 0 {
					b.Send(selRelease)
				}
			}
		}()
		cb := d.queue.Send(selCommandBuffer)
		enc := cb.Send(selComputeCommandEncoder)
		enc.Send(selSetComputePipelineState, pso)
		for i, a := range args {
			switch {
			case a.w != nil:
				enc.Send(selSetBuffer, a.w.buf, a.w.offset, uint(i))
			case a.bytes != nil:
				enc.Send(selSetBytes, a.bytes, uint(a.size), uint(i))
			case a.i32 != nil:
				bufs[i] = d.dev.Send(selNewBufferWithBytes, unsafe.Pointer(unsafe.SliceData(a.i32)), uint(4*len(a.i32)), uint(storageModeShared))
				enc.Send(selSetBuffer, bufs[i], uint(0), uint(i))
			default:
				bufs[i] = d.dev.Send(selNewBufferWithBytes, unsafe.Pointer(unsafe.SliceData(a.f32)), uint(4*max(1, len(a.f32))), uint(storageModeShared))
				enc.Send(selSetBuffer, bufs[i], uint(0), uint(i))
			}
		}
		if threads {
			enc.Send(selDispatchThreads, grid, group)
		} else {
			enc.Send(selDispatchThreadgroups, grid, group)
		}
		enc.Send(selEndEncoding)
		cb.Send(selCommit)
		cb.Send(selWaitUntilCompleted)
		if e := cb.Send(selError); e != 0 {
			err = fmt.Errorf("metal: %s: %s", kernel, nsErrorString(e))
			return
		}
		for i, a := range args {
			if a.out {
				p := objc.Send[*float32](bufs[i], selContents)
				copy(a.f32, unsafe.Slice(p, len(a.f32)))
			}
		}
	})
	return err
}
