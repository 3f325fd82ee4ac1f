package handlers_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/handlers"
	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

// Authorization fixtures shared by the step-up, isolation and
// authorizations/check tests.

// newTestTenant creates a tenant (its roles and danger-zone policy are seeded).
func newTestTenant(t *testing.T, srv *apptest.Server) *models.Tenant {
	t.Helper()
	slug := "az-" + apptest.RandomID(t, 8)
	tenant, err := srv.CreateTenant(t, slug, "Tenant "+slug)
	require.NoError(t, err)
	return tenant
}

// userOpts say what a test user holds.
type userOpts struct {
	role        string // a seeded role name, or ""
	dangerZone  bool   // also holds the Danger Zone policy
	systemAdmin bool
}

// newRoleUser creates a user in tenant with apptest.Password.
func newRoleUser(t *testing.T, srv *apptest.Server, tenant *models.Tenant, o userOpts) *models.User {
	t.Helper()
	u, err := srv.CreateUser(t, apptest.NewUser{
		TenantSlug: tenant.Slug, Email: "u-" + apptest.RandomID(t, 8) + "@example.com", Password: apptest.Password,
		Name: "Test User", Role: o.role, SystemAdmin: o.systemAdmin,
	})
	require.NoError(t, err)
	if o.dangerZone {
		policyID := srv.Scalar(t, fmt.Sprintf("SELECT id FROM policies WHERE tenant_id = %s AND name = %s", sqlQuote(tenant.ID), sqlQuote(identity.DangerZonePolicy)))
		srv.Exec(t, fmt.Sprintf("INSERT INTO policy_assignments (tenant_id, principal_id, principal_type, policy_id, created_at) VALUES (%s, %s, 'user', %s, CURRENT_TIMESTAMP)",
			sqlQuote(tenant.ID), sqlQuote(u.ID), sqlQuote(policyID)))
	}
	return u
}

// sqlQuote quotes a SQL string literal (the tests build SQL that runs unchanged
// on SQLite and PostgreSQL, whose placeholders differ).
func sqlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// routeInfo is one registered route with its authorization metadata.
type routeInfo struct {
	Method, Path, Permission string
	Scoped                   bool
}

// routesOf reads the route table (handlers.Routes): every route that
// checks a permission.
func routesOf(*apptest.Server) []routeInfo {
	var out []routeInfo
	for _, r := range handlers.Routes() {
		if r.Auth != handlers.AuthPermission {
			continue
		}
		out = append(out, routeInfo{Method: r.Method, Path: r.Path, Permission: r.Permission, Scoped: r.TenantScoped})
	}
	return out
}

// dangerProbe finds a registered, tenant-scoped danger route with path
// parameters and returns it with every parameter set to a random UUID: the
// gate decides before the handler, and past the gate the handler answers
// 404 without touching anything.
func dangerProbe(t *testing.T, srv *apptest.Server) (routeInfo, string) {
	t.Helper()
	for _, r := range routesOf(srv) {
		if r.Scoped && strings.Contains(r.Path, ":") && identity.IsDangerAction(r.Permission) && r.Method == http.MethodDelete {
			return r, oaParamRE.ReplaceAllStringFunc(r.Path, func(string) string { return uuid.NewString() })
		}
	}
	t.Fatalf("no tenant-scoped DELETE route with a danger permission is registered; the step-up gate cannot be exercised")
	return routeInfo{}, ""
}

// requireErrorCode asserts a JSON API error; code "" accepts any code
// (404s name the kind of object: "user_not_found", …).
func requireErrorCode(t *testing.T, res *apptest.Result, status int, code string) map[string]any {
	t.Helper()
	require.Equal(t, status, res.Status, "body: %s", res.Body)
	m := res.JSON(t)
	if code != "" {
		require.Equal(t, code, m["error"], "body: %s", res.Body)
	}
	return m
}

func TestStepUpDangerPatterns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		perm string
		want bool
	}{
		{"identity.users.delete", true},
		{"identity.users.read", false},
		{"identity.oauth_client.rotate", true},
		{"tenant.acme.crm.tasks.delete", true},
		{"tenant.x.y.crm.tasks.delete", false}, // * is exactly one segment
		{"tenant.acme.crm.tasks", false},
		{"tenant.acme.webshop.orders.refund", true},
		{"tenant.acme.ws_proxy.keys.rotate", true},
		{"crm.tasks.delete", false},
	}
	for _, tt := range tests {
		t.Run(tt.perm, func(t *testing.T) {
			require.Equal(t, tt.want, identity.IsDangerAction(tt.perm))
		})
	}
	require.GreaterOrEqual(t, len(identity.DangerActions), 30, "about 36 danger patterns")
	for _, p := range identity.SystemRoles()[identity.RoleOwner] {
		require.False(t, identity.IsDangerAction(p), "Owner must not carry danger permission %s", p)
	}
}

func TestStepUpGate(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		tenant := newTestTenant(t, srv)
		owner := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleOwner, dangerZone: true})
		member := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleMember})
		admin := newRoleUser(t, srv, tenant, userOpts{systemAdmin: true})
		route, path := dangerProbe(t, srv)
		t.Logf("probing the gate with %s %s (%s)", route.Method, route.Path, route.Permission)

		tok := srv.Login(t, tenant.Slug, owner.Email, apptest.Password)
		t.Run("unelevated is step_up_required", func(t *testing.T) {
			m := requireErrorCode(t, srv.Call(t, route.Method, path, tok, nil), http.StatusForbidden, "step_up_required")
			require.Equal(t, route.Permission, m["required_permission"])
			su, ok := m["step_up"].(map[string]any)
			require.True(t, ok, "step_up object: %v", m)
			require.Equal(t, "/api/auth/step-up", su["request_endpoint"])
			require.Equal(t, "/api/auth/step-up/status", su["status_endpoint"])
			require.EqualValues(t, srv.Config.StepUpTTL.Seconds(), su["ttl_seconds"])
		})
		t.Run("status before", func(t *testing.T) {
			res := srv.Call(t, http.MethodGet, "/api/auth/step-up/status", tok, nil)
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
			require.Equal(t, false, res.JSON(t)["elevated"])
		})
		t.Run("wrong password does not elevate", func(t *testing.T) {
			res := srv.Call(t, http.MethodPost, "/api/auth/step-up", tok, map[string]any{"password": "wrong password!"})
			require.Equal(t, http.StatusUnauthorized, res.Status, "%s", res.Body)
			requireErrorCode(t, srv.Call(t, route.Method, path, tok, nil), http.StatusForbidden, "step_up_required")
		})
		t.Run("elevated passes", func(t *testing.T) {
			srv.StepUp(t, tok, apptest.Password)
			res := srv.Call(t, http.MethodGet, "/api/auth/step-up/status", tok, nil)
			require.Equal(t, http.StatusOK, res.Status)
			m := res.JSON(t)
			require.Equal(t, true, m["elevated"])
			rem, _ := m["remaining_seconds"].(float64)
			require.True(t, rem > 0 && rem <= srv.Config.StepUpTTL.Seconds(), "remaining_seconds %v", rem)
			// Past the gate: the handler answers for the random id.
			requireErrorCode(t, srv.Call(t, route.Method, path, tok, nil), http.StatusNotFound, "")
		})
		t.Run("elevation is per session", func(t *testing.T) {
			other := srv.Login(t, tenant.Slug, owner.Email, apptest.Password)
			requireErrorCode(t, srv.Call(t, route.Method, path, other, nil), http.StatusForbidden, "step_up_required")
		})
		t.Run("DELETE ends it", func(t *testing.T) {
			res := srv.Call(t, http.MethodDelete, "/api/auth/step-up", tok, nil)
			require.Equal(t, http.StatusNoContent, res.Status, "%s", res.Body)
			require.Equal(t, false, srv.Call(t, http.MethodGet, "/api/auth/step-up/status", tok, nil).JSON(t)["elevated"])
			requireErrorCode(t, srv.Call(t, route.Method, path, tok, nil), http.StatusForbidden, "step_up_required")
		})
		t.Run("system admin bypasses", func(t *testing.T) {
			atok := srv.Login(t, tenant.Slug, admin.Email, apptest.Password)
			requireErrorCode(t, srv.Call(t, route.Method, path, atok, nil), http.StatusNotFound, "")
		})
		t.Run("no permission is plain forbidden", func(t *testing.T) {
			mtok := srv.Login(t, tenant.Slug, member.Email, apptest.Password)
			srv.StepUp(t, mtok, apptest.Password) // elevation never grants a permission
			m := requireErrorCode(t, srv.Call(t, route.Method, path, mtok, nil), http.StatusForbidden, "forbidden")
			require.Equal(t, route.Permission, m["required_permission"])
			require.NotContains(t, m, "step_up")
		})
		t.Run("unauthenticated is 401", func(t *testing.T) {
			requireErrorCode(t, srv.Call(t, route.Method, path, "", nil), http.StatusUnauthorized, "unauthenticated")
			requireErrorCode(t, srv.Call(t, http.MethodPost, "/api/auth/step-up", "", map[string]any{"password": apptest.Password}), http.StatusUnauthorized, "unauthenticated")
		})
		// Issue 8: a factor enrolled in a session cannot elevate that
		// session (a stolen token alone must not reach a danger action);
		// another session of the user may use it, and the password always
		// works.
		t.Run("by PIN", func(t *testing.T) {
			u := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleOwner, dangerZone: true})
			ptok := srv.Login(t, tenant.Slug, u.Email, apptest.Password)
			other := srv.Login(t, tenant.Slug, u.Email, apptest.Password)
			res := srv.Call(t, http.MethodPut, "/api/auth/pin", ptok, map[string]any{"pin": "482916", "password": apptest.Password})
			require.Equal(t, http.StatusNoContent, res.Status, "set PIN: %s", res.Body)
			requireErrorCode(t, srv.Call(t, http.MethodPost, "/api/auth/step-up", ptok, map[string]any{"pin": "482916"}), http.StatusForbidden, "factor_enrolled_in_session")
			requireErrorCode(t, srv.Call(t, route.Method, path, ptok, nil), http.StatusForbidden, "step_up_required")
			res = srv.Call(t, http.MethodPost, "/api/auth/step-up", other, map[string]any{"pin": "000000"})
			require.Equal(t, http.StatusUnauthorized, res.Status, "wrong PIN: %s", res.Body)
			requireErrorCode(t, srv.Call(t, route.Method, path, other, nil), http.StatusForbidden, "step_up_required")
			res = srv.Call(t, http.MethodPost, "/api/auth/step-up", other, map[string]any{"pin": "482916", "reason": "pin"})
			require.Equal(t, http.StatusOK, res.Status, "step-up by PIN: %s", res.Body)
			requireErrorCode(t, srv.Call(t, route.Method, path, other, nil), http.StatusNotFound, "")
			res = srv.Call(t, http.MethodPost, "/api/auth/step-up", ptok, map[string]any{"password": apptest.Password})
			require.Equal(t, http.StatusOK, res.Status, "the password elevates the enrolling session: %s", res.Body)
		})
		t.Run("by TOTP code", func(t *testing.T) {
			u := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleOwner, dangerZone: true})
			ttok := srv.Login(t, tenant.Slug, u.Email, apptest.Password)
			other := srv.Login(t, tenant.Slug, u.Email, apptest.Password)
			// Set-up and confirmation need the password.
			requireErrorCode(t, srv.Call(t, http.MethodPost, "/api/auth/2fa/setup", ttok, map[string]any{}), http.StatusForbidden, "password_required")
			res := srv.Call(t, http.MethodPost, "/api/auth/2fa/setup", ttok, map[string]any{"password": apptest.Password})
			require.Equal(t, http.StatusOK, res.Status, "2fa setup: %s", res.Body)
			secret, _ := res.JSON(t)["secret"].(string)
			require.NotEmpty(t, secret)
			code := func(at time.Time) string {
				c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
				require.NoError(t, err)
				return c
			}
			now := time.Now()
			requireErrorCode(t, srv.Call(t, http.MethodPost, "/api/auth/2fa/enable", ttok, map[string]any{"code": code(now)}), http.StatusForbidden, "password_required")
			res = srv.Call(t, http.MethodPost, "/api/auth/2fa/enable", ttok, map[string]any{"code": code(now), "password": apptest.Password})
			require.Equal(t, http.StatusOK, res.Status, "2fa enable: %s", res.Body)
			requireErrorCode(t, srv.Call(t, route.Method, path, ttok, nil), http.StatusForbidden, "step_up_required")
			// The next time step: the enabling code's step is spent.
			requireErrorCode(t, srv.Call(t, http.MethodPost, "/api/auth/step-up", ttok, map[string]any{"code": code(now.Add(30 * time.Second))}), http.StatusForbidden, "factor_enrolled_in_session")
			requireErrorCode(t, srv.Call(t, route.Method, path, ttok, nil), http.StatusForbidden, "step_up_required")
			res = srv.Call(t, http.MethodPost, "/api/auth/step-up", other, map[string]any{"code": code(now.Add(30 * time.Second)), "reason": "totp"})
			require.Equal(t, http.StatusOK, res.Status, "step-up by code: %s", res.Body)
			requireErrorCode(t, srv.Call(t, route.Method, path, other, nil), http.StatusNotFound, "")
		})
		t.Run("audited", func(t *testing.T) {
			n := srv.Scalar(t, fmt.Sprintf("SELECT COUNT(*) FROM audit_logs WHERE tenant_id = %s AND user_id = %s AND action = %s",
				sqlQuote(tenant.ID), sqlQuote(owner.ID), sqlQuote(identity.AuditStepUp)))
			require.NotEqual(t, "0", n, "step-up is audited")
		})
	})
}

// TestStepUpSeenBySecondInstance: two servers on one database and one Redis
// are one deployment; an elevation on one is honoured by the other.
func TestStepUpSeenBySecondInstance(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		if b.RedisURL == "" {
			t.Skip("IDENTITY_TEST_REDIS_URL is unset: step-up flags are shared across instances only through Redis")
		}
		one := apptest.Start(t, apptest.Config(t, b), nil)
		two := apptest.Start(t, apptest.Config(t, b), nil)
		tenant := newTestTenant(t, one)
		owner := newRoleUser(t, one, tenant, userOpts{role: identity.RoleOwner, dangerZone: true})
		route, path := dangerProbe(t, two)
		tok := one.Login(t, tenant.Slug, owner.Email, apptest.Password)

		requireErrorCode(t, two.Call(t, route.Method, path, tok, nil), http.StatusForbidden, "step_up_required")
		one.StepUp(t, tok, apptest.Password)
		res := two.Call(t, http.MethodGet, "/api/auth/step-up/status", tok, nil)
		require.Equal(t, true, res.JSON(t)["elevated"], "instance two sees the elevation: %s", res.Body)
		requireErrorCode(t, two.Call(t, route.Method, path, tok, nil), http.StatusNotFound, "")

		require.Equal(t, http.StatusNoContent, two.Call(t, http.MethodDelete, "/api/auth/step-up", tok, nil).Status)
		requireErrorCode(t, one.Call(t, route.Method, path, tok, nil), http.StatusForbidden, "step_up_required")
	})
}
