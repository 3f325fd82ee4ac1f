package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A fake token endpoint that fails every fifth request: the runner must count
// successes and failures apart, classify the failures, and report sane
// percentiles.
func TestRunCountsAndClassifies(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok || id != "svc" || secret != "s3cret" || r.FormValue("grant_type") != "client_credentials" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		if n.Add(1)%5 == 0 {
			http.Error(w, `{"error":"server_error"}`, http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"t","token_type":"bearer"}`))
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"-url", srv.URL, "-scenario", "client-credentials", "-client-id", "svc",
		"-client-secret", "s3cret", "-c", "4", "-n", "200", "-warmup", "0", "-json", "-progress=false"}, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v (%s)", err, errOut.String())
	}
	var res Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("json output: %v: %s", err, out.String())
	}
	if res.Requests != 200 {
		t.Fatalf("requests = %d, want 200", res.Requests)
	}
	if res.ErrorsByKind["http_503"] != 40 || res.Errors != 40 || res.OK != 160 {
		t.Fatalf("ok %d, errors %v; want 160 ok and 40 http_503", res.OK, res.ErrorsByKind)
	}
	if l := res.Latency; !(l.P50 > 0 && l.P50 <= l.P90 && l.P90 <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.Max) {
		t.Fatalf("percentiles out of order: %+v", res)
	}
}

func TestIntrospectScenarioNeedsActive(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/oauth/token":
			_, _ = w.Write([]byte(`{"access_token":"tok"}`))
		case "/api/oauth/introspect":
			if r.FormValue("token") == "tok" {
				_, _ = w.Write([]byte(`{"active": true}`))
				return
			}
			_, _ = w.Write([]byte(`{"active":false}`))
		}
	}))
	defer srv.Close()
	cfg, err := parseFlags([]string{"-url", srv.URL, "-scenario", "introspect", "-client-id", "a", "-client-secret", "b",
		"-c", "2", "-d", "300ms", "-warmup", "0", "-progress=false"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.A
	res, err := Run(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK == 0 || res.Errors != 0 {
		t.Fatalf("ok %d errors %v", res.OK, res.Errors)
	}
	o.Token = "other"
	res, err = Run(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 0 || res.ErrorsByKind["inactive"] == 0 {
		t.Fatalf("an inactive answer must count as an error: %+v", res)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-scenario", "nope"},
		{"-scenario", "client-credentials"},
		{"-scenario", "login-api", "-tenant", "a"},
		{"-c", "0", "-scenario", "get"},
		{"-scenario", "get", "extra"},
	} {
		if _, err := parseFlags(args, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "") {
			t.Errorf("%v: no usage error", args)
		} else if _, ok := err.(usageError); !ok {
			t.Errorf("%v: %T, want usageError", args, err)
		}
	}
	_ = time.Second
}

// introspect-fresh introspects each token it was just issued, never the
// same one twice.
func TestIntrospectFreshScenarioIntrospectsNewTokens(t *testing.T) {
	var (
		mu     sync.Mutex
		issued int
		seen   = map[string]int{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/api/oauth/token":
			issued++
			_, _ = fmt.Fprintf(w, `{"access_token":"tok-%d"}`, issued)
		case "/api/oauth/introspect":
			seen[r.FormValue("token")]++
			_, _ = w.Write([]byte(`{"active":true}`))
		}
	}))
	defer srv.Close()
	cfg, err := parseFlags([]string{"-url", srv.URL, "-scenario", "introspect-fresh", "-client-id", "a", "-client-secret", "b",
		"-c", "2", "-n", "50", "-warmup", "0", "-progress=false"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), cfg.A, nil)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if res.OK != 50 || len(seen) != 50 || issued != 50 {
		t.Fatalf("ok %d, %d tokens issued, %d distinct introspected; want 50 each", res.OK, issued, len(seen))
	}
	for tok, n := range seen {
		if n != 1 {
			t.Fatalf("%s introspected %d times", tok, n)
		}
	}
}
