package app

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealth(t *testing.T) {
	var status = http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		w.Write([]byte(`{"status":"ok"}`))
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	if err := New(&out, &errOut).Run([]string{"pensieve-cli", "health", "--addr", srv.URL}); err != nil {
		t.Fatalf("healthy server: %v", err)
	}
	status = http.StatusServiceUnavailable
	err := New(&out, &errOut).Run([]string{"pensieve-cli", "health", "--addr", srv.URL})
	if err == nil || ExitCode(err) != ExitRuntime {
		t.Errorf("unhealthy server: err %v, exit %d", err, ExitCode(err))
	}
}
