package engine

import "go.uber.org/zap"

// Option configures an Engine.
type Option func(*options)

type options struct {
	log          *zap.Logger
	maxQueue     int
	slots        int
	positions    int // 0 = derive from the model
	batchSize    int
	prefillChunk int
}

// Defaults used when an option is not given.
const (
	DefaultSlots        = 4
	DefaultMaxQueue     = 64
	DefaultBatchSize    = 512
	DefaultPrefillChunk = 256
	DefaultContext      = 4096
)

func defaultOptions() options {
	return options{
		log:          zap.NewNop(),
		maxQueue:     DefaultMaxQueue,
		slots:        DefaultSlots,
		batchSize:    DefaultBatchSize,
		prefillChunk: DefaultPrefillChunk,
	}
}

// WithLogger sets the engine's logger. The default discards all output.
// The engine logs request lifecycle events at Debug level only.
func WithLogger(l *zap.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// WithMaxQueue bounds the number of requests waiting for a free slot; past
// it Generate fails at once with core.KindOverloaded. Default
// DefaultMaxQueue; must be ≥ 1.
func WithMaxQueue(n int) Option { return func(o *options) { o.maxQueue = n } }

// WithSlots sets the number of KV cache slots, which is the number of
// sequences generated concurrently (and of prompts kept for prefix reuse).
// Default DefaultSlots; must be ≥ 1.
func WithSlots(n int) Option { return func(o *options) { o.slots = n } }

// WithContext sets how many positions (tokens) each slot holds: the limit
// on prompt plus max_tokens of one request. Together with WithSlots it
// fixes the KV cache's memory budget. Default: the model's context length,
// capped at DefaultContext; it may not exceed the model's context length.
func WithContext(positions int) Option { return func(o *options) { o.positions = positions } }

// WithBatchSize bounds the tokens evaluated in one forward pass (decode
// tokens plus prefill chunks). Default DefaultBatchSize; must be ≥ 1.
func WithBatchSize(n int) Option { return func(o *options) { o.batchSize = n } }

// WithPrefillChunk bounds how many prompt tokens of one sequence go into a
// single forward pass, so one long prompt cannot monopolise a step.
// Default DefaultPrefillChunk (at most the batch size); must be ≥ 1.
func WithPrefillChunk(n int) Option { return func(o *options) { o.prefillChunk = n } }
