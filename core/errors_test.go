package core

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestErrorKinds(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"direct", E(KindInvalid, "op", errors.New("bad")), KindInvalid},
		{"wrapped", fmt.Errorf("outer: %w", E(KindOverloaded, "engine", nil)), KindOverloaded},
		{"context", fmt.Errorf("x: %w", context.Canceled), KindCanceled},
		{"plain", errors.New("boom"), KindInternal},
		{"outermost wins", E(KindNotFound, "a", E(KindInvalid, "b", nil)), KindNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.err); got != tt.want {
				t.Errorf("KindOf = %v, want %v", got, tt.want)
			}
			if tt.want != KindInternal && tt.want != KindCanceled && !errors.Is(tt.err, tt.want) {
				t.Errorf("errors.Is(%v, %v) = false", tt.err, tt.want)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Kind: KindNotFound}, "not_found"},
		{&Error{Kind: KindNotFound, Op: "get"}, "get: not_found"},
		{&Error{Kind: KindNotFound, Err: errors.New("x")}, "x"},
		{&Error{Kind: KindNotFound, Op: "get", Err: errors.New("x")}, "get: x"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	if got := Kind(200).String(); got != "kind(200)" {
		t.Errorf("unknown kind = %q", got)
	}
}
