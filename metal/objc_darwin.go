//go:build darwin

package metal

import (
	"unsafe"

	"github.com/ebitengine/purego"
	"github.com/ebitengine/purego/objc"
)

// Selectors used by the device code, registered once (RegisterName takes
// the runtime's global lock).
var (
	selNew                      = objc.RegisterName("new")
	selRelease                  = objc.RegisterName("release")
	selName                     = objc.RegisterName("name")
	selUTF8String               = objc.RegisterName("UTF8String")
	selStringWithUTF8String     = objc.RegisterName("stringWithUTF8String:")
	selLocalizedDescription     = objc.RegisterName("localizedDescription")
	selNewCommandQueue          = objc.RegisterName("newCommandQueue")
	selNewLibraryWithSource     = objc.RegisterName("newLibraryWithSource:options:error:")
	selNewFunctionWithName      = objc.RegisterName("newFunctionWithName:")
	selNewComputePipelineState  = objc.RegisterName("newComputePipelineStateWithFunction:error:")
	selNewBufferWithBytes       = objc.RegisterName("newBufferWithBytes:length:options:")
	selNewBufferWithLength      = objc.RegisterName("newBufferWithLength:options:")
	selNewBufferWithBytesNoCopy = objc.RegisterName("newBufferWithBytesNoCopy:length:options:deallocator:")
	selContents                 = objc.RegisterName("contents")
	selCommandBuffer            = objc.RegisterName("commandBuffer")
	selComputeCommandEncoder    = objc.RegisterName("computeCommandEncoder")
	selSetComputePipelineState  = objc.RegisterName("setComputePipelineState:")
	selSetBuffer                = objc.RegisterName("setBuffer:offset:atIndex:")
	selSetBytes                 = objc.RegisterName("setBytes:length:atIndex:")
	selDispatchThreadgroups     = objc.RegisterName("dispatchThreadgroups:threadsPerThreadgroup:")
	selDispatchThreads          = objc.RegisterName("dispatchThreads:threadsPerThreadgroup:")
	selEndEncoding              = objc.RegisterName("endEncoding")
	selCommit                   = objc.RegisterName("commit")
	selWaitUntilCompleted       = objc.RegisterName("waitUntilCompleted")
	selError                    = objc.RegisterName("error")
	selHasUnifiedMemory         = objc.RegisterName("hasUnifiedMemory")
	selMaxBufferLength          = objc.RegisterName("maxBufferLength")
	selRecommendedWorkingSet    = objc.RegisterName("recommendedMaxWorkingSetSize")
)

// mtlSize mirrors MTLSize: three NSUInteger.
type mtlSize struct{ W, H, D uint }

// storageModeShared is MTLResourceStorageModeShared: CPU and GPU share the
// memory (unified memory on Apple Silicon).
const storageModeShared = 0

const (
	metalFramework        = "/System/Library/Frameworks/Metal.framework/Metal"
	coreGraphicsFramework = "/System/Library/Frameworks/CoreGraphics.framework/CoreGraphics"
)

// loadFrameworks opens Metal.framework and returns MTLCreateSystemDefaultDevice.
// CoreGraphics is loaded too: without it a command-line process may get no
// default device.
func loadFrameworks() (func() objc.ID, error) {
	lib, err := purego.Dlopen(metalFramework, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return nil, err
	}
	// Best effort: the default device is still found on most systems
	// without CoreGraphics, so a failure here is not fatal.
	_, _ = purego.Dlopen(coreGraphicsFramework, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	var create func() objc.ID
	purego.RegisterLibFunc(&create, lib, "MTLCreateSystemDefaultDevice")
	return create, nil
}

// nsString returns an autoreleased NSString holding s.
func nsString(s string) objc.ID {
	return objc.ID(objc.GetClass("NSString")).Send(selStringWithUTF8String, s)
}

// goString copies an NSString's UTF-8 bytes into a Go string.
func goString(s objc.ID) string {
	if s == 0 {
		return ""
	}
	p := objc.Send[*byte](s, selUTF8String)
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}

// nsErrorString returns an NSError's localized description.
func nsErrorString(e objc.ID) string {
	if e == 0 {
		return "unknown error"
	}
	return goString(e.Send(selLocalizedDescription))
}

// autoreleasePool runs fn inside an NSAutoreleasePool, so the command
// buffers and encoders Metal hands out autoreleased are freed.
func autoreleasePool(fn func()) {
	pool := objc.ID(objc.GetClass("NSAutoreleasePool")).Send(selNew)
	defer pool.Send(selRelease)
	fn()
}
