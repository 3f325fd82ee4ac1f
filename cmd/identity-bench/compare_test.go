package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var lats []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose: latencyOf sorts
		lats = append(lats, time.Duration(i)*time.Millisecond)
	}
	l := latencyOf(lats)
	// index floor((n-1)·p) of 1..100 ms
	if l.P50 != 50 || l.P90 != 90 || l.P95 != 95 || l.P99 != 99 || l.Max != 100 {
		t.Fatalf("latencyOf(1..100 ms) = %+v", l)
	}
	if got := percentile(nil, 0.99); got != 0 {
		t.Fatalf("percentile of nothing = %v", got)
	}
	if got := percentile([]time.Duration{1500 * time.Microsecond}, 0.5); got != 1.5 {
		t.Fatalf("percentile of one = %v, want 1.5", got)
	}
}

func TestMedianRatio(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	in := []float64{3, 1, 2}
	median(in)
	if !(in[0] == 3 && in[1] == 1) {
		t.Errorf("median sorted its argument: %v", in)
	}
	if ratio(3, 2) != 1.5 || ratio(1, 0) != 0 {
		t.Errorf("ratio(3,2) = %v, ratio(1,0) = %v", ratio(3, 2), ratio(1, 0))
	}
	// The median ratio is the median of the rounds' ratios.
	rs := func(rps, p99 float64) *Result { return &Result{RPS: rps, Latency: Latency{P99: p99}} }
	rounds := []Round{
		{Round: 1, A: rs(100, 10), B: rs(50, 20), RPSRatio: 2, P99Ratio: 0.5},
		{Round: 2, A: rs(90, 12), B: rs(60, 12), RPSRatio: 1.5, P99Ratio: 1},
		{Round: 3, A: rs(300, 8), B: rs(100, 16), RPSRatio: 3, P99Ratio: 0.5},
	}
	m := medians(rounds)
	if m.A.RPS != 100 || m.B.RPS != 60 || m.RPSRatio != 2 || m.P99Ratio != 0.5 || m.A.P99ms != 10 || m.B.P99ms != 16 {
		t.Fatalf("medians = %+v, b %+v", m, m.B)
	}
}

func fakeTokenServer(t *testing.T, tokenPath string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != tokenPath {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"access_token":"t"}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

// Two servers with different token paths and credentials, two rounds: the
// JSON holds each round's A and B and the medians, with the CPU of -pid.
func TestCompareJSONShape(t *testing.T) {
	a, b := fakeTokenServer(t, "/api/oauth/token"), fakeTokenServer(t, "/oauth2/token")
	pid := fmt.Sprint(os.Getpid())
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"-url", a.URL, "-client-id", "a", "-client-secret", "s",
		"-compare-url", b.URL, "-compare-token-path", "/oauth2/token", "-compare-client-id", "b", "-compare-client-secret", "t",
		"-pid", pid, "-compare-pid", pid, "-c", "2", "-d", "200ms", "-warmup", "0", "-rounds", "2", "-json", "-progress=false"}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v (%s)", err, errOut.String())
	}
	if n := strings.Count(strings.TrimSpace(out.String()), "\n"); n != 0 {
		t.Fatalf("want one JSON object on one line, got %d lines", n+1)
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if got := keys(m); got != "concurrency,median,round_duration_s,rounds,scenario" {
		t.Fatalf("top-level keys %s", got)
	}
	rounds := m["rounds"].([]any)
	if len(rounds) != 2 {
		t.Fatalf("%d rounds", len(rounds))
	}
	r1 := rounds[0].(map[string]any)
	if got := keys(r1); got != "a,b,p99_ratio,round,rps_ratio" {
		t.Fatalf("round keys %s", got)
	}
	ra, rb := r1["a"].(map[string]any), r1["b"].(map[string]any)
	if got := keys(ra); got != "concurrency,cpu,duration_s,errors,errors_by_kind,latency_ms,ok,requests,rps,scenario,target,url" {
		t.Fatalf("result keys %s", got)
	}
	if got := keys(ra["latency_ms"].(map[string]any)); got != "max,p50,p90,p95,p99" {
		t.Fatalf("latency keys %s", got)
	}
	if got := keys(ra["cpu"].(map[string]any)); got != "cores,cpu_ms,cpu_ms_per_request,pids,ticks_per_second" {
		t.Fatalf("cpu keys %s", got)
	}
	if ra["url"] != a.URL || rb["url"] != b.URL || ra["target"] != "A" || rb["target"] != "B" {
		t.Fatalf("targets: a %v, b %v", ra["url"], rb["url"])
	}
	if ra["ok"].(float64) == 0 || rb["ok"].(float64) == 0 || ra["errors"].(float64) != 0 || rb["errors"].(float64) != 0 {
		t.Fatalf("a %v, b %v", ra, rb)
	}
	med := m["median"].(map[string]any)
	if got := keys(med); !strings.HasPrefix(got, "a,b,") || !strings.Contains(got, "rps_ratio") {
		t.Fatalf("median keys %s", got)
	}
	var text bytes.Buffer
	var cmp Comparison
	if err := json.Unmarshal(out.Bytes(), &cmp); err != nil {
		t.Fatal(err)
	}
	cmp.WriteText(&text)
	if !strings.Contains(text.String(), "median") || !strings.Contains(text.String(), "rps A/B") {
		t.Fatalf("table:\n%s", text.String())
	}
}

// A single run prints one Result object with the fields the lead's tables
// read; -pid of this process fills cpu.
func TestSingleRunJSONShape(t *testing.T) {
	a := fakeTokenServer(t, "/t")
	var out bytes.Buffer
	err := run(context.Background(), []string{"-url", a.URL, "-token-url", a.URL + "/t", "-client-id", "a", "-client-secret", "s",
		"-pid", fmt.Sprint(os.Getpid()), "-n", "50", "-warmup", "0", "-format", "json", "-progress=false"}, &out, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"scenario", "concurrency", "duration_s", "requests", "rps", "errors", "latency_ms", "cpu"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q in %s", k, out.String())
		}
	}
	if _, ok := m["operations"]; ok {
		t.Errorf("operations outside a mix: %s", out.String())
	}
}

func TestCompareFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"-scenario", "get", "-format", "xml"}, "-format"},
		{[]string{"-scenario", "get", "-rounds", "0"}, "-rounds"},
		{[]string{"-scenario", "get", "-compare-pid", "1"}, "need -compare-url"},
		{[]string{"-scenario", "get", "-pid", "abc"}, "-pid"},
		{[]string{"-scenario", "get", "-compare-url", "http://b", "-compare-pid", "x"}, "-compare-pid"},
	} {
		_, err := parseFlags(c.args, &bytes.Buffer{})
		if _, ok := err.(usageError); !ok || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%v: %v, want a usage error with %q", c.args, err, c.wantErr)
		}
	}
	cfg, err := parseFlags([]string{"-scenario", "introspect", "-client-id", "a", "-client-secret", "s", "-token-path", "/tok",
		"-compare-url", "http://b:4444/", "-compare-introspect-url", "http://b:4445/admin/oauth2/introspect",
		"-compare-client-id", "hb", "-compare-client-secret", "hs"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.B
	if b.TokenURL != "http://b:4444/tok" || b.IntrospectURL != "http://b:4445/admin/oauth2/introspect" ||
		b.ClientID != "hb" || b.IntrospectClientID != "hb" || b.IntrospectClientSecret != "hs" || cfg.A.IntrospectClientID != "a" {
		t.Fatalf("B options %+v", b)
	}
}
