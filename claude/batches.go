package claude

import (
	"encoding/json"
	"regexp"
	"strconv"
	"time"
)

// Message Batches (§9). The server runs batches; this file holds their
// wire types and the validation of a create body.

// maxBatchRequests is the upper bound of requests in one batch.
const maxBatchRequests = 100_000

var customIDPattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// BatchRequest is one entry of a batch create body. Params is kept raw: it
// is decoded with DecodeRequest when the request runs, and invalid params
// become an errored result rather than failing creation (§9).
type BatchRequest struct {
	CustomID string          `json:"custom_id"`
	Params   json.RawMessage `json:"params"`
}

// BatchCreateRequest is the body of POST /v1/messages/batches.
type BatchCreateRequest struct {
	Requests []BatchRequest `json:"requests"`
}

// DecodeBatchCreate decodes and validates a batch create body: 1–100,000
// requests, each with a unique custom_id of 1–64 characters of
// [A-Za-z0-9_-] and an object params.
func DecodeBatchCreate(body []byte) (*BatchCreateRequest, error) {
	const op = "claude.DecodeBatchCreate"
	if !json.Valid(body) {
		var probe any
		return nil, badJSON(op, json.Unmarshal(body, &probe))
	}
	top, err := asObject(op, body, "")
	if err != nil {
		return nil, err
	}
	items, ok, err := top.array("requests")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, top.required("requests")
	}
	if len(items) == 0 || len(items) > maxBatchRequests {
		return nil, invalid(op, "requests", "a batch holds between 1 and %d requests, not %d", maxBatchRequests, len(items))
	}
	out := &BatchCreateRequest{Requests: make([]BatchRequest, 0, len(items))}
	seen := make(map[string]int, len(items))
	for i, raw := range items {
		o, err := asObject(op, raw, "requests."+strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		id, err := o.mustStr("custom_id")
		if err != nil {
			return nil, err
		}
		if !customIDPattern.MatchString(id) {
			return nil, invalid(op, o.at("custom_id"), "String should match pattern '^[a-zA-Z0-9_-]{1,64}$'")
		}
		if j, dup := seen[id]; dup {
			return nil, invalid(op, o.at("custom_id"), "custom_id '%s' is also used by requests.%d; custom_id values must be unique", id, j)
		}
		seen[id] = i
		params, ok := o.get("params")
		if !ok {
			return nil, o.required("params")
		}
		if jsonKind(params) != '{' {
			return nil, invalid(op, o.at("params"), "Input should be a valid dictionary")
		}
		out.Requests = append(out.Requests, BatchRequest{CustomID: id, Params: params})
	}
	return out, nil
}

// BatchStatus is a batch's processing_status.
type BatchStatus string

// Batch statuses: in_progress → canceling (after cancel) → ended.
const (
	BatchInProgress BatchStatus = "in_progress"
	BatchCanceling  BatchStatus = "canceling"
	BatchEnded      BatchStatus = "ended"
)

// BatchRequestCounts counts a batch's requests by state; the sum is always
// the number of requests.
type BatchRequestCounts struct {
	Processing int `json:"processing"`
	Succeeded  int `json:"succeeded"`
	Errored    int `json:"errored"`
	Canceled   int `json:"canceled"`
	Expired    int `json:"expired"`
}

// MessageBatch is a batch object (§9). Nil times and a nil ResultsURL are
// written as null.
type MessageBatch struct {
	ID                string             `json:"id"`   // "msgbatch_…"
	Type              string             `json:"type"` // "message_batch"
	ProcessingStatus  BatchStatus        `json:"processing_status"`
	RequestCounts     BatchRequestCounts `json:"request_counts"`
	CreatedAt         time.Time          `json:"created_at"`
	ExpiresAt         time.Time          `json:"expires_at"`
	EndedAt           *time.Time         `json:"ended_at"`
	CancelInitiatedAt *time.Time         `json:"cancel_initiated_at"`
	ArchivedAt        *time.Time         `json:"archived_at"`
	ResultsURL        *string            `json:"results_url"`
}

// NewMessageBatch returns a new in-progress batch of n requests created at
// now, expiring 24 hours later (§9).
func NewMessageBatch(n int, now time.Time) MessageBatch {
	now = now.UTC().Truncate(time.Second)
	return MessageBatch{
		ID:               NewID("msgbatch_"),
		Type:             "message_batch",
		ProcessingStatus: BatchInProgress,
		RequestCounts:    BatchRequestCounts{Processing: n},
		CreatedAt:        now,
		ExpiresAt:        now.Add(24 * time.Hour),
	}
}

// DeletedBatch is the answer to deleting a batch.
type DeletedBatch struct {
	ID   string `json:"id"`
	Type string `json:"type"` // "message_batch_deleted"
}

// BatchResultType is the type of one batch result.
type BatchResultType string

// Batch result types.
const (
	BatchSucceeded BatchResultType = "succeeded"
	BatchErrored   BatchResultType = "errored"
	BatchCanceled  BatchResultType = "canceled"
	BatchExpired   BatchResultType = "expired"
)

// BatchResult is the outcome of one batch request: Message when
// succeeded, Error when errored, nothing else otherwise.
type BatchResult struct {
	Type    BatchResultType `json:"type"`
	Message *Message        `json:"message,omitempty"`
	Error   *ErrorResponse  `json:"error,omitempty"`
}

// BatchResultLine is one line of a batch's JSONL results.
type BatchResultLine struct {
	CustomID string      `json:"custom_id"`
	Result   BatchResult `json:"result"`
}

// AppendJSONL appends line as one JSON Lines record, newline-terminated
// (§9: no blank lines, one line per custom_id).
func AppendJSONL(dst []byte, line BatchResultLine) ([]byte, error) {
	b, err := json.Marshal(line)
	if err != nil {
		return dst, err
	}
	return append(append(dst, b...), '\n'), nil
}
