// Package sse writes Server-Sent Events the way the Anthropic Messages API
// frames them (spec §6.1): each event is an "event: <name>" line, one
// "data: <json>" line and a blank line, flushed at once so no proxy or buffer
// holds tokens back.
//
// A Writer serves one response and is not safe for concurrent use.
package sse

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// ContentType is the media type of an event stream response.
const ContentType = "text/event-stream; charset=utf-8"

// ErrMultiline is returned for event data that holds a line break: the spec
// frames every event with exactly one data line.
var ErrMultiline = errors.New("sse: event data spans more than one line")

// Writer writes the events of one stream to an http.ResponseWriter.
type Writer struct {
	w            http.ResponseWriter
	rc           *http.ResponseController
	writeTimeout time.Duration // per-event write deadline; 0 = none
	started      bool
	buf          bytes.Buffer // reused frame buffer
}

// NewWriter returns a Writer for w. When writeTimeout is positive, every
// event moves the connection's write deadline to now+writeTimeout, so a
// server-wide write timeout guards each event without cutting long streams.
func NewWriter(w http.ResponseWriter, writeTimeout time.Duration) *Writer {
	return &Writer{w: w, rc: http.NewResponseController(w), writeTimeout: writeTimeout}
}

// Started reports whether the status line and headers have been sent. Once
// they have, failures can only be reported as events.
func (s *Writer) Started() bool { return s.started }

// Start sends the 200 status and the stream headers and flushes them. It is
// called by the first Event; calling it again does nothing.
func (s *Writer) Start() error {
	if s.started {
		return nil
	}
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	h.Del("Content-Length")
	s.extendDeadline()
	s.w.WriteHeader(http.StatusOK)
	return s.flush()
}

// Event writes one event and flushes it. An empty name writes only the data
// line (the OpenAI dialect); data must be a single line, as JSON from
// encoding/json always is.
func (s *Writer) Event(name string, data []byte) error {
	if bytes.ContainsAny(data, "\r\n") {
		return ErrMultiline
	}
	if err := s.Start(); err != nil {
		return err
	}
	s.buf.Reset()
	if name != "" {
		s.buf.WriteString("event: ")
		s.buf.WriteString(name)
		s.buf.WriteByte('\n')
	}
	s.buf.WriteString("data: ")
	s.buf.Write(data)
	s.buf.WriteString("\n\n")
	s.extendDeadline()
	if _, err := s.w.Write(s.buf.Bytes()); err != nil {
		return fmt.Errorf("sse: writing %q event: %w", name, err)
	}
	return s.flush()
}

// Comment writes a ":" comment line, which clients ignore; proxies see
// traffic.
func (s *Writer) Comment(text string) error {
	if err := s.Start(); err != nil {
		return err
	}
	s.extendDeadline()
	if _, err := fmt.Fprintf(s.w, ": %s\n\n", text); err != nil {
		return fmt.Errorf("sse: writing comment: %w", err)
	}
	return s.flush()
}

func (s *Writer) flush() error {
	if err := s.rc.Flush(); err != nil {
		return fmt.Errorf("sse: flush: %w", err)
	}
	return nil
}

// extendDeadline moves the write deadline forward. Errors are ignored on
// purpose: writers that cannot set deadlines (http.ErrNotSupported, e.g.
// in-process recorders) simply have none, and a broken connection shows up
// on the write that follows.
func (s *Writer) extendDeadline() {
	if s.writeTimeout > 0 {
		_ = s.rc.SetWriteDeadline(time.Now().Add(s.writeTimeout))
	}
}
