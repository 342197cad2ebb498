// Package metal is Pensieve's Apple GPU backend: it implements core.Backend on
// Metal through purego (no cgo). Device code builds only on darwin; on every
// other platform New fails with a clear error naming the platform.
package metal
