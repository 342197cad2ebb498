package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pensieve-llm/pensieve/cli/internal/soak"
)

// relStreamResult is what one streaming client saw.
type relStreamResult struct {
	err      error     // framing or grammar violation, error event, or transport failure
	done     bool      // ended with message_stop
	deltas   int       // content_block_delta events read
	lastRead time.Time // when the last event arrived
	started  time.Time
}

// relStream posts a streaming request and checks every event with the
// strict checker until the stream ends. firstDelta (if not nil) is called
// once, at the first content_block_delta.
func relStream(ctx context.Context, url, apiKey, body string, firstDelta func()) relStreamResult {
	res := relStreamResult{started: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/messages", strings.NewReader(body))
	if err != nil {
		res.err = err
		return res
	}
	req.Header.Set("Content-Type", "application/json")
	if apiKey != "" {
		req.Header.Set("x-api-key", apiKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		res.err = err
		return res
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		res.err = fmt.Errorf("status %d: %s", resp.StatusCode, b)
		return res
	}
	er, c := soak.NewEventReader(resp.Body), soak.NewChecker()
	for {
		ev, err := er.Next()
		if err == io.EOF {
			res.err, res.done = c.Finish(), c.Done()
			return res
		}
		if err == nil {
			err = c.Feed(ev)
		}
		if err != nil {
			res.err = err
			return res
		}
		res.lastRead = time.Now()
		if ev.Name == "content_block_delta" {
			res.deltas++
			if res.deltas == 1 && firstDelta != nil {
				firstDelta()
			}
		}
	}
}

func relStreamBody(model string, maxTokens int, prompt string) string {
	return fmt.Sprintf(`{"model":%q,"max_tokens":%d,"stream":true,"messages":[{"role":"user","content":%q}]}`, model, maxTokens, prompt)
}

// TestReliabilityShutdown runs the built binary and checks how it stops.
func TestReliabilityShutdown(t *testing.T) {
	model := fixtureModel(t, "fx-llama-q4_0.gguf")
	bin := relBuild(t)

	// SIGTERM while streams run and wait for the one slot: every stream
	// still ends with message_stop, and the process exits 0 within 20 s.
	t.Run("SIGTERM drains streams", func(t *testing.T) {
		srv := relServe(t, bin, relEnv(t), "--model", model, "--slots", "1")
		const n = 6
		results := make([]relStreamResult, n)
		first := make(chan struct{})
		var once sync.Once
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				results[i] = relStream(context.Background(), srv.url, "", relStreamBody("fx-llama-q4_0", 200, fmt.Sprintf("story %d", i)),
					func() { once.Do(func() { close(first) }) })
			})
		}
		select {
		case <-first:
		case <-time.After(30 * time.Second):
			t.Fatal("no stream produced a delta within 30 s")
		}
		signaled := time.Now()
		srv.signal(t, syscall.SIGTERM)
		code, exited := srv.wait(20 * time.Second)
		wg.Wait()
		if !exited || code != 0 {
			t.Errorf("after SIGTERM: exited %v with code %d, want exit 0 within 20 s", exited, code)
		} else {
			t.Logf("exited 0 %v after SIGTERM", time.Since(signaled).Round(time.Millisecond))
		}
		after := 0
		for i, r := range results {
			if r.err != nil || !r.done {
				t.Errorf("stream %d: %v (message_stop %v, %d deltas)", i, r.err, r.done, r.deltas)
			}
			if r.lastRead.After(signaled) {
				after++
			}
		}
		if after == 0 {
			t.Errorf("every stream had ended before SIGTERM; the test proved nothing")
		}
		t.Logf("%d of %d streams finished after SIGTERM", after, n)
		if !strings.Contains(srv.out.String(), `"msg":"stopped"`) {
			t.Errorf("no \"stopped\" log line after a graceful shutdown")
		}
	})

	// The first SIGINT starts a graceful shutdown that waits for a request
	// in flight (here: an upload that stalls); a second SIGINT exits at once.
	t.Run("second SIGINT exits at once", func(t *testing.T) {
		srv := relServe(t, bin, relEnv(t, "PENSIEVE_SERVER_SHUTDOWN_TIMEOUT=20s"), "--model", model)
		conn := relStalledUpload(t, srv.url)
		defer conn.Close()
		srv.signal(t, syscall.SIGINT)
		if code, exited := srv.wait(time.Second); exited {
			t.Fatalf("the first SIGINT ended the process at once (code %d) although a request was in flight", code)
		}
		second := time.Now()
		srv.signal(t, syscall.SIGINT)
		code, exited := srv.wait(3 * time.Second)
		if !exited {
			t.Fatalf("still running 3 s after the second SIGINT")
		}
		t.Logf("exited with code %d %v after the second SIGINT", code, time.Since(second).Round(time.Millisecond))
	})

	// A second serve on the address of a running one fails at once with a
	// non-zero status and an error naming the address; the first keeps
	// serving.
	t.Run("busy port", func(t *testing.T) {
		first := relServe(t, bin, relEnv(t), "--model", model)
		addr := strings.TrimPrefix(first.url, "http://")
		second := relStartProc(t, bin, relEnv(t), "serve", "--model", model, "--addr", addr)
		code, exited := second.wait(20 * time.Second)
		if !exited || code == 0 {
			t.Fatalf("second serve on %s: exited %v, code %d; want a non-zero exit", addr, exited, code)
		}
		out := second.out.String()
		if !strings.Contains(out, addr) || !strings.Contains(out, "address already in use") {
			t.Errorf("second serve's error does not name %s and the cause:\n%s", addr, out)
		}
		resp, err := http.Get(first.url + "/health")
		if err != nil {
			t.Fatalf("first server after the clash: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("first server /health: %d", resp.StatusCode)
		}
	})
}

// relStalledUpload opens a connection to url and sends a POST
// /v1/messages whose body stops short of its Content-Length, then waits
// until the server counts it in flight. The caller closes the connection.
func relStalledUpload(t *testing.T, url string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	var req bytes.Buffer
	fmt.Fprintf(&req, "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"model\":")
	if _, err := conn.Write(req.Bytes()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := relScrape(url, "")
		if err == nil && m["pensieve_inflight_requests"] >= 2 { // the upload and the scrape
			return conn
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stalled upload is not in flight after 10 s (%v, %v)", m["pensieve_inflight_requests"], err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// relScrape reads url/metrics.
func relScrape(url, apiKey string) (soak.Metrics, error) {
	req, err := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	if apiKey != "" {
		req.Header.Set("x-api-key", apiKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: status %d", resp.StatusCode)
	}
	return soak.ParseMetrics(resp.Body)
}
