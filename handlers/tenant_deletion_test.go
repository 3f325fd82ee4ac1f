package handlers_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
)

// tenantTables returns every table of the schema with a tenant_id column.
func tenantTables(t *testing.T, srv *apptest.Server) []string {
	t.Helper()
	if srv.Store.Dialect() == storage.Postgres {
		return srv.Strings(t, "SELECT table_name FROM information_schema.columns WHERE column_name = 'tenant_id' AND table_schema = current_schema() ORDER BY table_name")
	}
	return srv.Strings(t, "SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' AND p.name = 'tenant_id' ORDER BY m.name")
}

// tenantRowCounts counts the rows of tenantID in every table with a
// tenant_id column, and its tenants row.
func tenantRowCounts(t *testing.T, srv *apptest.Server, tenantID string) map[string]int {
	t.Helper()
	out := map[string]int{"tenants": srv.Int(t, "SELECT COUNT(*) FROM tenants WHERE id = ?", tenantID)}
	for _, table := range tenantTables(t, srv) {
		out[table] = srv.Int(t, "SELECT COUNT(*) FROM "+table+" WHERE tenant_id = ?", tenantID)
	}
	return out
}

// TestOwnTenantDeletion: DELETE /api/tenant and POST /api/tenant/restore on
// both backends. The permission (identity.tenants.delete: the Danger Zone
// policy, not the Admin nor the plain Owner role) and a step-up are needed,
// and the slug as confirmation; scheduling ends every token of the tenant
// and mails its Owners; during the grace period members other than Owners
// cannot sign in, its clients get no token (tenant_pending_deletion) and
// its API keys stop, while an Owner signs in and restores it. Scheduled
// again and past the grace period (an injected clock), the pruner deletes
// the tenant and every row it owns, in every table, its audit rows too,
// writes one tenant.deleted row as the system, leaves the other tenant
// alone, and nothing can be restored.
func TestOwnTenantDeletion(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		srv := e.Server
		mail := srv.CaptureMail()
		tenant := e.Tenant
		owner := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleOwner, dangerZone: true})
		plainOwner := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleOwner})
		admin := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleAdmin})
		member := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleMember})
		cc := e.ServiceClient(t, nil)
		ownerTok := srv.Login(t, tenant.Slug, owner.Email, apptest.Password)
		adminTok := srv.Login(t, tenant.Slug, admin.Email, apptest.Password)
		plainOwnerTok := srv.Login(t, tenant.Slug, plainOwner.Email, apptest.Password)
		memberTok := srv.Login(t, tenant.Slug, member.Email, apptest.Password)
		require.Equal(t, http.StatusOK, ccToken(t, srv, cc).Status)
		// A bystander tenant, with a user, a client and a token.
		by := apptest.Seed(t, srv)
		byCC := by.ServiceClient(t, nil)
		byTok := srv.Login(t, by.Tenant.Slug, by.User.Email, apptest.Password)
		confirm := map[string]any{"confirm": tenant.Slug}

		t.Run("refusals", func(t *testing.T) {
			for _, tok := range []string{adminTok, plainOwnerTok, memberTok} {
				m := requireAPIError(t, srv.Call(t, http.MethodDelete, "/api/tenant", tok, confirm), http.StatusForbidden, "forbidden")
				require.Equal(t, identity.PermTenantsDelete, m["required_permission"])
				m = requireAPIError(t, srv.Call(t, http.MethodPost, "/api/tenant/restore", tok, nil), http.StatusForbidden, "forbidden")
				require.Equal(t, identity.PermTenantsDelete, m["required_permission"])
			}
			requireErrorCode(t, srv.Call(t, http.MethodDelete, "/api/tenant", ownerTok, confirm), http.StatusForbidden, "step_up_required")
			srv.StepUp(t, ownerTok, apptest.Password)
			for _, body := range []any{map[string]any{"confirm": by.Tenant.Slug}, map[string]any{"confirm": ""}, map[string]any{}, nil} {
				m := requireAPIError(t, srv.Call(t, http.MethodDelete, "/api/tenant", ownerTok, body), http.StatusUnprocessableEntity, "validation_failed")
				require.Contains(t, m["fields"], "confirm")
			}
			requireAPIError(t, srv.Call(t, http.MethodPost, "/api/tenant/restore", ownerTok, nil), http.StatusConflict, "tenant_not_pending_deletion")
			got := srv.Call(t, http.MethodGet, "/api/tenant", ownerTok, nil).JSON(t)
			require.Nil(t, got["deletes_at"])
			require.Nil(t, got["deletion_scheduled_at"])
		})

		t.Run("grace period", func(t *testing.T) {
			invitee := "invitee." + tenant.Slug + "@example.com"
			requireAnswer(t, srv.Call(t, http.MethodPost, "/api/invitations", ownerTok, map[string]any{"email": invitee, "roles": []string{identity.RoleMember}}),
				http.StatusCreated, "")
			invTok, _ := invToken(t, srv, mail, invitee)
			before := time.Now()
			res := srv.Call(t, http.MethodDelete, "/api/tenant", ownerTok, confirm)
			require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
			m := res.JSON(t)
			deletesAt, err := time.Parse(time.RFC3339Nano, m["deletes_at"].(string))
			require.NoError(t, err)
			require.WithinDuration(t, before.Add(identity.DefaultTenantDeletionGrace), deletesAt, time.Minute, "30 days by default")
			require.NotNil(t, m["deletion_scheduled_at"])
			require.Len(t, auditRows(t, srv, tenant.ID, identity.AuditTenantDeletionScheduled), 1)
			for _, u := range []*models.User{owner, plainOwner} {
				require.Len(t, mail.To(u.Email, "scheduled for deletion"), 1, "each Owner is told")
			}
			require.Empty(t, mail.To(admin.Email, "scheduled for deletion"))

			// Every token of the tenant ended, the caller's too; the bystander's did not.
			for _, tok := range []string{ownerTok, adminTok, memberTok, plainOwnerTok} {
				requireErrorCode(t, srv.Call(t, http.MethodGet, "/api/auth/me", tok, nil), http.StatusUnauthorized, "")
			}
			require.Zero(t, srv.Int(t, "SELECT COUNT(*) FROM oauth_access_tokens WHERE tenant_id = ?", tenant.ID))
			require.Equal(t, http.StatusOK, srv.Call(t, http.MethodGet, "/api/auth/me", byTok, nil).Status)
			require.Equal(t, http.StatusOK, ccToken(t, srv, byCC).Status)

			// Members other than Owners cannot sign in; a wrong password
			// learns nothing.
			for _, u := range []*models.User{admin, member} {
				requireAPIError(t, srv.PasswordLogin(t, tenant.Slug, u.Email, apptest.Password, nil), http.StatusForbidden, "tenant_pending_deletion")
				requireAPIError(t, srv.PasswordLogin(t, tenant.Slug, u.Email, "wrong password!", nil), http.StatusUnauthorized, "invalid_credentials")
			}
			// An invitation sent before cannot be accepted: no account is made.
			requireAPIError(t, srv.Call(t, http.MethodPost, "/api/invitations/accept", "",
				map[string]any{"token": invTok, "name": "Ivy Invitee", "password": invPassword}), http.StatusForbidden, "tenant_pending_deletion")
			require.Zero(t, srv.Int(t, "SELECT COUNT(*) FROM users WHERE email = ?", invitee))
			// Its clients get no token, with the reason named.
			res = ccToken(t, srv, cc)
			apptest.RequireOAuthError(t, res, http.StatusUnauthorized, "invalid_client")
			require.Contains(t, res.JSON(t)["error_description"], "tenant_pending_deletion")

			// An Owner signs in, sees the date and restores.
			tok := srv.Login(t, tenant.Slug, owner.Email, apptest.Password)
			got := srv.Call(t, http.MethodGet, "/api/tenant", tok, nil).JSON(t)
			require.NotNil(t, got["deletes_at"])
			requireErrorCode(t, srv.Call(t, http.MethodPost, "/api/tenant/restore", tok, nil), http.StatusForbidden, "step_up_required")
			srv.StepUp(t, tok, apptest.Password)
			requireAPIError(t, srv.Call(t, http.MethodDelete, "/api/tenant", tok, confirm), http.StatusConflict, "tenant_pending_deletion")
			res = srv.Call(t, http.MethodPost, "/api/tenant/restore", tok, nil)
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
			require.Nil(t, res.JSON(t)["deletes_at"])
			require.Len(t, auditRows(t, srv, tenant.ID, identity.AuditTenantDeletionCancelled), 1)
			srv.Login(t, tenant.Slug, member.Email, apptest.Password)
			require.Equal(t, http.StatusOK, ccToken(t, srv, cc).Status)
			requireAPIError(t, srv.Call(t, http.MethodPost, "/api/tenant/restore", tok, nil), http.StatusConflict, "tenant_not_pending_deletion")
			ownerTok = tok
		})

		t.Run("pruned after the grace period", func(t *testing.T) {
			// More of what a tenant owns: an invitation, a push registration.
			res := srv.Call(t, http.MethodPost, "/api/invitations", ownerTok, map[string]any{"email": "new@example.com", "roles": []string{identity.RoleMember}})
			require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
			res = srv.Call(t, http.MethodPost, "/api/push-devices", ownerTok, map[string]any{"platform": "fcm", "token": "fcm:" + strings.Repeat(apptest.RandomID(t, 20), 6), "app_id": "com.example"})
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
			byBefore := tenantRowCounts(t, srv, by.Tenant.ID)

			res = srv.Call(t, http.MethodDelete, "/api/tenant", ownerTok, confirm)
			require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
			deletesAt, err := time.Parse(time.RFC3339Nano, res.JSON(t)["deletes_at"].(string))
			require.NoError(t, err)
			graceTok := srv.Login(t, tenant.Slug, plainOwner.Email, apptest.Password)

			pr, err := srv.PruneTenantsAt(t, deletesAt.Add(-time.Minute))
			require.NoError(t, err)
			require.Zero(t, pr.Deleted, "not due yet")
			require.Equal(t, 1, tenantRowCounts(t, srv, tenant.ID)["tenants"])

			pr, err = srv.PruneTenantsAt(t, deletesAt.Add(time.Minute))
			require.NoError(t, err)
			require.Equal(t, 1, pr.Deleted)
			require.Equal(t, []string{tenant.ID}, pr.TenantIDs)
			counts := tenantRowCounts(t, srv, tenant.ID)
			require.Greater(t, len(counts), 15, "the tables with a tenant_id: %v", counts)
			for table, n := range counts {
				require.Zero(t, n, "%s rows of the deleted tenant", table)
			}
			require.Equal(t, byBefore, tenantRowCounts(t, srv, by.Tenant.ID), "the bystander keeps every row")
			require.Equal(t, http.StatusOK, srv.Call(t, http.MethodGet, "/api/auth/me", byTok, nil).Status)

			// One system row says what was deleted.
			rows := srv.RowMaps(t, "SELECT tenant_id, actor_id, metadata FROM audit_logs WHERE action = ?", identity.AuditTenantPurged)
			var found int
			for _, r := range rows {
				var md map[string]any
				require.NoError(t, json.Unmarshal([]byte(r["metadata"]), &md))
				if md["tenant_id"] == tenant.ID {
					found++
					require.Empty(t, r["tenant_id"], "written with no tenant")
					require.Empty(t, r["actor_id"], "by the system")
					require.Equal(t, tenant.Slug, md["slug"])
					require.False(t, strings.Contains(r["metadata"], owner.Email), "no e-mail in it")
				}
			}
			require.Equal(t, 1, found)

			// Nothing to restore: the tokens and the tenant are gone.
			requireErrorCode(t, srv.Call(t, http.MethodPost, "/api/tenant/restore", graceTok, nil), http.StatusUnauthorized, "")
			requireAPIError(t, srv.PasswordLogin(t, tenant.Slug, owner.Email, apptest.Password, nil), http.StatusUnauthorized, "invalid_credentials")
			_, err = srv.Tenants.Restore(t.Context(), identity.SystemActor(""), tenant.Slug)
			require.True(t, models.IsKind(err, models.KindNotFound), "%v", err)
			pr, err = srv.PruneTenantsAt(t, deletesAt.Add(time.Hour))
			require.NoError(t, err)
			require.Zero(t, pr.Deleted, "deleted once")
		})
	})
}
