package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

// systemAdminEnv is a server with a tenant holding a system admin, a tenant Owner
// and a client used to introspect tokens.
type systemAdminEnv struct {
	*apptest.Env
	admin      *models.User
	adminToken string
	owner      *models.User
	ownerToken string
	intro      *apptest.CreatedClient
}

func newSystemAdminEnv(t *testing.T, b apptest.Backend, mutate func(*app.Config)) *systemAdminEnv {
	t.Helper()
	e := apptest.NewEnv(t, b, mutate)
	admin, err := e.Server.CreateUser(t, apptest.NewUser{TenantSlug: e.Tenant.Slug, Email: "root@" + e.Tenant.Slug + ".example", Password: apptest.Password, SystemAdmin: true})
	require.NoError(t, err)
	owner, err := e.Server.CreateUser(t, apptest.NewUser{TenantSlug: e.Tenant.Slug, Email: "owner@" + e.Tenant.Slug + ".example", Password: apptest.Password, Role: identity.RoleOwner})
	require.NoError(t, err)
	env := &systemAdminEnv{Env: e, admin: admin, owner: owner, intro: e.ServiceClient(t, func(in *apptest.NewClient) {
		in.IntrospectAllTenants = true // a system-level resource server: it introspects other tenants' tokens
	})}
	env.adminToken = e.Server.Login(t, e.Tenant.Slug, admin.Email, apptest.Password)
	env.ownerToken = e.Server.Login(t, e.Tenant.Slug, owner.Email, apptest.Password)
	return env
}

// requireAPIError asserts the JSON API error shape.
func requireAPIError(t *testing.T, res *apptest.Result, status int, code string) map[string]any {
	t.Helper()
	require.Equal(t, status, res.Status, "body: %s", res.Body)
	m := res.JSON(t)
	require.Equal(t, code, m["error"], "body: %s", res.Body)
	require.NotEmpty(t, m["message"], "body: %s", res.Body)
	return m
}

// auditRows returns the tenant's audit rows with action.
func auditRows(t *testing.T, srv *apptest.Server, tenantID, action string) []models.AuditLog {
	t.Helper()
	rows, err := srv.Store.ListAuditLogs(t.Context(), models.AuditFilter{TenantID: tenantID, Action: action}, 1000)
	require.NoError(t, err)
	return rows
}

func TestTenantAdminCRUD(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		env := newSystemAdminEnv(t, b, nil)
		srv, tok := env.Server, env.adminToken
		prefix := "zz-" + apptest.RandomID(t, 5)

		res := srv.Call(t, http.MethodPost, "/api/admin/tenants", tok, map[string]any{"slug": prefix + "-one", "name": "One"})
		require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
		created := res.JSON(t)
		id := created["id"].(string)
		require.Equal(t, "active", created["status"])
		require.EqualValues(t, 0, created["audit_retention_days"])
		_, err := srv.Store.GetRoleByName(t.Context(), id, identity.RoleOwner)
		require.NoError(t, err, "a new tenant has its roles seeded")
		rows := auditRows(t, srv, id, identity.AuditTenantCreated)
		require.Len(t, rows, 1)
		require.Equal(t, env.admin.ID, rows[0].ActorID)

		requireAPIError(t, srv.Call(t, http.MethodPost, "/api/admin/tenants", tok, map[string]any{"slug": prefix + "-one", "name": "Again"}), http.StatusConflict, "tenant_exists")
		m := requireAPIError(t, srv.Call(t, http.MethodPost, "/api/admin/tenants", tok, map[string]any{"slug": "Bad Slug!", "name": ""}), http.StatusUnprocessableEntity, "validation_failed")
		require.Contains(t, m["fields"], "slug")
		require.Contains(t, m["fields"], "name")
		requireAPIError(t, srv.Call(t, http.MethodPost, "/api/admin/tenants", tok, "{not json"), http.StatusUnprocessableEntity, "invalid_body")

		for _, s := range []string{"-two", "-three"} {
			res := srv.Call(t, http.MethodPost, "/api/admin/tenants", tok, map[string]any{"slug": prefix + s, "name": "Tenant " + s})
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
			res := srv.Call(t, http.MethodGet, "/api/admin/tenants?"+q.Encode(), tok, nil)
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
		requireAPIError(t, srv.Call(t, http.MethodGet, "/api/admin/tenants?limit=0", tok, nil), http.StatusUnprocessableEntity, "validation_failed")

		res = srv.Call(t, http.MethodGet, "/api/admin/tenants/"+id, tok, nil)
		require.Equal(t, http.StatusOK, res.Status)
		require.Equal(t, prefix+"-one", res.JSON(t)["slug"])
		requireAPIError(t, srv.Call(t, http.MethodGet, "/api/admin/tenants/not-a-uuid", tok, nil), http.StatusNotFound, "tenant_not_found")
		requireAPIError(t, srv.Call(t, http.MethodGet, "/api/admin/tenants/"+uuid.NewString(), tok, nil), http.StatusNotFound, "tenant_not_found")

		res = srv.Call(t, http.MethodPatch, "/api/admin/tenants/"+id, tok, map[string]any{"name": "Renamed", "audit_retention_days": 30, "slug": "ignored"})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		upd := res.JSON(t)
		require.Equal(t, "Renamed", upd["name"])
		require.EqualValues(t, 30, upd["audit_retention_days"])
		require.Equal(t, prefix+"-one", upd["slug"], "the slug does not change")
		require.Len(t, auditRows(t, srv, id, identity.AuditTenantUpdated), 1)
		m = requireAPIError(t, srv.Call(t, http.MethodPatch, "/api/admin/tenants/"+id, tok, map[string]any{"audit_retention_days": -1}), http.StatusUnprocessableEntity, "validation_failed")
		require.Contains(t, m["fields"], "audit_retention_days")
		requireAPIError(t, srv.Call(t, http.MethodPatch, "/api/admin/tenants/"+id, tok, map[string]any{}), http.StatusUnprocessableEntity, "validation_failed")
		requireAPIError(t, srv.Call(t, http.MethodPatch, "/api/admin/tenants/"+id, tok, map[string]any{"name": 12}), http.StatusUnprocessableEntity, "invalid_body")
		requireAPIError(t, srv.Call(t, http.MethodPatch, "/api/admin/tenants/"+uuid.NewString(), tok, map[string]any{"name": "x"}), http.StatusNotFound, "tenant_not_found")

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
			m := requireAPIError(t, srv.Call(t, r.method, r.path, env.ownerToken, map[string]any{"name": "x", "slug": "owner-made"}), http.StatusForbidden, "forbidden")
			require.Equal(t, r.perm, m["required_permission"], "%s %s", r.method, r.path)
			requireAPIError(t, srv.Call(t, r.method, r.path, "", nil), http.StatusUnauthorized, "unauthenticated")
		}

		requireAPIError(t, srv.Call(t, http.MethodDelete, "/api/admin/tenants/"+env.Tenant.ID, tok, nil), http.StatusConflict, "own_tenant")
		res = srv.Call(t, http.MethodDelete, "/api/admin/tenants/"+id, tok, nil)
		require.Equal(t, http.StatusNoContent, res.Status, "%s", res.Body)
		requireAPIError(t, srv.Call(t, http.MethodGet, "/api/admin/tenants/"+id, tok, nil), http.StatusNotFound, "tenant_not_found")
		requireAPIError(t, srv.Call(t, http.MethodDelete, "/api/admin/tenants/"+id, tok, nil), http.StatusNotFound, "tenant_not_found")
		_, err = srv.Store.GetRoleByName(t.Context(), id, identity.RoleOwner)
		require.True(t, models.IsKind(err, models.KindNotFound), "roles go with the tenant")
		del := auditRows(t, srv, env.Tenant.ID, identity.AuditTenantDeleted)
		require.Len(t, del, 1)
		require.Equal(t, env.admin.ID, *del[0].UserID)
	})
}

// victim is a second tenant with a user and a client-credentials client.
type victim struct {
	Tenant *models.Tenant
	User   *models.User
	client *apptest.CreatedClient
}

func newVictim(t *testing.T, srv *apptest.Server) *victim {
	t.Helper()
	slug := "victim-" + apptest.RandomID(t, 6)
	tn, err := srv.CreateTenant(t, slug, "Victim")
	require.NoError(t, err)
	u, err := srv.CreateUser(t, apptest.NewUser{TenantSlug: slug, Email: "vic@" + slug + ".example", Password: apptest.Password})
	require.NoError(t, err)
	cc, err := srv.CreateClient(t, apptest.NewClient{TenantSlug: slug, Name: "svc", GrantTypes: []string{"client_credentials"}, Scopes: []string{"orders.read"}})
	require.NoError(t, err)
	return &victim{Tenant: tn, User: u, client: cc}
}

func ccToken(t *testing.T, srv *apptest.Server, cc *apptest.CreatedClient) *apptest.Result {
	t.Helper()
	return srv.TokenRequest(t, cc, url.Values{"grant_type": {"client_credentials"}, "scope": {"orders.read"}})
}

func TestTenantSuspension(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		env := newSystemAdminEnv(t, b, nil)
		srv, tok := env.Server, env.adminToken
		v := newVictim(t, srv)
		userTok := srv.Login(t, v.Tenant.Slug, v.User.Email, apptest.Password)
		res := ccToken(t, srv, v.client)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		ccTok := res.JSON(t)["access_token"].(string)
		srv.RequireActive(t, env.intro, userTok)
		srv.RequireActive(t, env.intro, ccTok)

		res = srv.Call(t, http.MethodPost, "/api/admin/tenants/"+v.Tenant.ID+"/suspend", tok, nil)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		require.Equal(t, "suspended", res.JSON(t)["status"])
		require.NotNil(t, res.JSON(t)["suspended_at"])

		// At once: existing tokens are dead, new ones are refused.
		srv.RequireInactive(t, env.intro, userTok)
		srv.RequireInactive(t, env.intro, ccTok)
		requireAPIError(t, srv.Call(t, http.MethodGet, "/api/auth/me", userTok, nil), http.StatusUnauthorized, "invalid_token")
		requireAPIError(t, srv.PasswordLogin(t, v.Tenant.Slug, v.User.Email, apptest.Password, nil), http.StatusForbidden, "tenant_suspended")
		requireAPIError(t, srv.PasswordLogin(t, v.Tenant.Slug, v.User.Email, "wrong password!", nil), http.StatusUnauthorized, "invalid_credentials")
		apptest.RequireOAuthError(t, ccToken(t, srv, v.client), http.StatusUnauthorized, "invalid_client")
		// The page login is refused too.
		br := srv.NewBrowser(t)
		page := br.Get(srv.URL + "/login")
		require.Equal(t, http.StatusOK, page.Status)
		f := apptest.ParseForm(t, page)
		f.Fields.Set("tenant", v.Tenant.Slug)
		f.Fields.Set("email", v.User.Email)
		f.Fields.Set("password", apptest.Password)
		after := br.Post(f.Action, f.Fields)
		require.Empty(t, br.Cookie("identity_session"), "no browser session for a suspended tenant: %d", after.Status)
		require.Len(t, auditRows(t, srv, v.Tenant.ID, identity.AuditTenantSuspended), 1)

		requireAPIError(t, srv.Call(t, http.MethodPost, "/api/admin/tenants/"+env.Tenant.ID+"/suspend", tok, nil), http.StatusConflict, "own_tenant")
		requireAPIError(t, srv.Call(t, http.MethodPost, "/api/admin/tenants/"+uuid.NewString()+"/suspend", tok, nil), http.StatusNotFound, "tenant_not_found")
		// Other tenants are untouched.
		srv.RequireActive(t, env.intro, tok)

		res = srv.Call(t, http.MethodPost, "/api/admin/tenants/"+v.Tenant.ID+"/unsuspend", tok, nil)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		require.Equal(t, "active", res.JSON(t)["status"])
		require.Len(t, auditRows(t, srv, v.Tenant.ID, identity.AuditTenantUnsuspended), 1)
		newUserTok := srv.Login(t, v.Tenant.Slug, v.User.Email, apptest.Password)
		srv.RequireActive(t, env.intro, newUserTok)
		res = ccToken(t, srv, v.client)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		srv.RequireActive(t, env.intro, res.JSON(t)["access_token"].(string))
		srv.RequireInactive(t, env.intro, userTok)
		srv.RequireInactive(t, env.intro, ccTok)
	})
}

func TestImpersonation(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		env := newSystemAdminEnv(t, b, func(c *app.Config) { c.ImpersonationTTL = 7 * time.Minute })
		srv, tok := env.Server, env.adminToken
		v := newVictim(t, srv)

		start := time.Now()
		res := srv.Call(t, http.MethodPost, "/api/admin/impersonate", tok, map[string]any{"tenant_id": v.Tenant.ID, "user_id": v.User.ID, "reason": "ticket 4711"})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		imp := res.JSON(t)["access_token"].(string)

		m := srv.RequireActive(t, env.intro, imp)
		require.Equal(t, v.User.ID, m["sub"])
		require.Equal(t, v.Tenant.ID, m["tenant_id"])
		require.Equal(t, map[string]any{"sub": env.admin.ID, "tenant_id": env.Tenant.ID}, m["act"])
		exp := time.Unix(int64(m["exp"].(float64)), 0)
		require.WithinDuration(t, start.Add(7*time.Minute), exp, 10*time.Second, "the token lives IMPERSONATION_TTL_MINUTES")

		me := srv.Call(t, http.MethodGet, "/api/auth/me", imp, nil)
		require.Equal(t, http.StatusOK, me.Status, "%s", me.Body)
		require.Equal(t, v.User.ID, me.JSON(t)["user"].(map[string]any)["id"], "the token acts as the user")
		// It carries none of the admin's powers.
		requireAPIError(t, srv.Call(t, http.MethodGet, "/api/admin/tenants", imp, nil), http.StatusForbidden, "forbidden")
		requireAPIError(t, srv.Call(t, http.MethodPost, "/api/admin/impersonate", imp, map[string]any{"tenant_id": v.Tenant.ID, "user_id": v.User.ID, "reason": "chain"}), http.StatusForbidden, "forbidden")

		// Audited on both sides.
		started := auditRows(t, srv, env.Tenant.ID, identity.AuditImpersonationStarted)
		require.Len(t, started, 1)
		require.Equal(t, env.admin.ID, *started[0].UserID)
		md := map[string]any{}
		require.NoError(t, json.Unmarshal([]byte(started[0].Metadata), &md))
		require.Equal(t, v.User.ID, md["target_user_id"])
		require.Equal(t, v.Tenant.ID, md["target_tenant_id"])
		require.Equal(t, "ticket 4711", md["reason"])
		target := auditRows(t, srv, v.Tenant.ID, identity.AuditImpersonated)
		require.Len(t, target, 1)
		require.Equal(t, v.User.ID, *target[0].UserID)
		require.Equal(t, env.admin.ID, target[0].ActorID)

		tests := []struct {
			name   string
			body   any
			status int
			code   string
		}{
			{"no reason", map[string]any{"tenant_id": v.Tenant.ID, "user_id": v.User.ID}, http.StatusUnprocessableEntity, "validation_failed"},
			{"nothing", map[string]any{}, http.StatusUnprocessableEntity, "validation_failed"},
			{"bad json", "[", http.StatusUnprocessableEntity, "invalid_body"},
			{"unknown tenant", map[string]any{"tenant_id": uuid.NewString(), "user_id": v.User.ID, "reason": "r"}, http.StatusNotFound, "tenant_not_found"},
			{"malformed tenant", map[string]any{"tenant_id": "x'; drop", "user_id": v.User.ID, "reason": "r"}, http.StatusNotFound, "tenant_not_found"},
			{"user of another tenant", map[string]any{"tenant_id": v.Tenant.ID, "user_id": env.User.ID, "reason": "r"}, http.StatusNotFound, "user_not_found"},
			{"a system admin", map[string]any{"tenant_id": env.Tenant.ID, "user_id": env.admin.ID, "reason": "r"}, http.StatusForbidden, "cannot_impersonate"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				requireAPIError(t, srv.Call(t, http.MethodPost, "/api/admin/impersonate", tok, tt.body), tt.status, tt.code)
			})
		}
		require.Len(t, auditRows(t, srv, env.Tenant.ID, identity.AuditImpersonationStarted), 1, "refusals mint nothing")

		// A suspended tenant's users cannot be impersonated.
		require.Equal(t, http.StatusOK, srv.Call(t, http.MethodPost, "/api/admin/tenants/"+v.Tenant.ID+"/suspend", tok, nil).Status)
		srv.RequireInactive(t, env.intro, imp)
		requireAPIError(t, srv.Call(t, http.MethodPost, "/api/admin/impersonate", tok, map[string]any{"tenant_id": v.Tenant.ID, "user_id": v.User.ID, "reason": "r"}), http.StatusConflict, "tenant_suspended")
	})
}
