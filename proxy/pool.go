package proxy

import (
	"context"
	"net/http"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// backend is one upstream with its live state.
type backend struct {
	cfg         Upstream
	outstanding atomic.Int64 // requests in flight

	mu          sync.Mutex // guards the fields below
	healthy     bool       // last active check result (true until a check fails)
	failures    int        // consecutive failed requests
	ejectedTill time.Time  // passive ejection
}

// available reports whether the backend may take a request now.
func (b *backend) available(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.healthy && now.After(b.ejectedTill)
}

// report records the outcome of a request; after ejectAfter consecutive
// failures the backend is ejected for ejectFor.
func (b *backend) report(ok bool, ejectAfter int, ejectFor time.Duration, now time.Time) (ejected bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok {
		b.failures = 0
		return false
	}
	b.failures++
	if b.failures >= ejectAfter {
		b.failures = 0
		b.ejectedTill = now.Add(ejectFor)
		return true
	}
	return false
}

func (b *backend) setHealthy(h bool) (changed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	changed = b.healthy != h
	b.healthy = h
	return changed
}

// pool routes model names to backends and balances among them.
type pool struct {
	backends []*backend
	byName   map[string]*backend
	routes   []Route
	aliases  map[string]string
	balance  string
	eject    Eject
	next     atomic.Uint64 // round-robin cursor
	now      func() time.Time
}

func newPool(c *Config) *pool {
	p := &pool{byName: map[string]*backend{}, routes: c.Routes, aliases: c.Aliases, balance: c.Balance, eject: c.Eject, now: time.Now}
	for _, u := range c.Upstreams {
		b := &backend{cfg: u, healthy: true}
		p.backends = append(p.backends, b)
		p.byName[u.Name] = b
	}
	return p
}

// resolve applies aliases to a model name.
func (p *pool) resolve(model string) string {
	if a, ok := p.aliases[model]; ok {
		return a
	}
	return model
}

// candidates returns the backends that may serve model, in the order to try
// them: the balancing choice first, then the others as failover.
func (p *pool) candidates(model string) []*backend {
	group := p.backends
	for _, r := range p.routes {
		if ok, _ := path.Match(r.Pattern, model); ok {
			group = make([]*backend, 0, len(r.Upstreams))
			for _, n := range r.Upstreams {
				group = append(group, p.byName[n])
			}
			break
		}
	}
	now := p.now()
	var up, down []*backend
	for _, b := range group {
		if b.available(now) {
			up = append(up, b)
		} else {
			down = append(down, b)
		}
	}
	if len(up) > 1 {
		start := 0
		switch p.balance {
		case LeastOutstanding:
			for i, b := range up {
				if b.outstanding.Load() < up[start].outstanding.Load() {
					start = i
				}
			}
		default:
			start = int(p.next.Add(1)-1) % len(up)
		}
		up = append(up[start:], up[:start]...)
	}
	// Unavailable backends come last: better a try than a certain failure.
	return append(up, down...)
}

// runHealthChecks probes every backend each interval until ctx ends. The
// caller owns the goroutine running it.
func (p *pool) runHealthChecks(ctx context.Context, hc HealthCheck, client *http.Client, log *zap.Logger, m *metrics) {
	if hc.Interval < 0 {
		return
	}
	t := time.NewTicker(hc.Interval)
	defer t.Stop()
	for {
		p.checkAll(ctx, hc.Timeout, client, log, m)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *pool) checkAll(ctx context.Context, timeout time.Duration, client *http.Client, log *zap.Logger, m *metrics) {
	for _, b := range p.backends {
		ok := probe(ctx, client, b.cfg, timeout)
		if b.setHealthy(ok) {
			log.Info("upstream health changed", zap.String("upstream", b.cfg.Name), zap.Bool("healthy", ok))
		}
		m.setHealthy(b.cfg.Name, ok)
	}
}

// probe sends one GET to the backend's health path.
func probe(ctx context.Context, client *http.Client, u Upstream, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.URL+u.HealthPath, nil)
	if err != nil {
		return false
	}
	if u.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+u.APIKey)
		req.Header.Set("x-api-key", u.APIKey)
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode < 300
}
