// Package core holds the contracts Pensieve's modules speak through: token
// ids and the Tokenizer, chat templates, the Model and KVCache contracts that
// batched prefill and decode go through, the compute Backend a GPU can
// implement, logit Constraints, the Generator (engine) contract with its event
// stream, and the classified Error type.
//
// core is layer 1: it imports only the standard library, does no I/O, starts
// no goroutines and logs nothing. Each interface's doc comment is its whole
// contract: who owns each buffer, whether concurrent use is allowed, and how a
// stream ends.
package core
