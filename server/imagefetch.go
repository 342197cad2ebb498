package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/pensieve-llm/pensieve/claude"
	"github.com/pensieve-llm/pensieve/core"
)

// ImageURLs configures image blocks whose source is a URL ({"type":"url"}).
// By default they are refused; with Fetch the server downloads them and
// hands the request on as if the image had been sent as base64.
type ImageURLs struct {
	// Fetch enables downloading. Only http and https URLs are fetched, and
	// only from public addresses: every address dialled (redirects
	// included) that is loopback, private, link-local, unspecified,
	// multicast or otherwise not globally routable is refused. The zero
	// value refuses every URL image with 400 and dials nothing.
	Fetch bool
	// MaxBytes bounds one image's size; a larger one is refused (the
	// partial body is discarded). Default 20 MiB.
	MaxBytes int64
	// Timeout bounds one fetch, from the connection to the last byte,
	// redirects included. Default 10 s.
	Timeout time.Duration
}

// Defaults of ImageURLs.
const (
	DefaultImageURLMaxBytes = 20 << 20
	DefaultImageURLTimeout  = 10 * time.Second
)

// maxImageRedirects is how many redirects one fetch follows.
const maxImageRedirects = 3

// imageMediaTypes are the image types the Messages API accepts.
var imageMediaTypes = []string{"image/jpeg", "image/png", "image/gif", "image/webp"}

// Reasons a fetch is refused, as the client reads them after the host.
var (
	errNotPublic = errors.New("the host resolves to a loopback, private, link-local or otherwise non-public address, which is never fetched")
	errRedirects = fmt.Errorf("more than %d redirects", maxImageRedirects)
)

// imageFetcher downloads URL images under the ImageURLs policy. It is safe
// for concurrent use.
type imageFetcher struct {
	maxBytes int64
	timeout  time.Duration
	client   *http.Client
	// allowed reports whether an address may be dialled; publicAddr, but
	// tests inside the package replace it to reach a loopback server.
	allowed func(netip.Addr) bool
}

func newImageFetcher(cfg ImageURLs) *imageFetcher {
	f := &imageFetcher{maxBytes: cfg.MaxBytes, timeout: cfg.Timeout, allowed: publicAddr}
	// The address check runs in Control, on the resolved address of every
	// connection attempt: a name cannot resolve to one address when
	// checked and another when dialled.
	dialer := &net.Dialer{Timeout: cfg.Timeout, Control: f.control}
	f.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                  nil, // a proxy would dial on our behalf, past the check
			DialContext:            dialer.DialContext,
			TLSHandshakeTimeout:    cfg.Timeout,
			ResponseHeaderTimeout:  cfg.Timeout,
			MaxResponseHeaderBytes: 64 << 10,
			DisableKeepAlives:      true, // nothing outlives a fetch
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxImageRedirects {
				return errRedirects
			}
			return f.checkURL(req.URL)
		},
	}
	return f
}

// control refuses a connection to an address the policy does not allow.
func (f *imageFetcher) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !f.allowed(ap.Addr()) {
		return errNotPublic
	}
	return nil
}

// nonPublic lists ranges that are not reachable on the public internet and
// that netip's predicates do not cover.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: may reach any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local NAT64
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4: embeds any IPv4 address
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
}

// publicAddr reports whether a is a globally routable unicast address:
// not loopback, private (RFC 1918, fc00::/7), link-local (169.254/16 with
// the cloud metadata address, fe80::/10), unspecified, multicast, nor one
// of nonPublic. IPv4-mapped IPv6 addresses are judged as IPv4.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// checkURL checks what can be checked before dialling: the scheme, and a
// host that is an allowed IP literal or a real host name. Numeric host
// spellings that resolvers read as IPv4 addresses ("2130706433",
// "0177.0.0.1", "0x7f.1") are refused rather than resolved.
func (f *imageFetcher) checkURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("only http and https URLs are fetched, not %q", u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return errors.New("the URL has no host")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if !f.allowed(a) {
			return errNotPublic
		}
		return nil
	}
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	if last := labels[len(labels)-1]; isNumericLabel(last) {
		return errors.New("the host is neither an IP address nor a host name")
	}
	return nil
}

// isNumericLabel reports whether s is a decimal, octal or hexadecimal
// number, which no top-level domain is.
func isNumericLabel(s string) bool {
	digits := s
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		digits = s[2:]
		return strings.Trim(digits, "0123456789abcdefABCDEF") == ""
	}
	return digits == "" || strings.Trim(digits, "0123456789") == ""
}

// fetch downloads one image and returns its media type and bytes.
func (f *imageFetcher) fetch(ctx context.Context, u *url.URL) (mediaType string, data []byte, err error) {
	if err := f.checkURL(u); err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", nil, errors.New("the URL is not valid")
	}
	req.Header.Set("Accept", strings.Join(imageMediaTypes, ", "))
	req.Header.Set("User-Agent", "pensieve-image-fetch")
	res, err := f.client.Do(req)
	if err != nil {
		return "", nil, f.reason(ctx, err)
	}
	defer res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return "", nil, fmt.Errorf("the server answered HTTP %d", res.StatusCode)
	}
	mediaType, _, err = mime.ParseMediaType(res.Header.Get("Content-Type"))
	if err != nil || !slices.Contains(imageMediaTypes, mediaType) {
		return "", nil, fmt.Errorf("the content type is %q, not one of %s", res.Header.Get("Content-Type"), strings.Join(imageMediaTypes, ", "))
	}
	tooBig := fmt.Errorf("the image is larger than %d bytes", f.maxBytes)
	if res.ContentLength > f.maxBytes {
		return "", nil, tooBig
	}
	data, err = io.ReadAll(io.LimitReader(res.Body, f.maxBytes+1))
	switch {
	case err != nil:
		return "", nil, f.reason(ctx, err)
	case int64(len(data)) > f.maxBytes:
		return "", nil, tooBig
	}
	if sniffed := http.DetectContentType(data); sniffed != mediaType {
		return "", nil, fmt.Errorf("the content is not a %s image", mediaType)
	}
	return mediaType, data, nil
}

// reason turns a transport failure into what the client may read: the
// policy's refusals as they are, the rest by kind only, so that no
// address behind the host the client named is revealed.
func (f *imageFetcher) reason(ctx context.Context, err error) error {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, errNotPublic), errors.Is(err, errRedirects):
		return unwrapURLError(err)
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Errorf("the fetch timed out after %s", f.timeout)
	case errors.As(err, &dnsErr):
		return errors.New("the host name could not be resolved")
	}
	if inner := unwrapURLError(err); strings.HasPrefix(inner.Error(), "only http") {
		return inner // a redirect to another scheme
	}
	return errors.New("the connection failed")
}

// unwrapURLError strips *url.Error and *net.OpError wrappers, which name
// the dialled address.
func unwrapURLError(err error) error {
	for {
		var ue *url.Error
		var oe *net.OpError
		switch {
		case errors.As(err, &ue) && ue.Err != nil:
			err = ue.Err
		case errors.As(err, &oe) && oe.Err != nil:
			err = oe.Err
		default:
			return err
		}
	}
}

// resolveImageURLs applies the ImageURLs policy to every image block with
// a URL source in req (message content, tool results, content documents):
// without Fetch it refuses the request; with it, each image is downloaded
// and its source replaced by the base64 source of the bytes.
func (s *Server) resolveImageURLs(ctx context.Context, req *claude.MessageRequest) error {
	for i := range req.Messages {
		if err := s.resolveBlocks(ctx, req.Messages[i].Content, fmt.Sprintf("messages.%d.content", i)); err != nil {
			return err
		}
	}
	return nil
}

// resolveBlocks resolves the URL images of blocks in place; path names
// blocks in errors, as "messages.0.content".
func (s *Server) resolveBlocks(ctx context.Context, blocks []claude.Block, path string) error {
	for j, blk := range blocks {
		at := fmt.Sprintf("%s.%d", path, j)
		switch b := blk.(type) {
		case claude.ImageBlock:
			if b.Source.Type != claude.SourceURL {
				continue
			}
			src, err := s.fetchImage(ctx, b.Source.URL, at)
			if err != nil {
				return err
			}
			b.Source = src
			blocks[j] = b
		case claude.ToolResultBlock:
			if err := s.resolveBlocks(ctx, b.Content, at+".content"); err != nil {
				return err
			}
		case claude.DocumentBlock:
			if b.Source.Type == claude.SourceContent {
				if err := s.resolveBlocks(ctx, b.Source.Content, at+".source.content"); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// fetchImage fetches one URL image as a base64 source.
func (s *Server) fetchImage(ctx context.Context, raw, path string) (claude.Source, error) {
	const op = "server.imageURL"
	if s.images == nil {
		return claude.Source{}, core.Errorf(core.KindInvalid, op,
			"%s.source: image URLs are not fetched by this server; send the image as base64, or enable fetching with server.image_urls.fetch", path)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return claude.Source{}, core.Errorf(core.KindInvalid, op, "%s.source.url: not a valid URL", path)
	}
	mediaType, data, err := s.images.fetch(ctx, u)
	if err != nil {
		return claude.Source{}, core.Errorf(core.KindInvalid, op, "%s.source.url: fetching the image from %q failed: %v", path, u.Hostname(), err)
	}
	return claude.Source{Type: claude.SourceBase64, MediaType: mediaType, Data: base64.StdEncoding.EncodeToString(data)}, nil
}
