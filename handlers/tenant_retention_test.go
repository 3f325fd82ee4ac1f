package handlers_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

// TestTenantAuditRetention: settings.audit_retention_days is 0 (the
// deployment's AUDIT_RETENTION_DAYS) or within AUDIT_RETENTION_MIN_DAYS ..
// AUDIT_RETENTION_DAYS (422 naming it otherwise), and the pruner applies
// it to the tenant's rows only: rows older than it go, younger ones and
// another tenant's (on the deployment's retention) stay. Row ages are set
// in the database, the clock the pruner compares them with being its own.
func TestTenantAuditRetention(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, func(cfg *app.Config) { cfg.AuditRetention, cfg.AuditRetentionMin = 90, 10 })
		tenant, other := newTestTenant(t, srv), newTestTenant(t, srv)
		owner := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleOwner, dangerZone: true})
		ownerTok := srv.Login(t, tenant.Slug, owner.Email, apptest.Password)
		srv.StepUp(t, ownerTok, apptest.Password)
		patch := func(days any) *apptest.Result {
			return srv.Call(t, http.MethodPatch, "/api/tenant", ownerTok, map[string]any{"settings": map[string]any{"audit_retention_days": days}})
		}
		for _, bad := range []any{-1, 1, 9, 91, 36500, "30"} {
			res := patch(bad)
			require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%v: %s", bad, res.Body)
		}
		m := requireAPIError(t, patch(9), http.StatusUnprocessableEntity, "validation_failed")
		require.Contains(t, m["fields"], "settings.audit_retention_days")
		for _, good := range []int{10, 90, 0, 30} {
			res := patch(good)
			require.Equal(t, http.StatusOK, res.Status, "%d: %s", good, res.Body)
			require.EqualValues(t, good, res.JSON(t)["settings"].(map[string]any)["audit_retention_days"])
		}

		// Rows of both tenants, 20 and 40 days old.
		day := 24 * time.Hour
		var old, young []string
		for _, tn := range []*models.Tenant{tenant, other} {
			for _, age := range []time.Duration{20 * day, 40 * day} {
				row := &models.AuditLog{TenantID: &tn.ID, Action: "test.retention", Metadata: "{}"}
				require.NoError(t, srv.Store.CreateAuditLog(t.Context(), row))
				srv.Exec(t, "UPDATE audit_logs SET created_at = ? WHERE id = ?", time.Now().UTC().Add(-age), row.ID)
				if tn == tenant && age > 30*day {
					old = append(old, row.ID)
				} else {
					young = append(young, row.ID)
				}
			}
		}
		res, err := srv.Pruner.PruneAudit(t.Context(), 0)
		require.NoError(t, err)
		require.EqualValues(t, 90, res.DefaultRetentionDays)
		require.GreaterOrEqual(t, res.Deleted, int64(len(old)))
		left := srv.Strings(t, "SELECT id FROM audit_logs WHERE action = 'test.retention'")
		require.ElementsMatch(t, young, left, "only the 30-day tenant's 40-day-old row is pruned")
	})
}
