package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func TestParseMix(t *testing.T) {
	got, err := parseMix("client-credentials=70, introspect=20,refresh=5,login-api=5")
	if err != nil {
		t.Fatal(err)
	}
	want := []mixEntry{{"client-credentials", 70}, {"introspect", 20}, {"refresh", 5}, {"login-api", 5}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseMix = %v, want %v", got, want)
	}
	for _, c := range []struct{ in, wantErr string }{
		{"", "empty entry"},
		{"client-credentials=70,", "empty entry"},
		{"client-credentials", "has no weight"},
		{"client-credentials=abc", `weight of client-credentials is "abc"`},
		{"client-credentials=-1", "want a whole number"},
		{"client-credentials=1.5", "want a whole number"},
		{"nope=3", `unknown operation "nope"`},
		{"mix=3", `unknown operation "mix"`},
		{"introspect=1,introspect=2", "introspect appears twice"},
		{"introspect=0,get=0", "add up to 0"},
	} {
		_, err := parseMix(c.in)
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("parseMix(%q) = %v, want an error with %q", c.in, err, c.wantErr)
		}
	}
}

func TestMixFlags(t *testing.T) {
	for _, c := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"-scenario", "mix"}, "needs -mix"},
		{[]string{"-mix", "get=1"}, "-mix needs -scenario mix"},
		{[]string{"-scenario", "mix", "-mix", "get=1,bad"}, "has no weight"},
		{[]string{"-scenario", "mix", "-mix", "get=1,login-api=1"}, "-scenario login-api needs -tenant"},
	} {
		_, err := parseFlags(c.args, &bytes.Buffer{})
		if _, ok := err.(usageError); !ok || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%v: %v (%T), want a usage error with %q", c.args, err, err, c.wantErr)
		}
	}
}

func TestMixPick(t *testing.T) {
	w := &mixWorker{cum: []int{0, 70, 90, 100}, total: 100} // weights 0, 70, 20, 10
	for r, want := range map[int]int{0: 1, 69: 1, 70: 2, 89: 2, 90: 3, 99: 3} {
		if got := w.pick(r); got != want {
			t.Errorf("pick(%d) = %d, want %d", r, got, want)
		}
	}
}

// A mix of a token call and a GET against one fake server: every operation
// is run, counted apart, and the totals are the sums.
func TestMixRunJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/tok":
			_, _ = w.Write([]byte(`{"access_token":"t"}`))
		case "/ping":
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	var out bytes.Buffer
	err := run(context.Background(), []string{"-url", srv.URL, "-token-path", "/tok", "-path", "/ping",
		"-scenario", "mix", "-mix", "client-credentials=3,get=1,introspect=0", "-client-id", "a", "-client-secret", "b",
		"-c", "3", "-n", "400", "-warmup", "0", "-format", "json", "-progress=false"}, &out, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if res.Scenario != "mix" || res.Requests != 400 || res.OK != 400 || len(res.Operations) != 3 {
		t.Fatalf("result %+v", res)
	}
	cc, get, in := res.Operations[0], res.Operations[1], res.Operations[2]
	if cc.Name != "client-credentials" || cc.Weight != 3 || get.Name != "get" || in.Requests != 0 {
		t.Fatalf("operations %+v", res.Operations)
	}
	if cc.OK+get.OK != 400 || cc.OK < 200 || get.OK < 30 {
		t.Fatalf("3:1 mix of 400 gave %d client-credentials and %d get", cc.OK, get.OK)
	}
	if cc.Latency.P50 <= 0 || cc.Latency.P99 < cc.Latency.P90 || cc.RPS <= 0 {
		t.Fatalf("client-credentials stats %+v", cc)
	}
	var text bytes.Buffer
	res.WriteText(&text)
	for _, s := range []string{"operation", "client-credentials", "get", "total"} {
		if !strings.Contains(text.String(), s) {
			t.Fatalf("table lacks %q:\n%s", s, text.String())
		}
	}
}
