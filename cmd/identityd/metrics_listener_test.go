package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/identityd/identityd/internal/apptest"
)

// mlGet GETs url with an optional bearer; it returns the status and body,
// or 0 when nothing answers.
func mlGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// mlWait polls url until it answers want (a bound on a hang, not a speed
// requirement).
func mlWait(t *testing.T, url string, want int, done <-chan error, stderr *apptest.LogBuffer) {
	t.Helper()
	deadline := time.Now().Add(stReadyBound)
	for {
		code, body := mlGet(t, url, "")
		if code == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s answered %d %s, not %d, within %s; stderr: %s", url, code, body, want, stReadyBound, stderr.String())
		}
		select {
		case err := <-done:
			t.Fatalf("returned early: %v; stderr: %s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestServeMetricsAddr: with IDENTITY_METRICS_ADDR, `identityd serve`
// serves /metrics (behind IDENTITY_METRICS_TOKEN) and the probes there, and
// the main listener answers /metrics with 404.
func TestServeMetricsAddr(t *testing.T) {
	addr, maddr := stFreeAddr(t), stFreeAddr(t)
	env := map[string]string{"IDENTITY_DATA_DIR": t.TempDir(), "IDENTITY_ADDR": addr,
		"IDENTITY_METRICS_ADDR": maddr, "IDENTITY_METRICS_TOKEN": "scrape-token-0123456789"}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stderr := &apptest.LogBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, cfgEnv(env), io.Discard, stderr) }()
	mlWait(t, "http://"+addr+"/api/health/ready", http.StatusOK, done, stderr)
	mlWait(t, "http://"+maddr+"/api/health/ready", http.StatusOK, done, stderr)

	if code, _ := mlGet(t, "http://"+addr+"/metrics", "scrape-token-0123456789"); code != http.StatusNotFound {
		t.Errorf("main listener /metrics: %d, want 404", code)
	}
	if code, _ := mlGet(t, "http://"+maddr+"/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("metrics listener /metrics without the token: %d, want 401", code)
	}
	code, body := mlGet(t, "http://"+maddr+"/metrics", "scrape-token-0123456789")
	if code != http.StatusOK || !strings.Contains(body, `identity_http_requests_total{method="GET",route="/api/health/ready",status="200"}`) {
		t.Errorf("metrics listener /metrics: %d, want 200 with the main listener's requests:\n%.2000s", code, body)
	}
	if code, body := mlGet(t, "http://"+maddr+"/api/health/ready", ""); code != http.StatusOK || !strings.Contains(body, `"worker"`) {
		t.Errorf("ready on the metrics listener: %d %s, want 200 naming the in-process worker", code, body)
	}
	if code, _ := mlGet(t, "http://"+maddr+"/api/health/live", ""); code != http.StatusOK {
		t.Errorf("live on the metrics listener: %d", code)
	}
	if code, _ := mlGet(t, "http://"+maddr+"/.well-known/openid-configuration", ""); code != http.StatusNotFound {
		t.Errorf("the metrics listener serves only metrics and probes, got %d for discovery", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if code, _ := mlGet(t, "http://"+maddr+"/api/health/live", ""); code != 0 {
		t.Errorf("the metrics listener still answers after shutdown: %d", code)
	}
}

// TestWorkerMetricsAddr: `identityd worker` has no main listener; with
// IDENTITY_METRICS_ADDR it serves /metrics and the probes (ready naming
// the worker) there.
func TestWorkerMetricsAddr(t *testing.T) {
	maddr := stFreeAddr(t)
	env := map[string]string{"IDENTITY_DATA_DIR": t.TempDir(), "IDENTITY_ADDR": stFreeAddr(t), "IDENTITY_METRICS_ADDR": maddr}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stderr := &apptest.LogBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"worker"}, cfgEnv(env), io.Discard, stderr) }()
	mlWait(t, "http://"+maddr+"/api/health/live", http.StatusOK, done, stderr)
	if code, body := mlGet(t, "http://"+maddr+"/api/health/ready", ""); code != http.StatusOK || !strings.Contains(body, `"worker"`) {
		t.Errorf("worker ready: %d %s, want 200 naming the worker", code, body)
	}
	if code, body := mlGet(t, "http://"+maddr+"/metrics", ""); code != http.StatusOK || !strings.Contains(body, "go_goroutines") {
		t.Errorf("worker /metrics: %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("worker: %v", err)
	}
}

// TestMetricsAddrBad: an IDENTITY_METRICS_ADDR that is not host:port, or
// is the main address, stops the process naming the variable.
func TestMetricsAddrBad(t *testing.T) {
	for _, v := range []string{"nonsense", "127.0.0.1:8000"} {
		env := map[string]string{"IDENTITY_DATA_DIR": t.TempDir(), "IDENTITY_ADDR": "127.0.0.1:8000", "IDENTITY_METRICS_ADDR": v}
		err := run(t.Context(), []string{"serve"}, cfgEnv(env), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "IDENTITY_METRICS_ADDR") {
			t.Errorf("IDENTITY_METRICS_ADDR=%s: %v, want an error naming the variable", v, err)
		}
	}
}
