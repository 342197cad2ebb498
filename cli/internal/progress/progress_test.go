package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// clock advances one second per call.
func clock() func() time.Time {
	t := time.Unix(0, 0)
	return func() time.Time { t = t.Add(time.Second); return t }
}

func TestPlainLines(t *testing.T) {
	var out bytes.Buffer
	b := newBar(&out, "m.gguf", false, clock())
	for done := int64(0); done <= 1000; done += 50 {
		b.Set(done, 1000)
	}
	b.Done()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 11 {
		t.Fatalf("%d lines, want one per 10%%:\n%s", len(lines), out.String())
	}
	if d := cmp.Diff("m.gguf   0% 0 B / 1000 B", lines[0]); d != "" {
		t.Errorf("first line (-want +got)\n%s", d)
	}
	if !strings.HasPrefix(lines[10], "m.gguf 100% 1000 B / 1000 B  ") || strings.Contains(out.String(), "\r") {
		t.Errorf("last line %q", lines[10])
	}
}

func TestUnknownTotal(t *testing.T) {
	var out bytes.Buffer
	b := newBar(&out, "x", false, clock())
	b.Set(0, -1)
	b.Set(100<<20, -1)
	b.Done()
	want := "x 0 B\nx 100.0 MiB  50.0 MiB/s\nx 100.0 MiB  33.3 MiB/s\n"
	if d := cmp.Diff(want, out.String()); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
}

func TestTerminalRedraws(t *testing.T) {
	var out bytes.Buffer
	b := newBar(&out, "m", true, clock())
	b.Set(0, 4<<20)
	b.Set(1<<20, 4<<20)
	b.Done()
	got := out.String()
	if strings.Count(got, "\r") != 3 || !strings.HasSuffix(got, "\n") || strings.Count(got, "\n") != 1 {
		t.Fatalf("output %q", got)
	}
	if !strings.Contains(got, " 25% [======>                 ] 1.0 MiB / 4.0 MiB  512.0 KiB/s  ETA 6s") {
		t.Errorf("output %q", got)
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 5 << 30: "5.0 GiB", 3 << 40: "3.0 TiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestIsTerminal(t *testing.T) {
	if IsTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Error("a regular file is not a terminal")
	}
}
