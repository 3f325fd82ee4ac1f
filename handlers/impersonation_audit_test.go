package handlers_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
)

// TestImpersonatedActionsAuditTheAdmin is the end-to-end proof of the one
// audit rule (identity.Auditor): a real system administrator impersonates
// a tenant Owner through POST /api/admin/impersonate and, with that token,
// changes the Owner's own profile (self-service), renames another user and
// renames an OAuth client (administration, two services). Every row names
// the administrator as actor_id, the user the action is about as user_id,
// and carries impersonated_by and on_behalf_of; none names the Owner as
// the one who acted.
func TestImpersonatedActionsAuditTheAdmin(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		env := newSystemAdminEnv(t, b, nil)
		srv := env.Server
		web := env.Client(t, apptest.NewClient{Name: "web", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{apptest.RedirectURI}})

		res := srv.Call(t, http.MethodPost, "/api/admin/impersonate", env.adminToken,
			map[string]any{"tenant_id": env.Tenant.ID, "user_id": env.owner.ID, "reason": "ticket 9"})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		imp := res.JSON(t)["access_token"].(string)

		// Self-service: the Owner's own profile.
		res = srv.Call(t, http.MethodPatch, "/api/auth/me", imp, map[string]any{"name": "Changed By Support"})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		// Administration of a user (identity.Users) and of a client
		// (identity.Clients).
		res = srv.Call(t, http.MethodPatch, "/api/users/"+env.User.ID, imp, map[string]any{"name": "Renamed By Support"})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		res = srv.Call(t, http.MethodPatch, "/api/clients/"+web.Client.ID, imp, map[string]any{"name": "Renamed client"})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)

		for _, tt := range []struct {
			action  string
			subject string // the user_id the row must carry
		}{
			{identity.AuditProfileUpdated, env.owner.ID},
			{identity.AuditUserUpdated, env.User.ID},
			{identity.AuditClientUpdated, env.owner.ID},
		} {
			t.Run(tt.action, func(t *testing.T) {
				rows := auditRows(t, srv, env.Tenant.ID, tt.action)
				require.Len(t, rows, 1, "one row per action")
				row := rows[0]
				require.Equal(t, env.admin.ID, row.ActorID, "the admin is the actor")
				require.NotNil(t, row.UserID)
				require.Equal(t, tt.subject, *row.UserID, "the subject is the user acted on")
				md := map[string]any{}
				require.NoError(t, json.Unmarshal([]byte(row.Metadata), &md))
				require.Equal(t, env.admin.ID, md["impersonated_by"], "metadata: %s", row.Metadata)
				require.Equal(t, env.owner.ID, md["on_behalf_of"], "metadata: %s", row.Metadata)
			})
		}

		// The Owner itself never appears as having acted while impersonated.
		for _, action := range []string{identity.AuditProfileUpdated, identity.AuditUserUpdated, identity.AuditClientUpdated} {
			for _, row := range auditRows(t, srv, env.Tenant.ID, action) {
				require.NotEqual(t, env.owner.ID, row.ActorID, "%s names the impersonated user as actor", action)
			}
		}
		// And the impersonation itself names the admin on both sides.
		started := auditRows(t, srv, env.Tenant.ID, identity.AuditImpersonationStarted)
		require.Len(t, started, 1)
		require.Equal(t, env.admin.ID, started[0].ActorID)
		impersonated := auditRows(t, srv, env.Tenant.ID, identity.AuditImpersonated)
		require.Len(t, impersonated, 1)
		require.Equal(t, env.admin.ID, impersonated[0].ActorID)
		require.Equal(t, env.owner.ID, deref(impersonated[0].UserID))
	})
}

// deref is the text of an optional column ("" for NULL).
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
