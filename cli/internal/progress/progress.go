// Package progress draws progress for long jobs (pulls, loads, quantizing):
// a bar redrawn in place on a terminal, plain lines every 10 % otherwise.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// IsTerminal reports whether w is a character device such as a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Bar reports the progress of one job in bytes. It is not safe for
// concurrent use: one goroutine calls Set and then Done.
type Bar struct {
	w        io.Writer
	label    string
	terminal bool
	now      func() time.Time

	start    time.Time
	lastDraw time.Time
	lastStep int64 // the last 10 % step (or 64 MiB step when the total is unknown) printed
	done     int64
	total    int64
	base     int64 // bytes already there when the bar started (a resumed download)
}

// New returns a bar labelled label writing to w: redrawn in place when
// terminal is true (see IsTerminal), else as a line per 10 %.
func New(w io.Writer, label string, terminal bool) *Bar {
	return newBar(w, label, terminal, time.Now)
}

func newBar(w io.Writer, label string, terminal bool, now func() time.Time) *Bar {
	return &Bar{w: w, label: label, terminal: terminal, now: now, start: now(), lastStep: -1, base: -1, total: -1}
}

// Set records that done of total bytes are complete; total < 0 means
// unknown. Output is throttled, so calling Set for every chunk is cheap.
func (b *Bar) Set(done, total int64) {
	if b.base < 0 {
		b.base = done
	}
	b.done, b.total = done, total
	now := b.now()
	if b.terminal {
		if now.Sub(b.lastDraw) >= 100*time.Millisecond {
			b.lastDraw = now
			fmt.Fprintf(b.w, "\r%s\x1b[K", b.line(now))
		}
		return
	}
	step := done / (64 << 20)
	if total > 0 {
		step = done * 10 / total
	}
	if step != b.lastStep {
		b.lastStep = step
		fmt.Fprintln(b.w, b.line(now))
	}
}

// Done draws the final state and ends the line.
func (b *Bar) Done() {
	now := b.now()
	if b.terminal {
		fmt.Fprintf(b.w, "\r%s\x1b[K\n", b.line(now))
		return
	}
	if b.total > 0 && b.done*10/b.total == b.lastStep {
		return // the last line printed already shows the final state
	}
	fmt.Fprintln(b.w, b.line(now))
}

// line renders "label  42% [=====>    ] 1.2 GiB / 2.9 GiB  35.0 MiB/s  ETA 48s".
func (b *Bar) line(now time.Time) string {
	var s strings.Builder
	s.WriteString(b.label)
	elapsed := now.Sub(b.start).Seconds()
	rate := 0.0
	if elapsed > 0 && b.base >= 0 {
		rate = float64(b.done-b.base) / elapsed
	}
	if b.total > 0 {
		pct := min(100, b.done*100/b.total)
		fmt.Fprintf(&s, " %3d%%", pct)
		if b.terminal {
			const width = 24
			filled := int(pct * width / 100)
			bar := strings.Repeat("=", filled)
			if filled < width {
				bar += ">" + strings.Repeat(" ", width-filled-1)
			}
			s.WriteString(" [" + bar + "]")
		}
		fmt.Fprintf(&s, " %s / %s", Bytes(b.done), Bytes(b.total))
	} else {
		fmt.Fprintf(&s, " %s", Bytes(b.done))
	}
	if rate > 0 {
		fmt.Fprintf(&s, "  %s/s", Bytes(int64(rate)))
		if b.total > 0 && b.done < b.total {
			eta := time.Duration(float64(b.total-b.done)/rate) * time.Second
			fmt.Fprintf(&s, "  ETA %s", eta.Round(time.Second))
		}
	}
	return s.String()
}

// Bytes formats n with a binary unit: "512 B", "1.5 KiB", "2.3 GiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
