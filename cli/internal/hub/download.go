package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/pensieve-llm/pensieve/core"
)

// PartialSuffix ends the name of a download in progress; the file is renamed
// to its final name only once complete and verified.
const PartialSuffix = ".partial"

// Client downloads files from one hub. It is safe for concurrent use, but
// two downloads of the same file into the same directory at once corrupt
// each other's partial file.
type Client struct {
	endpoint  string
	token     string
	http      *http.Client
	log       *zap.Logger
	retries   int
	backoff   time.Duration
	userAgent string
}

// Option configures a Client.
type Option func(*Client)

// WithToken sends token as "Authorization: Bearer <token>" to the hub (never
// to the CDN it redirects to). Default: no token.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient sets the HTTP client; its CheckRedirect is replaced. Default:
// a client with no overall timeout (files are large) whose connections time
// out as http.DefaultTransport's do.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithLogger sets the logger. The default discards all output.
func WithLogger(l *zap.Logger) Option { return func(c *Client) { c.log = l } }

// WithRetries sets how many times an interrupted download is resumed within
// one Download call, waiting backoff, 2×backoff, … in between. Default 0.
func WithRetries(n int, backoff time.Duration) Option {
	return func(c *Client) { c.retries, c.backoff = n, backoff }
}

// WithUserAgent sets the User-Agent header. Default "pensieve".
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client for the hub at endpoint, e.g. "https://huggingface.co".
func New(endpoint string, opts ...Option) (*Client, error) {
	if !strings.HasPrefix(endpoint, "http://") && !strings.HasPrefix(endpoint, "https://") {
		return nil, core.Errorf(core.KindInvalid, "hub.New", "endpoint %q: want an http or https URL", endpoint)
	}
	c := &Client{endpoint: endpoint, http: &http.Client{}, log: zap.NewNop(), userAgent: "pensieve"}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Progress reports how far a download is.
type Progress struct {
	// Done counts the bytes on disk, including those kept from an earlier
	// interrupted attempt.
	Done int64
	// Total is the file size, or -1 when the hub did not say.
	Total int64
}

// Request says what to download and where.
type Request struct {
	// Ref is the file to download.
	Ref Ref
	// Dir is the directory for the file, created if needed. The file keeps
	// the last segment of Ref.File as its name.
	Dir string
	// Force downloads again even if the file is already there.
	Force bool
	// Progress, if set, is called from Download's goroutine as bytes arrive.
	Progress func(Progress)
}

// Result describes a finished download.
type Result struct {
	// Path is the downloaded file.
	Path string
	// Size is its size in bytes.
	Size int64
	// SHA256 is its hex SHA-256; empty when Skipped.
	SHA256 string
	// Verified reports that SHA256 matched the checksum the hub published
	// (X-Linked-Etag or ETag). The hub publishes one for LFS files, which
	// model files are.
	Verified bool
	// Resumed counts the bytes kept from an earlier interrupted attempt.
	Resumed int64
	// Skipped reports that the file was already there and Force was false.
	Skipped bool
}

// Download fetches one file, resuming from a partial file left by an earlier
// attempt. On success the file is complete and, when the hub published a
// checksum, verified. Errors are core.Errors: KindNotFound (404),
// KindUnauthenticated or KindPermission (gated or private repositories),
// KindUnavailable (the hub failed or the transfer was interrupted: the
// partial file is kept and the next call resumes it), KindInvalid (checksum
// mismatch: the partial file is removed), KindCanceled (ctx ended; the
// partial file is kept). The final name never holds a partial file.
func (c *Client) Download(ctx context.Context, req Request) (Result, error) {
	if err := req.Ref.Validate(); err != nil {
		return Result{}, err
	}
	dest := filepath.Join(req.Dir, req.Ref.Name())
	if st, err := os.Stat(dest); err == nil && !req.Force {
		return Result{Path: dest, Size: st.Size(), Skipped: true}, nil
	}
	if err := os.MkdirAll(req.Dir, 0o755); err != nil {
		return Result{}, core.E(core.KindInvalid, "hub.Download", err)
	}
	wait := c.backoff
	for attempt, restarts := 0, 0; ; {
		res, err := c.attempt(ctx, req, dest)
		switch {
		case err == nil:
			return res, nil
		case errors.Is(err, errRestart) && restarts < 2:
			restarts++
			continue
		case errors.Is(err, errRestart):
			return Result{}, core.Errorf(core.KindUnavailable, "hub.Download", "%s: the hub keeps answering ranges wrongly", req.Ref)
		case core.KindOf(err) != core.KindUnavailable || attempt >= c.retries || ctx.Err() != nil:
			return Result{}, err
		}
		attempt++
		c.log.Warn("download interrupted, resuming", zap.String("file", req.Ref.String()),
			zap.Int("attempt", attempt), zap.Duration("wait", wait), zap.Error(err))
		select {
		case <-ctx.Done():
			return Result{}, core.E(core.KindCanceled, "hub.Download", ctx.Err())
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// errRestart asks Download to start again from what is on disk: the hub's
// answer to a range request did not fit the partial file, which was removed.
var errRestart = errors.New("restart the download")

// attempt makes one request and appends the body to the partial file.
func (c *Client) attempt(ctx context.Context, req Request, dest string) (Result, error) {
	const op = "hub.Download"
	partial := dest + PartialSuffix
	var offset int64
	if st, err := os.Stat(partial); err == nil {
		offset = st.Size()
	}
	resp, linked, err := c.get(ctx, req.Ref, offset)
	if err != nil {
		return Result{}, err
	}
	defer resp.Body.Close()

	total := int64(-1)
	var body io.Reader = resp.Body
	switch resp.StatusCode {
	case http.StatusOK:
		offset, total = 0, resp.ContentLength // the hub ignored the range: start over
	case http.StatusPartialContent:
		start, _, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != offset {
			os.Remove(partial)
			return Result{}, errRestart
		}
		total = size
	case http.StatusRequestedRangeNotSatisfiable:
		// The partial file may already be whole (the last attempt failed
		// after the final byte); anything else means it is not this file.
		_, _, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || size != offset {
			os.Remove(partial)
			return Result{}, errRestart
		}
		total, body = size, http.NoBody
	default:
		return Result{}, statusError(req.Ref, resp)
	}
	if total < 0 {
		if n, err := strconv.ParseInt(linked.size, 10, 64); err == nil {
			total = n
		}
	}
	want := expectedSHA256(linked.etag, resp.Header)

	h := sha256.New()
	f, err := openPartial(partial, offset, h)
	if err != nil {
		return Result{}, core.E(core.KindInvalid, op, err)
	}
	resumed := offset
	done, copyErr := copyBody(f, io.MultiWriter(f, h), body, offset, total, req.Progress)
	if err := errors.Join(copyErr, f.Sync(), f.Close()); err != nil {
		switch {
		case ctx.Err() != nil:
			return Result{}, core.Errorf(core.KindCanceled, op, "%s: stopped at %d bytes, run again to resume: %w", req.Ref, done, ctx.Err())
		case copyErr != nil:
			return Result{}, core.Errorf(core.KindUnavailable, op, "%s: interrupted at %d of %s bytes, run again to resume: %w", req.Ref, done, sizeString(total), copyErr)
		}
		return Result{}, core.E(core.KindInvalid, op, err)
	}
	if total >= 0 && done != total {
		return Result{}, core.Errorf(core.KindUnavailable, op, "%s: the hub sent %d of %d bytes, run again to resume", req.Ref, done, total)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if want != "" && got != want {
		os.Remove(partial)
		return Result{}, core.Errorf(core.KindInvalid, op, "%s: checksum mismatch: the file has sha256 %s but the hub says %s; the partial download was removed", req.Ref, got, want)
	}
	if err := os.Rename(partial, dest); err != nil {
		return Result{}, core.E(core.KindInvalid, op, err)
	}
	syncDir(filepath.Dir(dest))
	return Result{Path: dest, Size: done, SHA256: got, Verified: want != "", Resumed: resumed}, nil
}

// linkedInfo holds the X-Linked-* headers of the hub's redirect response,
// which describe the LFS file itself rather than the CDN's copy of it.
type linkedInfo struct{ etag, size string }

// get sends the request, asking for bytes from offset on when offset > 0.
func (c *Client) get(ctx context.Context, ref Ref, offset int64) (*http.Response, linkedInfo, error) {
	const op = "hub.Download"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ref.resolveURL(c.endpoint), nil)
	if err != nil {
		return nil, linkedInfo{}, core.E(core.KindInvalid, op, err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != "" {
		// net/http drops this header when a redirect leaves the hub's host.
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	var linked linkedInfo
	hc := *c.http
	hc.CheckRedirect = func(next *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if r := next.Response; r != nil {
			if v := r.Header.Get("X-Linked-Etag"); v != "" {
				linked.etag = v
			}
			if v := r.Header.Get("X-Linked-Size"); v != "" {
				linked.size = v
			}
		}
		return nil
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, linked, core.E(core.KindCanceled, op, ctx.Err())
		}
		return nil, linked, core.Errorf(core.KindUnavailable, op, "%s: %w", ref, err)
	}
	return resp, linked, nil
}

// openPartial opens the partial file for appending at offset, feeding the
// bytes already there to h so the checksum covers the whole file.
func openPartial(path string, offset int64, h hash.Hash) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(offset); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, offset)); err != nil {
		f.Close()
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// copyBody copies body to w, reporting progress, and returns the number of
// bytes now in the file.
func copyBody(f *os.File, w io.Writer, body io.Reader, done, total int64, progress func(Progress)) (int64, error) {
	if progress != nil {
		progress(Progress{Done: done, Total: total})
	}
	buf := make([]byte, 256<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return done, fmt.Errorf("write %s: %w", f.Name(), werr)
			}
			done += int64(n)
			if progress != nil {
				progress(Progress{Done: done, Total: total})
			}
		}
		if err == io.EOF {
			return done, nil
		}
		if err != nil {
			return done, err
		}
	}
}

// expectedSHA256 returns the checksum the hub published, or "" when it did
// not publish a SHA-256 (non-LFS files carry a git SHA-1; CDNs their own
// tags). The redirect's X-Linked-Etag describes the file and wins.
func expectedSHA256(linked string, h http.Header) string {
	for _, v := range []string{linked, h.Get("X-Linked-Etag"), h.Get("ETag")} {
		v = strings.Trim(strings.TrimPrefix(strings.TrimSpace(v), "W/"), `"`)
		if len(v) == 64 {
			if _, err := hex.DecodeString(v); err == nil {
				return strings.ToLower(v)
			}
		}
	}
	return ""
}

// parseContentRange parses "bytes START-END/SIZE" or "bytes */SIZE" (start
// and end are -1 then).
func parseContentRange(s string) (start, end, size int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, sz, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	size, err := strconv.ParseInt(sz, 10, 64)
	if err != nil || size < 0 {
		return 0, 0, 0, false
	}
	if rng == "*" {
		return -1, -1, size, true
	}
	a, b, found := strings.Cut(rng, "-")
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if !found || err1 != nil || err2 != nil || start < 0 || end < start || end >= size {
		return 0, 0, 0, false
	}
	return start, end, size, true
}

// statusError classifies a failed response, quoting the hub's own message
// (X-Error-Message) when it sent one.
func statusError(ref Ref, resp *http.Response) error {
	const op = "hub.Download"
	msg := resp.Header.Get("X-Error-Message")
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return core.Errorf(core.KindNotFound, op, "%s: not found on the hub (404: %s); check the repository, file name and revision", ref, msg)
	case http.StatusUnauthorized:
		return core.Errorf(core.KindUnauthenticated, op, "%s: the hub wants a token (401: %s); set HF_TOKEN for gated or private repositories", ref, msg)
	case http.StatusForbidden:
		return core.Errorf(core.KindPermission, op, "%s: access denied (403: %s); accept the model's terms on the hub with the account of your HF_TOKEN", ref, msg)
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusInternalServerError:
		return core.Errorf(core.KindUnavailable, op, "%s: the hub answered %d: %s", ref, resp.StatusCode, msg)
	}
	return core.Errorf(core.KindInvalid, op, "%s: the hub answered %d: %s", ref, resp.StatusCode, msg)
}

func sizeString(n int64) string {
	if n < 0 {
		return "?"
	}
	return strconv.FormatInt(n, 10)
}

// syncDir makes a rename durable; failure only weakens durability, so it is
// ignored (some file systems cannot sync directories).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
