package metal

import (
	"errors"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/pensieve-llm/pensieve/core"
)

func TestSourceDefinesEveryKernel(t *testing.T) {
	re := regexp.MustCompile(`(?m)^kernel void (\w+)\(|^MATMUL_KERNEL\((\w+),`)
	defined := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(Source(), -1) {
		defined[m[1]+m[2]] = true
	}
	for _, k := range Kernels {
		if !defined[k] {
			t.Errorf("kernels.metal does not define %q", k)
		}
		delete(defined, k)
	}
	for k := range defined {
		t.Errorf("kernels.metal defines %q, which Kernels does not list", k)
	}
}

func TestOpenOffDarwin(t *testing.T) {
	if runtime.GOOS == "darwin" {
		t.Skip("darwin: Open may succeed")
	}
	b, err := Open()
	if err == nil {
		t.Fatalf("Open() = %v, want an error off darwin", b)
	}
	if !errors.Is(err, core.KindUnavailable) {
		t.Errorf("kind = %v, want unavailable", core.KindOf(err))
	}
	if !strings.Contains(err.Error(), "Metal") || !strings.Contains(err.Error(), runtime.GOOS) {
		t.Errorf("message %q should name Metal and the platform", err)
	}
	if Available() {
		t.Error("Available() = true off darwin")
	}
}
