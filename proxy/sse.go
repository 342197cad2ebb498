package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
)

// Event is one Server-Sent Event.
type Event struct {
	Name string // the "event:" field; empty means "message"
	Data []byte // the "data:" lines joined by "\n"
}

// maxEventBytes bounds one event so a hostile upstream cannot grow memory
// without limit.
const maxEventBytes = 8 << 20

// SSEReader reads Server-Sent Events from a stream, in the shape of
// bufio.Scanner: call Next until it returns false, then check Err.
type SSEReader struct {
	sc  *bufio.Scanner
	cur Event
	err error
}

// NewSSEReader returns a reader of the events in r.
func NewSSEReader(r io.Reader) *SSEReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventBytes)
	sc.Split(scanLines)
	return &SSEReader{sc: sc}
}

// Next advances to the next event with data or a name, following the
// WHATWG event-stream rules: lines "field: value", a blank line ends an
// event, lines starting with ":" are comments, a single leading space of the
// value is dropped, "\r\n", "\n" and "\r" all end lines.
func (r *SSEReader) Next() bool {
	r.cur = Event{}
	var data bytes.Buffer
	hasData := false
	for r.sc.Scan() {
		line := r.sc.Bytes()
		if len(line) == 0 {
			if hasData || r.cur.Name != "" {
				r.cur.Data = data.Bytes()
				return true
			}
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, found := bytes.Cut(line, []byte(":"))
		if found && len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(field) {
		case "event":
			r.cur.Name = string(value)
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			hasData = true
			if data.Len()+len(value) > maxEventBytes {
				r.err = errEventTooLarge
				return false
			}
			data.Write(value)
		}
	}
	r.err = r.sc.Err()
	if r.err == nil && (hasData || r.cur.Name != "") {
		// A final event without its blank line still counts.
		r.cur.Data = data.Bytes()
		return true
	}
	return false
}

// Event returns the current event. Its Data is valid until the next call to
// Next.
func (r *SSEReader) Event() Event { return r.cur }

// Err returns the first read error, or nil at a clean end of stream.
func (r *SSEReader) Err() error { return r.err }

type sseError string

func (e sseError) Error() string { return string(e) }

const errEventTooLarge = sseError("sse: event larger than 8 MiB")

// scanLines splits at "\r\n", "\n" or a lone "\r", as event streams may
// use any of the three.
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	if atEOF && len(data) == 0 {
		return 0, nil, nil
	}
	i := bytes.IndexAny(data, "\r\n")
	switch {
	case i < 0 && atEOF:
		return len(data), data, nil
	case i < 0:
		return 0, nil, nil
	case data[i] == '\n':
		return i + 1, data[:i], nil
	case i+1 < len(data) && data[i+1] == '\n':
		return i + 2, data[:i], nil
	case i+1 < len(data) || atEOF:
		return i + 1, data[:i], nil
	}
	// A "\r" at the end of the buffer: wait to see whether "\n" follows.
	return 0, nil, nil
}

// sseWriter writes events to an HTTP response and flushes each one.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func newSSEWriter(w http.ResponseWriter) *sseWriter {
	return &sseWriter{w: w, rc: http.NewResponseController(w)}
}

// start writes the event-stream headers and status 200.
func (s *sseWriter) start() {
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	s.w.WriteHeader(http.StatusOK)
}

// write sends one event and flushes it.
func (s *sseWriter) write(name string, data []byte) error {
	var b strings.Builder
	b.WriteString("event: ")
	b.WriteString(name)
	b.WriteString("\ndata: ")
	b.Write(data)
	b.WriteString("\n\n")
	if _, err := io.WriteString(s.w, b.String()); err != nil {
		return err
	}
	return s.rc.Flush()
}
