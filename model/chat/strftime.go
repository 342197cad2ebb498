package chat

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// strftime formats t with Python's strftime directives (the subset chat
// templates use: dates such as "%d %b %Y" and "%Y-%m-%d", times, weekdays).
// Unknown directives are copied unchanged, as C's strftime does on glibc.
func strftime(t time.Time, format string) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i+1 == len(format) {
			b.WriteByte(c)
			continue
		}
		i++
		switch d := format[i]; d {
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case '-':
			// %-d and %-m: glibc's unpadded forms.
			if i+1 < len(format) && (format[i+1] == 'd' || format[i+1] == 'm') {
				i++
				if format[i] == 'd' {
					b.WriteString(strconv.Itoa(t.Day()))
				} else {
					b.WriteString(strconv.Itoa(int(t.Month())))
				}
			} else {
				b.WriteString("%-")
			}
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'Y':
			b.WriteString(strconv.Itoa(t.Year()))
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case 'b':
			b.WriteString(t.Month().String()[:3])
		case 'B':
			b.WriteString(t.Month().String())
		case 'a':
			b.WriteString(t.Weekday().String()[:3])
		case 'A':
			b.WriteString(t.Weekday().String())
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'I':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			fmt.Fprintf(&b, "%02d", h)
		case 'p':
			if t.Hour() < 12 {
				b.WriteString("AM")
			} else {
				b.WriteString("PM")
			}
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(d)
		}
	}
	return b.String()
}
