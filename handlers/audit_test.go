package handlers_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

// seedAudit writes n audit rows into tenantID in one transaction: actions
// alternate between test.a and test.b, test.b rows name userID, and every
// row's user agent starts like a spreadsheet formula.
func seedAudit(t *testing.T, srv *apptest.Server, tenantID, userID string, n int) {
	t.Helper()
	ctx := t.Context()
	require.NoError(t, srv.Store.InTx(ctx, func(ctx context.Context) error {
		for i := range n {
			by := identity.Principal{UserID: "seed"}
			ev := identity.Event{TenantID: tenantID, Action: "test.a",
				Meta:     identity.Meta{IP: "192.0.2.1", UserAgent: `=HYPERLINK("x"), "quoted"`},
				Metadata: map[string]any{"i": i}}
			if i%2 == 1 {
				// No principal: the subject is the actor.
				ev.Action, ev.UserID, by = "test.b", userID, identity.Principal{}
			}
			if err := (identity.Auditor{Store: srv.Store}).Record(ctx, by, ev); err != nil {
				return err
			}
		}
		return nil
	}))
}

// tenantAuditCount is how many audit rows the tenant has matching f.
func tenantAuditCount(t *testing.T, srv *apptest.Server, f models.AuditFilter) int {
	t.Helper()
	n := 0
	require.NoError(t, srv.Store.StreamAuditLogs(t.Context(), f, func(*models.AuditLog) error { n++; return nil }))
	return n
}

// auditPages walks every page of path (with query q) and returns the rows.
func auditPages(t *testing.T, srv *apptest.Server, token, path string, q url.Values) []map[string]any {
	t.Helper()
	var out []map[string]any
	for range 1000 {
		res := srv.Call(t, http.MethodGet, path+"?"+q.Encode(), token, nil)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		page := res.JSON(t)
		for _, it := range page["items"].([]any) {
			out = append(out, it.(map[string]any))
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			return out
		}
		q.Set("cursor", next)
	}
	t.Fatal("pagination does not end")
	return nil
}

func TestAuditAPI(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		env := newSystemAdminEnv(t, b, nil)
		srv, tok := env.Server, env.adminToken
		other := newVictim(t, srv)
		seedAudit(t, srv, env.Tenant.ID, env.User.ID, 250)
		seedAudit(t, srv, other.Tenant.ID, other.User.ID, 20)
		total := tenantAuditCount(t, srv, models.AuditFilter{TenantID: env.Tenant.ID})

		// Every row of the tenant, once, newest first; never another tenant's,
		// whatever tenant_id the query names.
		rows := auditPages(t, srv, tok, "/api/audit", url.Values{"limit": {"37"}, "tenant_id": {other.Tenant.ID}})
		require.Len(t, rows, total)
		seen := map[string]bool{}
		var prev time.Time
		for _, r := range rows {
			require.Equal(t, env.Tenant.ID, r["tenant_id"])
			require.False(t, seen[r["id"].(string)])
			seen[r["id"].(string)] = true
			at, err := time.Parse(time.RFC3339Nano, r["created_at"].(string))
			require.NoError(t, err)
			if !prev.IsZero() {
				require.False(t, at.After(prev), "newest first")
			}
			prev = at
		}

		// Filters.
		byAction := auditPages(t, srv, tok, "/api/audit", url.Values{"action": {"test.b"}, "limit": {"100"}})
		require.Len(t, byAction, 125)
		byActor := auditPages(t, srv, tok, "/api/audit", url.Values{"actor": {env.User.ID}, "action": {"test.b"}, "limit": {"100"}})
		require.Len(t, byActor, 125)
		require.Equal(t, map[string]any{"i": float64(249)}, byActor[0]["metadata"])
		byText := auditPages(t, srv, tok, "/api/audit", url.Values{"actor": {"seed"}, "limit": {"100"}})
		require.Len(t, byText, 125)
		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		require.Empty(t, auditPages(t, srv, tok, "/api/audit", url.Values{"from": {future}}))
		require.Len(t, auditPages(t, srv, tok, "/api/audit", url.Values{"to": {future}, "limit": {"100"}}), total)

		for _, q := range []url.Values{
			{"from": {"yesterday"}}, {"to": {"2025-13-01T00:00:00Z"}}, {"cursor": {"garbage"}}, {"limit": {"0"}},
			{"limit": {"1000"}}, {"from": {future}, "to": {"2020-01-01T00:00:00Z"}},
		} {
			m := requireAPIError(t, srv.Call(t, http.MethodGet, "/api/audit?"+q.Encode(), tok, nil), http.StatusUnprocessableEntity, "validation_failed")
			require.NotEmpty(t, m["fields"], "%v", q)
		}

		// The Owner reads the tenant's audit log but cannot export it
		// without the danger-zone grant.
		res := srv.Call(t, http.MethodGet, "/api/audit?limit=1", env.ownerToken, nil)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		m := requireAPIError(t, srv.Call(t, http.MethodGet, "/api/audit/export?format=csv", env.ownerToken, nil), http.StatusForbidden, "forbidden")
		require.Equal(t, "identity.audit.export", m["required_permission"])
		userTok := srv.Login(t, env.Tenant.Slug, env.User.Email, apptest.Password)
		m = requireAPIError(t, srv.Call(t, http.MethodGet, "/api/audit", userTok, nil), http.StatusForbidden, "forbidden")
		require.Equal(t, "identity.audit.read", m["required_permission"])

		// The system admins' view spans tenants and filters by one.
		adminRows := auditPages(t, srv, tok, "/api/admin/audit", url.Values{"tenant_id": {other.Tenant.ID}, "limit": {"100"}})
		require.Len(t, adminRows, tenantAuditCount(t, srv, models.AuditFilter{TenantID: other.Tenant.ID}))
		for _, r := range adminRows {
			require.Equal(t, other.Tenant.ID, r["tenant_id"])
		}
		all := auditPages(t, srv, tok, "/api/admin/audit", url.Values{"action": {"test.a"}, "limit": {"100"}})
		require.Len(t, all, 125+10)
		requireAPIError(t, srv.Call(t, http.MethodGet, "/api/admin/audit?tenant_id=nope", tok, nil), http.StatusUnprocessableEntity, "validation_failed")
	})
}

func TestAuditExport(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		env := newSystemAdminEnv(t, b, nil)
		srv, tok := env.Server, env.adminToken
		other := newVictim(t, srv)
		seedAudit(t, srv, env.Tenant.ID, env.User.ID, 3000)
		seedAudit(t, srv, other.Tenant.ID, other.User.ID, 5)
		// The export is counted before it is audited: the export row is the
		// newest row of the file.
		total := tenantAuditCount(t, srv, models.AuditFilter{TenantID: env.Tenant.ID}) + 1

		res := srv.Call(t, http.MethodGet, "/api/audit/export?format=csv", tok, nil)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		require.Equal(t, "text/csv; charset=utf-8", res.Header.Get("Content-Type"))
		require.True(t, strings.HasPrefix(res.Header.Get("Content-Disposition"), `attachment; filename="audit-`+env.Tenant.ID), res.Header.Get("Content-Disposition"))
		records, err := csv.NewReader(strings.NewReader(string(res.Body))).ReadAll()
		require.NoError(t, err, "the export is valid CSV")
		require.Equal(t, []string{"id", "created_at", "tenant_id", "user_id", "actor_id", "action", "ip_address", "user_agent", "metadata"}, records[0])
		require.Len(t, records, total+1)
		require.Equal(t, identity.AuditExported, records[1][5], "the export itself is audited, first")
		formulas := 0
		for _, r := range records[1:] {
			require.Equal(t, env.Tenant.ID, r[2])
			if r[5] == "test.a" || r[5] == "test.b" {
				require.Equal(t, `'=HYPERLINK("x"), "quoted"`, r[7], "formulas are neutralised")
				formulas++
				var md map[string]any
				require.NoError(t, json.Unmarshal([]byte(r[8]), &md))
			}
		}
		require.Equal(t, 3000, formulas)

		res = srv.Call(t, http.MethodGet, "/api/audit/export?format=json&action=test.b", tok, nil)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		require.Contains(t, res.Header.Get("Content-Type"), "application/json")
		require.Contains(t, res.Header.Get("Content-Disposition"), ".json")
		var items []map[string]any
		require.NoError(t, json.Unmarshal(res.Body, &items), "the export is one JSON array")
		require.Len(t, items, 1500)
		for _, it := range items {
			require.Equal(t, "test.b", it["action"])
			require.Equal(t, env.User.ID, it["user_id"])
		}

		res = srv.Call(t, http.MethodGet, "/api/audit/export?format=json&action=nothing.matches", tok, nil)
		require.Equal(t, http.StatusOK, res.Status)
		require.JSONEq(t, "[]", string(res.Body))

		requireAPIError(t, srv.Call(t, http.MethodGet, "/api/audit/export?format=xml", tok, nil), http.StatusUnprocessableEntity, "validation_failed")
		requireAPIError(t, srv.Call(t, http.MethodGet, "/api/audit/export?from=soon", tok, nil), http.StatusUnprocessableEntity, "validation_failed")
		exports := auditRows(t, srv, env.Tenant.ID, identity.AuditExported)
		require.Len(t, exports, 3, "every export is audited")
		require.Equal(t, env.admin.ID, *exports[0].UserID)
	})
}
