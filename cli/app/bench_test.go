package app

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBenchJSON(t *testing.T) {
	isolateLocal(t)
	path := fixtureModel(t, "fx-llama-q8_0.gguf")
	out, stderr, err := execCLI(t, "bench", "--model", path, "--threads", "1", "--prompt", "16", "--gen", "8", "--repeat", "2", "--json")
	if err != nil {
		t.Fatalf("bench: %v (stderr %q)", err, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	for _, k := range []string{"prefill_tps", "decode_tps", "load_s"} {
		v, ok := got[k].(float64)
		if !ok || v <= 0 {
			t.Errorf("%s = %v, want a positive number", k, got[k])
		}
	}
	if runs, ok := got["decode_tps_runs"].([]any); !ok || len(runs) != 2 {
		t.Errorf("decode_tps_runs = %v, want 2 rates", got["decode_tps_runs"])
	}
	if got["prompt_tokens"] != 16.0 || got["gen_tokens"] != 8.0 || got["threads"] != 1.0 {
		t.Errorf("prompt_tokens, gen_tokens, threads = %v, %v, %v; want 16, 8, 1", got["prompt_tokens"], got["gen_tokens"], got["threads"])
	}
}

func TestBenchBandwidth(t *testing.T) {
	isolateLocal(t)
	path := fixtureModel(t, "fx-llama-q8_0.gguf")
	out, stderr, err := execCLI(t, "bench", "--model", path, "--threads", "2", "--prompt", "8", "--gen", "4",
		"--bandwidth", "--bandwidth-bytes", "1048576", "--json")
	if err != nil {
		t.Fatalf("bench: %v (stderr %q)", err, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	for _, k := range []string{"read_gbs", "decode_bw_frac", "file_bytes"} {
		if v, ok := got[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v, want a positive number", k, got[k])
		}
	}
}

func TestBenchErrors(t *testing.T) {
	isolateLocal(t)
	path := fixtureModel(t, "fx-llama-f32.gguf")
	tests := []struct {
		name     string
		args     []string
		contains string
	}{
		{"zero gen", []string{"bench", "--model", path, "--gen", "0"}, "at least 1"},
		{"beyond context", []string{"bench", "--model", path, "--prompt", "250", "--gen", "48"}, "exceed the model's context of 256"},
		{"no model", []string{"bench"}, "--model FILE is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := execCLI(t, tt.args...)
			if ExitCode(err) != ExitUsage {
				t.Fatalf("exit code %d (%v), want %d", ExitCode(err), err, ExitUsage)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q does not contain %q", err, tt.contains)
			}
		})
	}
}
