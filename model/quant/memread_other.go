//go:build !amd64 || purego

package quant

func sumBytes(b []byte) uint64 { return sumBytesGo(b) }
