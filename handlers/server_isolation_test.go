package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

// Tenant isolation, generated from the route table: every route registered
// through s.api with "|tenant" in its name is covered, including routes
// added after this test was written.
//
//   - A route with path parameters, called by tenant A's Owner (holding the
//     Danger Zone policy and elevated, so neither a permission nor step-up
//     can mask the answer) with tenant B's object ids, answers 404. With two
//     or more parameters, each B id is also tried next to A's own ids.
//   - A list route (GET, no path parameters) never shows B's ids, even with
//     B's tenant_id in the query.
//   - A create route (POST, no path parameters) ignores a tenant_id (and
//     tenant) of B in the query and the body: nothing is created in B, and
//     what is created belongs to A.
//   - Nothing of B changed after all of it.

// isoObjects are the ids of one tenant's objects, by kind.
type isoObjects struct {
	Tenant *models.Tenant
	ids    map[string]string // kind → id
	email  string
}

// isoSeed creates one object of every kind in tenant: a user, a client, a
// service account with an API key (inserted as storage rows: no service
// creates them outside the API), and the seeded role and policy.
func isoSeed(t *testing.T, srv *apptest.Server, tenant *models.Tenant) *isoObjects {
	t.Helper()
	u := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleMember})
	cc, err := srv.CreateClient(t, apptest.NewClient{TenantSlug: tenant.Slug, Name: "iso client",
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"orders.read"}})
	require.NoError(t, err)
	sa, key := uuid.NewString(), uuid.NewString()
	srv.Exec(t, fmt.Sprintf(`INSERT INTO service_accounts (id, tenant_id, name, description, is_active, created_at, updated_at)
		VALUES (%s, %s, %s, '', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)`, sqlQuote(sa), sqlQuote(tenant.ID), sqlQuote("iso-sa-"+apptest.RandomID(t, 6))))
	srv.Exec(t, fmt.Sprintf(`INSERT INTO api_keys (id, tenant_id, service_account_id, name, prefix, key_hash, created_at)
		VALUES (%s, %s, %s, 'iso', 'idk_iso', %s, CURRENT_TIMESTAMP)`, sqlQuote(key), sqlQuote(tenant.ID), sqlQuote(sa), sqlQuote("iso-"+uuid.NewString())))
	role := srv.Scalar(t, fmt.Sprintf("SELECT id FROM roles WHERE tenant_id = %s AND name = %s", sqlQuote(tenant.ID), sqlQuote(identity.RoleMember)))
	policy := srv.Scalar(t, fmt.Sprintf("SELECT id FROM policies WHERE tenant_id = %s AND name = %s", sqlQuote(tenant.ID), sqlQuote(identity.DangerZonePolicy)))
	return &isoObjects{Tenant: tenant, email: u.Email, ids: map[string]string{
		"user": u.ID, "client": cc.Client.ID, "service_account": sa, "api_key": key, "role": role, "policy": policy, "tenant": tenant.ID,
	}}
}

// isoKind says what kind of object a path parameter names: from its name
// (role_id, policy_id, key_id, …) or, for :id, from the segment before it.
func isoKind(path, param string) string {
	byName := map[string]string{"role_id": "role", "policy_id": "policy", "key_id": "api_key", "user_id": "user",
		"client_id": "client", "service_account_id": "service_account", "tenant_id": "tenant"}
	if k, ok := byName[param]; ok {
		return k
	}
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if s == ":"+param && i > 0 {
			switch segs[i-1] {
			case "users":
				return "user"
			case "roles":
				return "role"
			case "policies":
				return "policy"
			case "clients":
				return "client"
			case "service-accounts":
				return "service_account"
			case "api-keys":
				return "api_key"
			case "tenants":
				return "tenant"
			}
		}
	}
	return ""
}

// isoFill writes path with each parameter taken from pick(kind, index).
func isoFill(path string, pick func(param, kind string, i int) string) string {
	i := -1
	return oaParamRE.ReplaceAllStringFunc(path, func(m string) string {
		i++
		param := m[1:]
		return url.PathEscape(pick(param, isoKind(path, param), i))
	})
}

// isoBody is a plausible body for any create/update/assign route, naming
// the given role and policy, and tenant B in every tenant field.
func isoBody(t *testing.T, roleID, policyID string, b *isoObjects) map[string]any {
	return map[string]any{
		"name": "Isolation " + apptest.RandomID(t, 6), "description": "isolation probe", "email": "iso-" + apptest.RandomID(t, 8) + "@example.com",
		"password": "Iso-Probe-Passw0rd!", "permissions": []string{"identity.users.read"}, "role_id": roleID, "policy_id": policyID,
		"grant_types": []string{"client_credentials"}, "scopes": []string{"orders.read"}, "reason": "isolation test",
		"tenant_id": b.Tenant.ID, "tenant": b.Tenant.Slug,
	}
}

// isoSnapshot is what tenant B holds, to prove nothing of it changed.
func isoSnapshot(t *testing.T, srv *apptest.Server, tenantID string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range []string{"users", "roles", "policies", "oauth_clients", "service_accounts", "api_keys", "role_assignments", "policy_assignments"} {
		q := fmt.Sprintf("SELECT CAST(COUNT(*) AS TEXT) FROM %s WHERE tenant_id = %s", table, sqlQuote(tenantID))
		out[table] = srv.Scalar(t, q)
	}
	for _, table := range []string{"users", "roles", "policies", "oauth_clients", "service_accounts"} {
		q := fmt.Sprintf("SELECT COALESCE(CAST(MAX(updated_at) AS TEXT), '') FROM %s WHERE tenant_id = %s", table, sqlQuote(tenantID))
		out[table+".updated_at"] = srv.Scalar(t, q)
	}
	out["users.active"] = srv.Scalar(t, fmt.Sprintf("SELECT CAST(COUNT(*) AS TEXT) FROM users WHERE tenant_id = %s AND is_active AND NOT force_password_change AND NOT is_system_admin", sqlQuote(tenantID)))
	out["api_keys.live"] = srv.Scalar(t, fmt.Sprintf("SELECT CAST(COUNT(*) AS TEXT) FROM api_keys WHERE tenant_id = %s AND revoked_at IS NULL", sqlQuote(tenantID)))
	out["tenant"] = srv.Scalar(t, fmt.Sprintf("SELECT CAST(COUNT(*) AS TEXT) FROM tenants WHERE id = %s AND suspended_at IS NULL", sqlQuote(tenantID)))
	return out
}

func TestIsolationFromRouteTable(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		tenantA, tenantB := newTestTenant(t, srv), newTestTenant(t, srv)
		ownerA := newRoleUser(t, srv, tenantA, userOpts{role: identity.RoleOwner, dangerZone: true})
		objA, objB := isoSeed(t, srv, tenantA), isoSeed(t, srv, tenantB)
		tok := srv.Login(t, tenantA.Slug, ownerA.Email, apptest.Password)
		srv.StepUp(t, tok, apptest.Password)
		before := isoSnapshot(t, srv, tenantB.ID)

		routes := routesOf(srv)
		var withParams, lists, creates, createdInA int
		for _, r := range routes {
			if !r.Scoped {
				continue
			}
			if strings.HasPrefix(r.Permission, "admin.") {
				t.Errorf("%s %s: a system-admin (admin.*) route is marked |tenant; A's Owner cannot reach it", r.Method, r.Path)
				continue
			}
			switch {
			case strings.Contains(r.Path, ":"):
				withParams++
				isoParamRoute(t, srv, tok, r, objA, objB)
			case r.Method == http.MethodGet:
				lists++
				isoListRoute(t, srv, tok, r, objB)
			case r.Method == http.MethodPost:
				creates++
				if isoCreateRoute(t, srv, tok, r, objA, objB) {
					createdInA++
				}
			}
		}
		t.Logf("covered %d routes with path parameters, %d lists, %d creates (%d created in A despite B's tenant_id)", withParams, lists, creates, createdInA)
		if creates > 0 {
			require.NotZero(t, createdInA, "no create route accepted the generic body: tenant_id in the body was never tested")
		}
		require.NotZero(t, withParams+lists, "no tenant-scoped route is registered: nothing was tested")
		require.Equal(t, before, isoSnapshot(t, srv, tenantB.ID), "tenant B's rows changed while tenant A probed them")
		srv.StepUp(t, tok, apptest.Password) // the session is still ours and usable
	})
}

// isoParamRoute: every B id in the path answers 404.
func isoParamRoute(t *testing.T, srv *apptest.Server, tok string, r routeInfo, a, b *isoObjects) {
	t.Helper()
	params := oaParamRE.FindAllString(r.Path, -1)
	idOf := func(o *isoObjects, kind string) string {
		if id, ok := o.ids[kind]; ok {
			return id
		}
		return uuid.NewString() // a kind no fixture makes: still not A's
	}
	type variant struct{ name, path string }
	variants := []variant{{"all of B's ids", isoFill(r.Path, func(_, kind string, _ int) string { return idOf(b, kind) })}}
	if len(params) > 1 {
		for j := range params {
			variants = append(variants, variant{fmt.Sprintf("B's id for %s, A's for the rest", params[j]),
				isoFill(r.Path, func(_, kind string, i int) string {
					if i == j {
						return idOf(b, kind)
					}
					return idOf(a, kind)
				})})
		}
	}
	for _, v := range variants {
		var body any
		if r.Method != http.MethodGet && r.Method != http.MethodDelete {
			body = isoBody(t, b.ids["role"], b.ids["policy"], b)
		}
		res := srv.Call(t, r.Method, v.path, tok, body)
		if res.Status != http.StatusNotFound {
			t.Errorf("%s %s (%s, %s): want 404 for another tenant's object, got %d: %s", r.Method, r.Path, r.Permission, v.name, res.Status, res.Body)
		}
	}
}

// isoListRoute: B's ids never appear, whatever tenant the query names.
func isoListRoute(t *testing.T, srv *apptest.Server, tok string, r routeInfo, b *isoObjects) {
	t.Helper()
	q := url.Values{"tenant_id": {b.Tenant.ID}, "tenant": {b.Tenant.Slug}}
	for _, path := range []string{r.Path, r.Path + "?" + q.Encode()} {
		res := srv.Call(t, http.MethodGet, path, tok, nil)
		if res.Status != http.StatusOK {
			t.Errorf("GET %s (%s): want 200 for A's Owner, got %d: %s", path, r.Permission, res.Status, res.Body)
			continue
		}
		body := string(res.Body)
		for kind, id := range b.ids {
			if strings.Contains(body, id) {
				t.Errorf("GET %s (%s) shows tenant B's %s %s: %s", path, r.Permission, kind, id, body)
			}
		}
		if strings.Contains(body, b.email) {
			t.Errorf("GET %s (%s) shows tenant B's user %s", path, r.Permission, b.email)
		}
	}
}

// isoCreateRoute: a tenant_id of B in the query and the body is ignored.
func isoCreateRoute(t *testing.T, srv *apptest.Server, tok string, r routeInfo, a, b *isoObjects) bool {
	t.Helper()
	q := url.Values{"tenant_id": {b.Tenant.ID}, "tenant": {b.Tenant.Slug}}
	res := srv.Call(t, http.MethodPost, r.Path+"?"+q.Encode(), tok, isoBody(t, a.ids["role"], a.ids["policy"], b))
	switch {
	case res.Status >= 200 && res.Status < 300:
		if strings.Contains(string(res.Body), b.Tenant.ID) {
			t.Errorf("POST %s (%s): the answer names tenant B: %s", r.Path, r.Permission, res.Body)
		}
		var m map[string]any
		if err := json.Unmarshal(res.Body, &m); err == nil {
			if tid, ok := m["tenant_id"].(string); ok {
				if tid != a.Tenant.ID {
					t.Errorf("POST %s (%s): created in tenant %s, want A's %s", r.Path, r.Permission, tid, a.Tenant.ID)
				}
				return true
			}
		}
	case res.Status == http.StatusNotFound && r.Permission == "identity.authorizations.check":
	default:
		// A body this generic test cannot guess (422) proves nothing either
		// way; the snapshot of B at the end still must not change.
		t.Logf("POST %s (%s): %d %s", r.Path, r.Permission, res.Status, res.Body)
	}
	return false
}
