package handlers_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
)

// TestAuthzCheck: other services ask POST /api/authorizations/check
// {permission} with the caller's token and get {allowed, reason}.
func TestAuthzCheck(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		tenant := newTestTenant(t, srv)
		owner := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleOwner})
		danger := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleOwner, dangerZone: true})
		member := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleMember})
		admin := newRoleUser(t, srv, tenant, userOpts{systemAdmin: true})
		ownerTok, dangerTok := srv.Login(t, tenant.Slug, owner.Email, apptest.Password), srv.Login(t, tenant.Slug, danger.Email, apptest.Password)
		memberTok, adminTok := srv.Login(t, tenant.Slug, member.Email, apptest.Password), srv.Login(t, tenant.Slug, admin.Email, apptest.Password)

		check := func(t *testing.T, token, perm string) map[string]any {
			t.Helper()
			res := srv.Call(t, http.MethodPost, "/api/authorizations/check", token, map[string]any{"permission": perm})
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
			return res.JSON(t)
		}
		tests := []struct {
			name    string
			token   string
			perm    string
			allowed bool
			reason  string
		}{
			{"granted by role", ownerTok, "identity.users.read", true, "granted"},
			{"member holds profile", memberTok, "identity.profile.read", true, "granted"},
			{"missing", memberTok, "identity.users.create", false, "missing_permission"},
			{"owner lacks danger actions", ownerTok, "identity.users.delete", false, "missing_permission"},
			{"danger without elevation", dangerTok, "identity.users.delete", false, "step_up_required"},
			{"danger pattern of another service", dangerTok, "tenant.acme.crm.tasks.delete", false, "step_up_required"},
			{"unknown permission", ownerTok, "warehouse.items.read", false, "missing_permission"},
			{"system admin", adminTok, "admin.tenants.delete", true, "system_admin"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				m := check(t, tt.token, tt.perm)
				require.Equal(t, tt.allowed, m["allowed"], "%v", m)
				require.Equal(t, tt.reason, m["reason"], "%v", m)
			})
		}
		t.Run("danger after step-up", func(t *testing.T) {
			srv.StepUp(t, dangerTok, apptest.Password)
			m := check(t, dangerTok, "identity.users.delete")
			require.Equal(t, true, m["allowed"], "%v", m)
			require.Equal(t, "granted_elevated", m["reason"])
		})
		t.Run("wildcards and bad input are 422", func(t *testing.T) {
			for _, perm := range []string{"identity.*", "*", "", "Identity.Users.Read", "a..b"} {
				res := srv.Call(t, http.MethodPost, "/api/authorizations/check", ownerTok, map[string]any{"permission": perm})
				require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%q: %s", perm, res.Body)
			}
		})
		t.Run("needs a token", func(t *testing.T) {
			requireErrorCode(t, srv.Call(t, http.MethodPost, "/api/authorizations/check", "", map[string]any{"permission": "identity.users.read"}), http.StatusUnauthorized, "unauthenticated")
			requireErrorCode(t, srv.Call(t, http.MethodPost, "/api/authorizations/check", "not-a-token", map[string]any{"permission": "identity.users.read"}), http.StatusUnauthorized, "invalid_token")
		})
		t.Run("introspection carries tenant_id", func(t *testing.T) {
			e := &apptest.Env{Server: srv, Tenant: tenant, User: owner}
			rs := e.ServiceClient(t, nil)
			m := srv.RequireActive(t, rs, ownerTok)
			require.Equal(t, tenant.ID, m["tenant_id"], "%v", m)
			require.Equal(t, owner.ID, m["sub"], "%v", m)
		})
	})
}
