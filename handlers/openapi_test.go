package handlers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/docs"
	"github.com/identityd/identityd/handlers"
	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
)

// oaOperation is the part of an OpenAPI operation the tests read.
type oaOperation struct {
	Parameters []struct {
		Name     string `json:"name"`
		In       string `json:"in"`
		Required bool   `json:"required"`
	} `json:"parameters"`
	Security           []map[string][]string `json:"security"`
	Responses          map[string]any        `json:"responses"`
	RequiredPermission string                `json:"x-required-permission"`
	StepUp             *bool                 `json:"x-step-up"`
}

// oaDocument parses docs/openapi.json into "METHOD /path" → operation.
func oaDocument(t *testing.T, raw []byte) (map[string]any, map[string]oaOperation) {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc), "docs/openapi.json is not JSON")
	var typed struct {
		Paths map[string]map[string]oaOperation `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(raw, &typed))
	ops := map[string]oaOperation{}
	for path, item := range typed.Paths {
		for method, op := range item {
			ops[strings.ToUpper(method)+" "+path] = op
		}
	}
	return doc, ops
}

var oaParamRE = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// oaPath writes an echo route path the OpenAPI way: /users/:id → /users/{id}.
func oaPath(echoPath string) string {
	return oaParamRE.ReplaceAllString(echoPath, "{$1}")
}

// TestOpenAPICoversEveryRoute reads the live route table: every registered
// /api route must be in the document served at /api/openapi.json, with the
// permission its route carries and bearer security. A route added later
// without documentation fails here, naming itself.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	t.Parallel()
	srv := apptest.New(t, apptest.SQLite(t), nil)

	resp, err := http.Get(srv.URL + "/api/openapi.json")
	require.NoError(t, err)
	res := apptest.ReadResult(t, resp)
	require.Equal(t, http.StatusOK, res.Status)
	require.Contains(t, res.Header.Get("Content-Type"), "application/json")
	require.True(t, bytes.Equal(docs.OpenAPI, res.Body), "GET /api/openapi.json serves docs/openapi.json")
	_, ops := oaDocument(t, res.Body)

	var missing, wrongPerm, wrongSecurity []string
	registered := map[string]bool{}
	for _, r := range handlers.Routes() {
		if !strings.HasPrefix(r.Path, "/api/") {
			continue
		}
		key := r.Method + " " + oaPath(r.Path)
		if registered[key] {
			continue
		}
		registered[key] = true
		perm := r.Permission
		op, ok := ops[key]
		if !ok {
			hint := ""
			if perm != "" {
				hint = fmt.Sprintf(" (x-required-permission: %q, security: bearerAuth)", perm)
			}
			missing = append(missing, key+hint)
			continue
		}
		if perm != "" {
			if op.RequiredPermission != perm {
				wrongPerm = append(wrongPerm, fmt.Sprintf("%s: document says %q, route requires %q", key, op.RequiredPermission, perm))
			}
			if !oaHasScheme(op.Security, "bearerAuth") {
				wrongSecurity = append(wrongSecurity, key+": needs security [bearerAuth]")
			}
		}
	}
	sort.Strings(missing)
	sort.Strings(wrongPerm)
	if len(missing) > 0 {
		t.Errorf("%d registered /api route(s) missing from docs/openapi.json; add them:\n  %s", len(missing), strings.Join(missing, "\n  "))
	}
	if len(wrongPerm) > 0 {
		t.Errorf("x-required-permission differs from the route's permission:\n  %s", strings.Join(wrongPerm, "\n  "))
	}
	if len(wrongSecurity) > 0 {
		t.Errorf("permission-checked routes without bearer security:\n  %s", strings.Join(wrongSecurity, "\n  "))
	}
	var stale []string
	for key := range ops {
		if !registered[key] {
			stale = append(stale, key)
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		// Not a failure: the document also describes routes of issue 4 that
		// are still being built. Once every route exists this list is empty.
		t.Logf("%d documented operation(s) not registered (yet): %s", len(stale), strings.Join(stale, ", "))
	}
}

func oaHasScheme(sec []map[string][]string, name string) bool {
	return slices.ContainsFunc(sec, func(m map[string][]string) bool { _, ok := m[name]; return ok })
}

// TestOpenAPIDocumentIsWellFormed checks the document without a server: an
// OpenAPI 3.1 document whose references resolve, whose path parameters are
// declared, whose operations declare responses and security, whose error
// responses use the one error shape, and whose permissions are in the
// catalogue with x-step-up matching the danger list.
func TestOpenAPIDocumentIsWellFormed(t *testing.T) {
	t.Parallel()
	doc, ops := oaDocument(t, docs.OpenAPI)
	require.Regexp(t, `^3\.1\.\d+$`, doc["openapi"], "an OpenAPI 3.1 document")

	errSchema := oaPointer(doc, "#/components/schemas/Error")
	require.NotNil(t, errSchema, "components/schemas/Error is the JSON error shape")
	for _, f := range []string{"error", "message", "fields", "required_permission", "step_up"} {
		require.NotNil(t, oaPointer(doc, "#/components/schemas/Error/properties/"+f), "error shape has %s", f)
	}
	for _, f := range []string{"request_endpoint", "status_endpoint", "ttl_seconds"} {
		require.NotNil(t, oaPointer(doc, "#/components/schemas/StepUp/properties/"+f), "step_up has %s", f)
	}
	require.NotNil(t, oaPointer(doc, "#/components/securitySchemes/bearerAuth"))

	// Every $ref resolves.
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if oaPointer(doc, ref) == nil {
					t.Errorf("$ref %s does not resolve", ref)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)

	paramRE := regexp.MustCompile(`\{([A-Za-z0-9_]+)\}`)
	for key, op := range ops {
		method, path, _ := strings.Cut(key, " ")
		require.True(t, strings.HasPrefix(path, "/api/"), "%s: only /api routes", key)
		require.Contains(t, []string{"GET", "POST", "PUT", "PATCH", "DELETE"}, method, key)
		require.NotEmpty(t, op.Responses, "%s declares responses", key)
		require.NotNil(t, op.Security, "%s declares its security (empty list: public)", key)
		for _, m := range paramRE.FindAllStringSubmatch(path, -1) {
			found := slices.ContainsFunc(op.Parameters, func(p struct {
				Name     string `json:"name"`
				In       string `json:"in"`
				Required bool   `json:"required"`
			}) bool {
				return p.Name == m[1] && p.In == "path" && p.Required
			})
			require.True(t, found, "%s declares required path parameter %s", key, m[1])
		}
		if op.RequiredPermission != "" {
			require.True(t, slices.Contains(identity.Catalogue, op.RequiredPermission), "%s: %q is in the permission catalogue", key, op.RequiredPermission)
			require.True(t, oaHasScheme(op.Security, "bearerAuth"), "%s: permission-checked routes use bearerAuth", key)
			require.NotNil(t, op.StepUp, "%s: x-step-up says whether step-up is needed", key)
			require.Equal(t, identity.IsDangerAction(op.RequiredPermission), *op.StepUp, "%s: x-step-up follows the danger list", key)
		}
	}
	// The admin surface is described, each route with its permission.
	for _, key := range []string{
		"GET /api/users", "GET /api/users/{id}", "POST /api/users/{id}/reset-2fa", "DELETE /api/users/{id}/roles/{role_id}",
		"GET /api/roles", "GET /api/policies/{id}", "POST /api/clients/{id}/rotate-secret",
		"POST /api/service-accounts/{id}/api-keys/{key_id}/rotate", "POST /api/admin/tenants/{id}/suspend",
		"POST /api/admin/impersonate", "GET /api/audit/export", "GET /api/admin/audit",
		"POST /api/authorizations/check", "POST /api/auth/step-up", "POST /api/oauth/token",
	} {
		require.Contains(t, ops, key)
	}
}

// oaPointer resolves a local reference "#/a/b" in doc, or returns nil.
func oaPointer(doc map[string]any, ref string) any {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	var cur any = doc
	for _, part := range strings.Split(rest, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		cur, ok = m[part]
		if !ok {
			return nil
		}
	}
	return cur
}
