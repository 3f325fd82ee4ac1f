package handlers_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/identityd/identityd/docs"
	"github.com/identityd/identityd/handlers"
	"github.com/identityd/identityd/identity"
)

// specOperation is the part of an OpenAPI operation the route test reads.
type specOperation struct {
	Security           []map[string][]string `json:"security"`
	RequiredPermission string                `json:"x-required-permission"`
	StepUp             *bool                 `json:"x-step-up"`
}

// specOperations parses docs/openapi.json into "METHOD /path" → operation.
func specOperations(t *testing.T) map[string]specOperation {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]specOperation `json:"paths"`
	}
	if err := json.Unmarshal(docs.OpenAPI, &doc); err != nil {
		t.Fatalf("docs/openapi.json: %v", err)
	}
	ops := map[string]specOperation{}
	for path, item := range doc.Paths {
		for method, op := range item {
			ops[strings.ToUpper(method)+" "+path] = op
		}
	}
	return ops
}

var echoParamRE = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// specPath writes an echo path the OpenAPI way: /users/:id → /users/{id}.
func specPath(echoPath string) string { return echoParamRE.ReplaceAllString(echoPath, "{$1}") }

func hasScheme(sec []map[string][]string, name string) bool {
	return slices.ContainsFunc(sec, func(m map[string][]string) bool { _, ok := m[name]; return ok })
}

// TestRoutesMatchOpenAPI holds the route table and docs/openapi.json to each
// other, both ways: every /api route is documented and every documented
// operation is a route; a permission route's x-required-permission is its
// permission, in the catalogue, with x-step-up following the danger list;
// and each route's security follows how it is guarded.
func TestRoutesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	ops := specOperations(t)
	routes := handlers.Routes()
	seen := map[string]bool{}
	var problems []string
	for _, r := range routes {
		key := r.Method + " " + specPath(r.Path)
		if seen[key] {
			problems = append(problems, key+": in the route table twice")
		}
		seen[key] = true
		if !strings.HasPrefix(r.Path, "/api/") {
			if r.Permission != "" || r.TenantScoped {
				problems = append(problems, key+": a permission outside /api")
			}
			continue
		}
		op, ok := ops[key]
		if !ok {
			problems = append(problems, key+": not in docs/openapi.json")
			continue
		}
		if op.RequiredPermission != r.Permission {
			problems = append(problems, key+": document requires "+quote(op.RequiredPermission)+", route "+quote(r.Permission))
		}
		switch r.Auth {
		case handlers.AuthPermission:
			if !slices.Contains(identity.Catalogue, r.Permission) {
				problems = append(problems, key+": permission "+quote(r.Permission)+" is not in identity.Catalogue")
			}
			if op.StepUp == nil || *op.StepUp != identity.IsDangerAction(r.Permission) {
				problems = append(problems, key+": x-step-up does not follow the danger list")
			}
			if r.TenantScoped == strings.HasPrefix(r.Path, "/api/admin/") {
				problems = append(problems, key+": tenant-scoped routes are the non-admin ones")
			}
			fallthrough
		case handlers.AuthUser, handlers.AuthPrincipal, handlers.AuthAccessToken:
			if !hasScheme(op.Security, "bearerAuth") {
				problems = append(problems, key+": needs security [bearerAuth]")
			}
		case handlers.AuthClient:
			if !hasScheme(op.Security, "clientSecretBasic") {
				problems = append(problems, key+": needs security [clientSecretBasic]")
			}
		case handlers.AuthNone:
			if op.Security == nil || len(op.Security) != 0 {
				problems = append(problems, key+": a public route, but the document does not declare security []")
			}
		default:
			problems = append(problems, key+": an /api route guarded as "+string(r.Auth))
		}
		if r.Auth != handlers.AuthPermission && (r.Permission != "" || r.TenantScoped) {
			problems = append(problems, key+": a permission on a route that does not check one")
		}
	}
	for key := range ops {
		if !seen[key] {
			problems = append(problems, key+": documented, but no route")
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		t.Errorf("the route table and docs/openapi.json differ:\n  %s", strings.Join(problems, "\n  "))
	}
	if n := len(ops); n < 90 {
		t.Errorf("docs/openapi.json has %d operations; the check read too little", n)
	}
}

// TestRoutesAreRegistered checks that New registers exactly the route
// table and serves docs/openapi.json as it is.
func TestRoutesAreRegistered(t *testing.T) {
	t.Parallel()
	e, err := handlers.New(fullDeps())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, r := range handlers.Routes() {
		want[r.Method+" "+r.Path] = true
	}
	got := map[string]bool{}
	for _, r := range e.Routes() {
		key := r.Method + " " + r.Path
		if !want[key] {
			t.Errorf("%s is registered but not in the route table", key)
		}
		got[key] = true
	}
	for key := range want {
		if !got[key] {
			t.Errorf("%s is in the route table but not registered", key)
		}
	}

	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "application/json") || !bytes.Equal(body, docs.OpenAPI) {
		t.Errorf("GET /api/openapi.json: %d %s, not docs/openapi.json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestUnknownPathsAreNotGuarded pins why every route carries its own
// guard: an unknown path answers 404 and a known path's wrong method 405,
// never the 401 of an authenticating group or the CSRF page of a form group.
func TestUnknownPathsAreNotGuarded(t *testing.T) {
	t.Parallel()
	e, err := handlers.New(fullDeps())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/api/auth/nope", http.StatusNotFound},
		{http.MethodPost, "/api/users/x/nope", http.StatusNotFound},
		{http.MethodPost, "/api/nope", http.StatusNotFound},
		{http.MethodPost, "/account/security/nope", http.StatusNotFound},
		{http.MethodPost, "/login/nope", http.StatusNotFound},
		{http.MethodGet, "/api/oauth/nope", http.StatusNotFound},
		{http.MethodPut, "/api/auth/me", http.StatusMethodNotAllowed},
		{http.MethodGet, "/api/oauth/token", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/login", http.StatusMethodNotAllowed},
	} {
		req, err := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }
