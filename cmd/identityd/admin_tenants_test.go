package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/identity/identitytest"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage/storagetest"
)

// opEnv is a server with a tenant holding a system admin, a tenant Owner
// and a client used to introspect tokens.
type opEnv struct {
	*e2eEnv
	admin      *models.User
	adminToken string
	owner      *models.User
	ownerToken string
	intro      *identity.CreatedClient
}

func newOpEnv(t *testing.T, b storagetest.Backend, redisURL string, mutate func(*Config)) *opEnv {
	t.Helper()
	e := newE2E(t, b, redisURL, mutate)
	ctx := context.Background()
	admin, err := e.srv.Admin.CreateUser(ctx, identitytest.NewUser{TenantSlug: e.tenant.Slug, Email: "root@" + e.tenant.Slug + ".example", Password: e2ePassword, SystemAdmin: true})
	require.NoError(t, err)
	owner, err := e.srv.Admin.CreateUser(ctx, identitytest.NewUser{TenantSlug: e.tenant.Slug, Email: "owner@" + e.tenant.Slug + ".example", Password: e2ePassword, Role: identity.RoleOwner})
	require.NoError(t, err)
	env := &opEnv{e2eEnv: e, admin: admin, owner: owner, intro: e.serviceClient(t, func(in *identity.NewClient) {
		in.IntrospectAllTenants = true // a system-level resource server: it introspects other tenants' tokens
	})}
	env.adminToken = opLogin(t, e.srv, e.tenant.Slug, admin.Email)
	env.ownerToken = opLogin(t, e.srv, e.tenant.Slug, owner.Email)
	return env
}

// opLoginResult posts /api/auth/login.
func opLoginResult(t *testing.T, srv *testServer, slug, email, password string) *httpResult {
	t.Helper()
	return opAPI(t, srv, http.MethodPost, "/api/auth/login", "", map[string]any{"tenant": slug, "email": email, "password": password})
}

// opLogin signs in with e2ePassword and returns the access token.
func opLogin(t *testing.T, srv *testServer, slug, email string) string {
	t.Helper()
	res := opLoginResult(t, srv, slug, email, e2ePassword)
	require.Equal(t, http.StatusOK, res.Status, "login: %s", res.Body)
	tok, _ := res.JSON(t)["access_token"].(string)
	require.NotEmpty(t, tok)
	return tok
}

// opAPI calls the JSON API with an optional bearer token and JSON body.
func opAPI(t *testing.T, srv *testServer, method, path, token string, body any) *httpResult {
	t.Helper()
	return apiCall(t, srv, method, path, token, body)
}

// requireAPIError asserts the JSON API error shape.
func requireAPIError(t *testing.T, res *httpResult, status int, code string) map[string]any {
	t.Helper()
	require.Equal(t, status, res.Status, "body: %s", res.Body)
	m := res.JSON(t)
	require.Equal(t, code, m["error"], "body: %s", res.Body)
	require.NotEmpty(t, m["message"], "body: %s", res.Body)
	return m
}

// auditRows returns the tenant's audit rows with action.
func auditRows(t *testing.T, srv *testServer, tenantID, action string) []models.AuditLog {
	t.Helper()
	rows, err := srv.Store.ListAuditLogs(context.Background(), models.AuditFilter{TenantID: tenantID, Action: action}, 1000)
	require.NoError(t, err)
	return rows
}

func TestTenantAdminCRUD(t *testing.T) {
	t.Parallel()
	e2eEachBackend(t, func(t *testing.T, b storagetest.Backend, redisURL string) {
		env := newOpEnv(t, b, redisURL, nil)
		srv, tok := env.srv, env.adminToken
		prefix := "zz-" + randomID(t, 5)

		res := opAPI(t, srv, http.MethodPost, "/api/admin/tenants", tok, map[string]any{"slug": prefix + "-one", "name": "One"})
		require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
		created := res.JSON(t)
		id := created["id"].(string)
		require.Equal(t, "active", created["status"])
		require.EqualValues(t, 0, created["audit_retention_days"])
		_, err := srv.Store.GetRoleByName(context.Background(), id, identity.RoleOwner)
		require.NoError(t, err, "a new tenant has its roles seeded")
		rows := auditRows(t, srv, id, identity.AuditTenantCreated)
		require.Len(t, rows, 1)
		require.Equal(t, env.admin.ID, rows[0].ActorID)

		requireAPIError(t, opAPI(t, srv, http.MethodPost, "/api/admin/tenants", tok, map[string]any{"slug": prefix + "-one", "name": "Again"}), http.StatusConflict, "tenant_exists")
		m := requireAPIError(t, opAPI(t, srv, http.MethodPost, "/api/admin/tenants", tok, map[string]any{"slug": "Bad Slug!", "name": ""}), http.StatusUnprocessableEntity, "validation_failed")
		require.Contains(t, m["fields"], "slug")
		require.Contains(t, m["fields"], "name")
		requireAPIError(t, opAPI(t, srv, http.MethodPost, "/api/admin/tenants", tok, "{not json"), http.StatusUnprocessableEntity, "invalid_body")

		for _, s := range []string{"-two", "-three"} {
			res := opAPI(t, srv, http.MethodPost, "/api/admin/tenants", tok, map[string]any{"slug": prefix + s, "name": "Tenant " + s})
			require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
		}
		// Search and keyset pagination by slug.
		var slugs []string
		cursor := ""
		for range 5 {
			q := url.Values{"search": {strings.ToUpper(prefix)}, "limit": {"2"}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			res := opAPI(t, srv, http.MethodGet, "/api/admin/tenants?"+q.Encode(), tok, nil)
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
			page := res.JSON(t)
			for _, it := range page["items"].([]any) {
				slugs = append(slugs, it.(map[string]any)["slug"].(string))
			}
			next, _ := page["next_cursor"].(string)
			if next == "" {
				break
			}
			cursor = next
		}
		require.Equal(t, []string{prefix + "-one", prefix + "-three", prefix + "-two"}, slugs)
		requireAPIError(t, opAPI(t, srv, http.MethodGet, "/api/admin/tenants?limit=0", tok, nil), http.StatusUnprocessableEntity, "validation_failed")

		res = opAPI(t, srv, http.MethodGet, "/api/admin/tenants/"+id, tok, nil)
		require.Equal(t, http.StatusOK, res.Status)
		require.Equal(t, prefix+"-one", res.JSON(t)["slug"])
		requireAPIError(t, opAPI(t, srv, http.MethodGet, "/api/admin/tenants/not-a-uuid", tok, nil), http.StatusNotFound, "tenant_not_found")
		requireAPIError(t, opAPI(t, srv, http.MethodGet, "/api/admin/tenants/"+uuid.NewString(), tok, nil), http.StatusNotFound, "tenant_not_found")

		res = opAPI(t, srv, http.MethodPatch, "/api/admin/tenants/"+id, tok, map[string]any{"name": "Renamed", "audit_retention_days": 30, "slug": "ignored"})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		upd := res.JSON(t)
		require.Equal(t, "Renamed", upd["name"])
		require.EqualValues(t, 30, upd["audit_retention_days"])
		require.Equal(t, prefix+"-one", upd["slug"], "the slug does not change")
		require.Len(t, auditRows(t, srv, id, identity.AuditTenantUpdated), 1)
		m = requireAPIError(t, opAPI(t, srv, http.MethodPatch, "/api/admin/tenants/"+id, tok, map[string]any{"audit_retention_days": -1}), http.StatusUnprocessableEntity, "validation_failed")
		require.Contains(t, m["fields"], "audit_retention_days")
		requireAPIError(t, opAPI(t, srv, http.MethodPatch, "/api/admin/tenants/"+id, tok, map[string]any{}), http.StatusUnprocessableEntity, "validation_failed")
		requireAPIError(t, opAPI(t, srv, http.MethodPatch, "/api/admin/tenants/"+id, tok, map[string]any{"name": 12}), http.StatusUnprocessableEntity, "invalid_body")
		requireAPIError(t, opAPI(t, srv, http.MethodPatch, "/api/admin/tenants/"+uuid.NewString(), tok, map[string]any{"name": "x"}), http.StatusNotFound, "tenant_not_found")

		// The Owner of a tenant is not a system admin.
		for _, r := range []struct{ method, path, perm string }{
			{http.MethodGet, "/api/admin/tenants", "admin.tenants.read"},
			{http.MethodPost, "/api/admin/tenants", "admin.tenants.create"},
			{http.MethodGet, "/api/admin/tenants/" + id, "admin.tenants.read"},
			{http.MethodPatch, "/api/admin/tenants/" + id, "admin.tenants.update"},
			{http.MethodPost, "/api/admin/tenants/" + id + "/suspend", "admin.tenants.suspend"},
			{http.MethodDelete, "/api/admin/tenants/" + id, "admin.tenants.delete"},
			{http.MethodPost, "/api/admin/impersonate", "admin.users.impersonate"},
			{http.MethodGet, "/api/admin/audit", "admin.audit.read"},
		} {
			m := requireAPIError(t, opAPI(t, srv, r.method, r.path, env.ownerToken, map[string]any{"name": "x", "slug": "owner-made"}), http.StatusForbidden, "forbidden")
			require.Equal(t, r.perm, m["required_permission"], "%s %s", r.method, r.path)
			requireAPIError(t, opAPI(t, srv, r.method, r.path, "", nil), http.StatusUnauthorized, "unauthenticated")
		}

		requireAPIError(t, opAPI(t, srv, http.MethodDelete, "/api/admin/tenants/"+env.tenant.ID, tok, nil), http.StatusConflict, "own_tenant")
		res = opAPI(t, srv, http.MethodDelete, "/api/admin/tenants/"+id, tok, nil)
		require.Equal(t, http.StatusNoContent, res.Status, "%s", res.Body)
		requireAPIError(t, opAPI(t, srv, http.MethodGet, "/api/admin/tenants/"+id, tok, nil), http.StatusNotFound, "tenant_not_found")
		requireAPIError(t, opAPI(t, srv, http.MethodDelete, "/api/admin/tenants/"+id, tok, nil), http.StatusNotFound, "tenant_not_found")
		_, err = srv.Store.GetRoleByName(context.Background(), id, identity.RoleOwner)
		require.True(t, models.IsKind(err, models.KindNotFound), "roles go with the tenant")
		del := auditRows(t, srv, env.tenant.ID, identity.AuditTenantDeleted)
		require.Len(t, del, 1)
		require.Equal(t, env.admin.ID, *del[0].UserID)
	})
}

// victim is a second tenant with a user and a client-credentials client.
type victim struct {
	tenant *models.Tenant
	user   *models.User
	client *identity.CreatedClient
}

func newVictim(t *testing.T, srv *testServer) *victim {
	t.Helper()
	ctx := context.Background()
	slug := "victim-" + randomID(t, 6)
	tn, err := srv.Admin.CreateTenant(ctx, slug, "Victim")
	require.NoError(t, err)
	u, err := srv.Admin.CreateUser(ctx, identitytest.NewUser{TenantSlug: slug, Email: "vic@" + slug + ".example", Password: e2ePassword})
	require.NoError(t, err)
	cc, err := srv.Admin.CreateClient(ctx, identity.NewClient{TenantSlug: slug, Name: "svc", GrantTypes: []string{"client_credentials"}, Scopes: []string{"orders.read"}})
	require.NoError(t, err)
	return &victim{tenant: tn, user: u, client: cc}
}

func ccToken(t *testing.T, srv *testServer, cc *identity.CreatedClient) *httpResult {
	t.Helper()
	return tokenRequest(t, srv, cc, url.Values{"grant_type": {"client_credentials"}, "scope": {"orders.read"}})
}

func TestTenantSuspension(t *testing.T) {
	t.Parallel()
	e2eEachBackend(t, func(t *testing.T, b storagetest.Backend, redisURL string) {
		env := newOpEnv(t, b, redisURL, nil)
		srv, tok := env.srv, env.adminToken
		v := newVictim(t, srv)
		userTok := opLogin(t, srv, v.tenant.Slug, v.user.Email)
		res := ccToken(t, srv, v.client)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		ccTok := res.JSON(t)["access_token"].(string)
		requireActive(t, srv, env.intro, userTok)
		requireActive(t, srv, env.intro, ccTok)

		res = opAPI(t, srv, http.MethodPost, "/api/admin/tenants/"+v.tenant.ID+"/suspend", tok, nil)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		require.Equal(t, "suspended", res.JSON(t)["status"])
		require.NotNil(t, res.JSON(t)["suspended_at"])

		// At once: existing tokens are dead, new ones are refused.
		requireInactive(t, srv, env.intro, userTok)
		requireInactive(t, srv, env.intro, ccTok)
		requireAPIError(t, opAPI(t, srv, http.MethodGet, "/api/auth/me", userTok, nil), http.StatusUnauthorized, "invalid_token")
		requireAPIError(t, opLoginResult(t, srv, v.tenant.Slug, v.user.Email, e2ePassword), http.StatusForbidden, "tenant_suspended")
		requireAPIError(t, opLoginResult(t, srv, v.tenant.Slug, v.user.Email, "wrong password!"), http.StatusUnauthorized, "invalid_credentials")
		requireOAuthError(t, ccToken(t, srv, v.client), http.StatusUnauthorized, "invalid_client")
		// The page login is refused too.
		br := newBrowser(t, srv)
		page := br.get(srv.URL + "/login")
		require.Equal(t, http.StatusOK, page.Status)
		f := parseForm(t, page)
		f.Fields.Set("tenant", v.tenant.Slug)
		f.Fields.Set("email", v.user.Email)
		f.Fields.Set("password", e2ePassword)
		after := br.post(f.Action, f.Fields)
		require.Empty(t, br.cookie("identity_session"), "no browser session for a suspended tenant: %d", after.Status)
		require.Len(t, auditRows(t, srv, v.tenant.ID, identity.AuditTenantSuspended), 1)

		requireAPIError(t, opAPI(t, srv, http.MethodPost, "/api/admin/tenants/"+env.tenant.ID+"/suspend", tok, nil), http.StatusConflict, "own_tenant")
		requireAPIError(t, opAPI(t, srv, http.MethodPost, "/api/admin/tenants/"+uuid.NewString()+"/suspend", tok, nil), http.StatusNotFound, "tenant_not_found")
		// Other tenants are untouched.
		requireActive(t, srv, env.intro, tok)

		res = opAPI(t, srv, http.MethodPost, "/api/admin/tenants/"+v.tenant.ID+"/unsuspend", tok, nil)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		require.Equal(t, "active", res.JSON(t)["status"])
		require.Len(t, auditRows(t, srv, v.tenant.ID, identity.AuditTenantUnsuspended), 1)
		newUserTok := opLogin(t, srv, v.tenant.Slug, v.user.Email)
		requireActive(t, srv, env.intro, newUserTok)
		res = ccToken(t, srv, v.client)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		requireActive(t, srv, env.intro, res.JSON(t)["access_token"].(string))
		requireInactive(t, srv, env.intro, userTok)
		requireInactive(t, srv, env.intro, ccTok)
	})
}

func TestImpersonation(t *testing.T) {
	t.Parallel()
	e2eEachBackend(t, func(t *testing.T, b storagetest.Backend, redisURL string) {
		env := newOpEnv(t, b, redisURL, func(c *Config) { c.ImpersonationTTL = 7 * time.Minute })
		srv, tok := env.srv, env.adminToken
		v := newVictim(t, srv)

		start := time.Now()
		res := opAPI(t, srv, http.MethodPost, "/api/admin/impersonate", tok, map[string]any{"tenant_id": v.tenant.ID, "user_id": v.user.ID, "reason": "ticket 4711"})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		imp := res.JSON(t)["access_token"].(string)

		m := requireActive(t, srv, env.intro, imp)
		require.Equal(t, v.user.ID, m["sub"])
		require.Equal(t, v.tenant.ID, m["tenant_id"])
		require.Equal(t, map[string]any{"sub": env.admin.ID, "tenant_id": env.tenant.ID}, m["act"])
		exp := time.Unix(int64(m["exp"].(float64)), 0)
		require.WithinDuration(t, start.Add(7*time.Minute), exp, 10*time.Second, "the token lives IMPERSONATION_TTL_MINUTES")

		me := opAPI(t, srv, http.MethodGet, "/api/auth/me", imp, nil)
		require.Equal(t, http.StatusOK, me.Status, "%s", me.Body)
		require.Equal(t, v.user.ID, me.JSON(t)["user"].(map[string]any)["id"], "the token acts as the user")
		// It carries none of the admin's powers.
		requireAPIError(t, opAPI(t, srv, http.MethodGet, "/api/admin/tenants", imp, nil), http.StatusForbidden, "forbidden")
		requireAPIError(t, opAPI(t, srv, http.MethodPost, "/api/admin/impersonate", imp, map[string]any{"tenant_id": v.tenant.ID, "user_id": v.user.ID, "reason": "chain"}), http.StatusForbidden, "forbidden")

		// Audited on both sides.
		started := auditRows(t, srv, env.tenant.ID, identity.AuditImpersonationStarted)
		require.Len(t, started, 1)
		require.Equal(t, env.admin.ID, *started[0].UserID)
		md := map[string]any{}
		require.NoError(t, json.Unmarshal([]byte(started[0].Metadata), &md))
		require.Equal(t, v.user.ID, md["target_user_id"])
		require.Equal(t, v.tenant.ID, md["target_tenant_id"])
		require.Equal(t, "ticket 4711", md["reason"])
		target := auditRows(t, srv, v.tenant.ID, identity.AuditImpersonated)
		require.Len(t, target, 1)
		require.Equal(t, v.user.ID, *target[0].UserID)
		require.Equal(t, env.admin.ID, target[0].ActorID)

		tests := []struct {
			name   string
			body   any
			status int
			code   string
		}{
			{"no reason", map[string]any{"tenant_id": v.tenant.ID, "user_id": v.user.ID}, http.StatusUnprocessableEntity, "validation_failed"},
			{"nothing", map[string]any{}, http.StatusUnprocessableEntity, "validation_failed"},
			{"bad json", "[", http.StatusUnprocessableEntity, "invalid_body"},
			{"unknown tenant", map[string]any{"tenant_id": uuid.NewString(), "user_id": v.user.ID, "reason": "r"}, http.StatusNotFound, "tenant_not_found"},
			{"malformed tenant", map[string]any{"tenant_id": "x'; drop", "user_id": v.user.ID, "reason": "r"}, http.StatusNotFound, "tenant_not_found"},
			{"user of another tenant", map[string]any{"tenant_id": v.tenant.ID, "user_id": env.user.ID, "reason": "r"}, http.StatusNotFound, "user_not_found"},
			{"a system admin", map[string]any{"tenant_id": env.tenant.ID, "user_id": env.admin.ID, "reason": "r"}, http.StatusForbidden, "cannot_impersonate"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				requireAPIError(t, opAPI(t, srv, http.MethodPost, "/api/admin/impersonate", tok, tt.body), tt.status, tt.code)
			})
		}
		require.Len(t, auditRows(t, srv, env.tenant.ID, identity.AuditImpersonationStarted), 1, "refusals mint nothing")

		// A suspended tenant's users cannot be impersonated.
		require.Equal(t, http.StatusOK, opAPI(t, srv, http.MethodPost, "/api/admin/tenants/"+v.tenant.ID+"/suspend", tok, nil).Status)
		requireInactive(t, srv, env.intro, imp)
		requireAPIError(t, opAPI(t, srv, http.MethodPost, "/api/admin/impersonate", tok, map[string]any{"tenant_id": v.tenant.ID, "user_id": v.user.ID, "reason": "r"}), http.StatusConflict, "tenant_suspended")
	})
}
