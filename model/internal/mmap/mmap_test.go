package mmap

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/pensieve-llm/pensieve/core"
)

func TestFileMapsContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	want := []byte("pensieve mapped bytes")
	if err := os.WriteFile(path, want, 0o600); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	data, unmap, err := File(fh, int64(len(want)))
	if err != nil {
		t.Fatal(err)
	}
	if data == nil {
		if runtime.GOOS != "windows" && runtime.GOOS != "plan9" && runtime.GOOS != "js" && runtime.GOOS != "wasip1" {
			t.Fatalf("no mapping on %s", runtime.GOOS)
		}
		return
	}
	if string(data) != string(want) {
		t.Errorf("mapped %q, want %q", data, want)
	}
	if err := unmap(); err != nil {
		t.Errorf("unmap: %v", err)
	}
}

func TestOpenClassifies(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Open("test", filepath.Join(dir, "missing")); !errors.Is(err, core.KindNotFound) {
		t.Errorf("missing file: %v, want not_found", err)
	}
	path := filepath.Join(dir, "f")
	os.WriteFile(path, []byte("12345"), 0o600)
	fh, size, err := Open("test", path)
	if err != nil || size != 5 {
		t.Fatalf("Open = %d, %v", size, err)
	}
	fh.Close()
}
