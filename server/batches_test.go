package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/pensieve-llm/pensieve/engine/enginetest"
	"github.com/pensieve-llm/pensieve/server"
)

// batchOf builds a create body; each entry is custom_id → params JSON.
func batchOf(entries ...[2]string) string {
	var parts []string
	for _, e := range entries {
		parts = append(parts, fmt.Sprintf(`{"custom_id":%q,"params":%s}`, e[0], e[1]))
	}
	return `{"requests":[` + strings.Join(parts, ",") + `]}`
}

func params(model string, maxTokens int) string {
	return fmt.Sprintf(`{"model":%q,"max_tokens":%d,"temperature":0,"messages":[{"role":"user","content":"hi"}]}`, model, maxTokens)
}

// createBatch posts a batch and returns its id, checking the creation
// answer (checklist 60).
func createBatch(t *testing.T, f *fixture, body string, n int) string {
	t.Helper()
	res, b := f.do(t, http.MethodPost, "/v1/messages/batches", body, nil)
	if res.StatusCode != 200 {
		t.Fatalf("create: %d %s", res.StatusCode, b)
	}
	var mb struct {
		ID               string         `json:"id"`
		Type             string         `json:"type"`
		ProcessingStatus string         `json:"processing_status"`
		RequestCounts    map[string]int `json:"request_counts"`
		ResultsURL       *string        `json:"results_url"`
	}
	if err := json.Unmarshal(b, &mb); err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, v := range mb.RequestCounts {
		sum += v
	}
	if !strings.HasPrefix(mb.ID, "msgbatch_") || mb.Type != "message_batch" || mb.ProcessingStatus != "in_progress" ||
		sum != n || mb.ResultsURL != nil {
		t.Errorf("created batch = %s", b)
	}
	return mb.ID
}

// waitEnded polls the batch until it has ended.
func waitEnded(t *testing.T, c anthropic.Client, id string) *anthropic.MessageBatch {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := c.Messages.Batches.Get(context.Background(), id, anthropic.MessageBatchGetParams{})
		if err != nil {
			t.Fatal(err)
		}
		if b.ProcessingStatus == "ended" {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch did not end: %+v", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBatchLifecycle(t *testing.T) {
	f := start(t, server.Config{BatchConcurrency: 2}, []server.Model{engineModel(t, "m", reply, enginetest.ModelConfig{})})
	c := f.client()
	ctx := context.Background()
	id := createBatch(t, f, batchOf(
		[2]string{"q-1", params("m", 100)},
		[2]string{"q-2", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`},
		[2]string{"q-3", params("llama-9", 10)},
		[2]string{"q-4", params("claude-haiku-4-5", 100)},
	), 4)
	b := waitEnded(t, c, id)
	rc := b.RequestCounts
	if rc.Succeeded != 2 || rc.Errored != 2 || rc.Processing != 0 || b.EndedAt.IsZero() {
		t.Errorf("ended batch = %+v", b)
	}
	if want := f.ts.URL + "/v1/messages/batches/" + id + "/results"; b.ResultsURL != want {
		t.Errorf("results_url = %q, want %q", b.ResultsURL, want)
	}

	res, body := f.do(t, http.MethodGet, "/v1/messages/batches/"+id+"/results", "", nil)
	if ct := res.Header.Get("Content-Type"); ct != "application/x-jsonl" {
		t.Errorf("results Content-Type = %q", ct)
	}
	if !bytes.HasSuffix(body, []byte("\n")) || bytes.Contains(body, []byte("\n\n")) || bytes.Count(body, []byte("\n")) != 4 {
		t.Errorf("results are not 4 JSON lines:\n%s", body)
	}

	stream := c.Messages.Batches.ResultsStreaming(ctx, id, anthropic.MessageBatchResultsParams{})
	defer stream.Close()
	got := map[string]string{}
	for stream.Next() {
		r := stream.Current()
		switch r.Result.Type {
		case "succeeded":
			m := r.Result.Message
			if textOf(&m) != reply || m.Usage.ServiceTier != "batch" {
				t.Errorf("%s: text %q, tier %q", r.CustomID, textOf(&m), m.Usage.ServiceTier)
			}
			got[r.CustomID] = "succeeded"
		case "errored":
			got[r.CustomID] = "errored " + string(r.Result.Error.Error.Type) + ": " + r.Result.Error.Error.Message
		default:
			got[r.CustomID] = r.Result.Type
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"q-1": "succeeded",
		"q-2": "errored invalid_request_error: max_tokens: Field required",
		"q-3": "errored not_found_error: model: llama-9",
		"q-4": "succeeded",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}

	pager := c.Messages.Batches.ListAutoPaging(ctx, anthropic.MessageBatchListParams{Limit: anthropic.Int(1)})
	var ids []string
	for pager.Next() {
		ids = append(ids, pager.Current().ID)
	}
	if err := pager.Err(); err != nil || len(ids) != 1 || ids[0] != id {
		t.Errorf("list = %v, %v", ids, err)
	}
	del, err := c.Messages.Batches.Delete(ctx, id, anthropic.MessageBatchDeleteParams{})
	if err != nil || del.ID != id || del.Type != "message_batch_deleted" {
		t.Fatalf("delete = %+v, %v", del, err)
	}
	res, body = f.do(t, http.MethodGet, "/v1/messages/batches/"+id, "", nil)
	checkError(t, res, body, 404, "not_found_error", "message batch")
}

func TestBatchCancel(t *testing.T) {
	gen := &scriptGenerator{reply: strings.Repeat("z", 200), delay: 5 * time.Millisecond}
	f := start(t, server.Config{}, []server.Model{testModel("m", gen)})
	c := f.client()
	id := createBatch(t, f, batchOf(
		[2]string{"a", params("m", 200)}, [2]string{"b", params("m", 200)},
		[2]string{"c", params("m", 200)}, [2]string{"d", params("m", 200)},
	), 4)

	res, body := f.do(t, http.MethodDelete, "/v1/messages/batches/"+id, "", nil)
	checkError(t, res, body, 400, "invalid_request_error", "message batch")
	res, body = f.do(t, http.MethodGet, "/v1/messages/batches/"+id+"/results", "", nil)
	checkError(t, res, body, 400, "invalid_request_error", "message batch")

	b, err := c.Messages.Batches.Cancel(context.Background(), id, anthropic.MessageBatchCancelParams{})
	if err != nil {
		t.Fatal(err)
	}
	if (b.ProcessingStatus != "canceling" && b.ProcessingStatus != "ended") || b.CancelInitiatedAt.IsZero() {
		t.Errorf("after cancel = %+v", b)
	}
	b = waitEnded(t, c, id)
	if b.RequestCounts.Canceled != 4 {
		t.Errorf("counts = %+v, want 4 canceled", b.RequestCounts)
	}
}

func TestBatchExpiry(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	gen := &scriptGenerator{reply: "x", first: time.Hour} // runs until canceled
	f := start(t, server.Config{}, []server.Model{testModel("m", gen)}, server.WithClock(clock.now))
	c := f.client()
	id := createBatch(t, f, batchOf([2]string{"a", params("m", 5)}, [2]string{"b", params("m", 5)}, [2]string{"c", params("m", 5)}), 3)
	b, err := c.Messages.Batches.Get(context.Background(), id, anthropic.MessageBatchGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.ExpiresAt.Sub(b.CreatedAt); got != 24*time.Hour {
		t.Errorf("expires_at - created_at = %v", got)
	}
	clock.advance(25 * time.Hour)
	if _, err := c.Messages.Batches.Cancel(context.Background(), id, anthropic.MessageBatchCancelParams{}); err != nil {
		t.Fatal(err)
	}
	b = waitEnded(t, c, id)
	if rc := b.RequestCounts; rc.Expired != 2 || rc.Canceled != 1 {
		t.Errorf("counts = %+v, want 2 expired and the running one canceled", rc)
	}
	_, body := f.do(t, http.MethodGet, "/v1/messages/batches/"+id+"/results", "", nil)
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		var l struct {
			Result struct {
				Type string `json:"type"`
			} `json:"result"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatal(err)
		}
		types = append(types, l.Result.Type)
	}
	sort.Strings(types)
	if diff := cmp.Diff([]string{"canceled", "expired", "expired"}, types); diff != "" {
		t.Errorf("result types (-want +got):\n%s", diff)
	}
}

func TestBatchCreateValidation(t *testing.T) {
	f := start(t, server.Config{BatchBodyLimit: 2048}, []server.Model{testModel("m", &scriptGenerator{reply: "x"})})
	tests := []struct {
		name, body string
		status     int
		typ        string
	}{
		{"duplicate custom_id", batchOf([2]string{"a", params("m", 5)}, [2]string{"a", params("m", 5)}), 400, "invalid_request_error"},
		{"empty", `{"requests":[]}`, 400, "invalid_request_error"},
		{"bad custom_id", batchOf([2]string{"a b", params("m", 5)}), 400, "invalid_request_error"},
		{"not JSON", `{"requests":`, 400, "invalid_request_error"},
		{"over the batch body limit", batchOf([2]string{"a", `{"pad":"` + strings.Repeat("x", 3000) + `"}`}), 413, "request_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := f.do(t, http.MethodPost, "/v1/messages/batches", tt.body, nil)
			checkError(t, res, body, tt.status, tt.typ, "")
		})
	}
	res, body := f.do(t, http.MethodGet, "/v1/messages/batches/msgbatch_nope", "", nil)
	checkError(t, res, body, 404, "not_found_error", "message batch msgbatch_nope")
}
