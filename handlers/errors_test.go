package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/identityd/identityd/docs"
	"github.com/identityd/identityd/handlers"
)

// modelCodes reads the machine codes declared in models/errcodes.go: the
// one list, read as source so it is not written a second time here.
func modelCodes(t *testing.T) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../models/errcodes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]bool{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Code") {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok {
					t.Fatalf("%s is not a string literal", name.Name)
				}
				v, _ := strconv.Unquote(lit.Value)
				if codes[v] {
					t.Errorf("code %q is declared twice", v)
				}
				codes[v] = true
			}
		}
	}
	if len(codes) < 40 {
		t.Fatalf("read %d codes from models/errcodes.go", len(codes))
	}
	return codes
}

// TestDocumentedErrorCodesAreDeclared holds the codes docs/openapi.json
// names in its Error schema to the list in models/errcodes.go.
func TestDocumentedErrorCodesAreDeclared(t *testing.T) {
	t.Parallel()
	codes := modelCodes(t)
	var doc struct {
		Components struct {
			Schemas struct {
				Error struct {
					Properties struct {
						Error struct {
							Description string `json:"description"`
						} `json:"error"`
					} `json:"properties"`
				} `json:"Error"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(docs.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	desc := doc.Components.Schemas.Error.Properties.Error.Description
	_, list, ok := strings.Cut(desc, ":")
	if !ok {
		t.Fatalf("the Error schema's error description lists no codes: %q", desc)
	}
	n := 0
	for _, c := range strings.Split(list, ",") {
		c = strings.TrimSpace(c)
		if c == "…" || c == "" {
			continue
		}
		n++
		// not_found is echo's own (an unknown route), written from the status text.
		if !codes[c] && c != strings.ReplaceAll(strings.ToLower(http.StatusText(http.StatusNotFound)), " ", "_") {
			t.Errorf("docs/openapi.json names the code %q, which models/errcodes.go does not declare", c)
		}
	}
	if n < 5 {
		t.Fatalf("read %d codes from %q", n, desc)
	}
}

// logRecorder keeps the records of a slog handler.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *logRecorder) Enabled(_ context.Context, _ slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec)
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

// failures returns the level and text of every "request failed" record.
func (r *logRecorder) failures() map[slog.Level]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[slog.Level]string{}
	for _, rec := range r.records {
		if rec.Message != "request failed" {
			continue
		}
		var b bytes.Buffer
		rec.Attrs(func(a slog.Attr) bool {
			b.WriteString(a.Key + "=" + a.Value.Resolve().String() + " ")
			return true
		})
		out[rec.Level] += b.String()
	}
	return out
}

// TestErrorHandlerLogsAtTheErrorsLevel: a caller's mistake is logged at
// Info with its code, a server error at Error, and neither carries the
// request's secrets.
func TestErrorHandlerLogsAtTheErrorsLevel(t *testing.T) {
	t.Parallel()
	rec := &logRecorder{}
	d := fullDeps()
	d.Logger = slog.New(rec)
	e, err := handlers.New(d)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	do := func(method, path, body string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if got := do(http.MethodGet, "/api/auth/me", ""); got != http.StatusUnauthorized {
		t.Fatalf("GET /api/auth/me without a token: %d", got)
	}
	// No identity services in Deps: the login handler panics, which is a
	// server error.
	if got := do(http.MethodPost, "/api/auth/login", `{"tenant":"acme","email":"a@example.com","password":"hunter2-secret"}`); got != http.StatusInternalServerError {
		t.Fatalf("POST /api/auth/login without services: %d", got)
	}
	logged := rec.failures()
	if !strings.Contains(logged[slog.LevelInfo], "code=unauthenticated") || !strings.Contains(logged[slog.LevelInfo], "status=401") {
		t.Errorf("the 401 is not logged at Info with its code: %v", logged)
	}
	if !strings.Contains(logged[slog.LevelError], "code=internal_error") || !strings.Contains(logged[slog.LevelError], "status=500") {
		t.Errorf("the 500 is not logged at Error: %v", logged)
	}
	for level, text := range logged {
		if strings.Contains(text, "hunter2-secret") || strings.Contains(text, "a@example.com") {
			t.Errorf("a %v log line carries the request body: %s", level, text)
		}
	}
}
