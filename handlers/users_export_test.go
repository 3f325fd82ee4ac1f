package handlers_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

var wantUserExportColumns = []string{"id", "email", "name", "email_verified", "is_active", "locked", "locked_until",
	"two_factor", "two_factor_method", "force_password_change", "is_system_admin", "roles",
	"password_changed_at", "created_at", "updated_at"}

// exportCSV calls the users export as CSV and returns its records by
// e-mail (the header checked).
func exportCSV(t *testing.T, srv *apptest.Server, tok string, q url.Values) map[string]map[string]string {
	t.Helper()
	q.Set("format", "csv")
	res := srv.Call(t, http.MethodGet, "/api/users/export?"+q.Encode(), tok, nil)
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	require.Equal(t, "text/csv; charset=utf-8", res.Header.Get("Content-Type"))
	require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	records, err := csv.NewReader(bytes.NewReader(res.Body)).ReadAll()
	require.NoError(t, err, "the export is valid CSV")
	return byEmail(t, records)
}

func byEmail(t *testing.T, records [][]string) map[string]map[string]string {
	t.Helper()
	require.NotEmpty(t, records)
	require.Equal(t, wantUserExportColumns, records[0])
	out := map[string]map[string]string{}
	for _, r := range records[1:] {
		m := map[string]string{}
		for i, col := range records[0] {
			m[col] = r[i]
		}
		require.NotContains(t, out, m["email"], "each user once")
		out[m["email"]] = m
	}
	return out
}

func keys(m map[string]map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestUsersExport(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		tenant := newTestTenant(t, srv)
		// An Admin with the Danger Zone policy, stepped up: the export is a
		// danger action, like the audit export.
		admin := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleAdmin, dangerZone: true})
		tok := srv.Login(t, tenant.Slug, admin.Email, apptest.Password)
		owner := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleOwner})
		ownerTok := srv.Login(t, tenant.Slug, owner.Email, apptest.Password)
		manager := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleManager})
		memberTok := srv.Login(t, tenant.Slug, manager.Email, apptest.Password)

		// Users whose names (and one e-mail) a spreadsheet would run as formulas.
		formulas := map[string]string{
			"eq@example.com":   `=HYPERLINK("https://evil.example","x")`,
			"plus@example.com": "+1+1",
			"dash@example.com": "-2+3",
			"at@example.com":   "@SUM(A1)",
			"tab@example.com":  "\tTab",
			"cr@example.com":   "\rCR",
		}
		for email := range formulas {
			newNamedUser(t, srv, tenant.Slug, email, "placeholder")
		}
		for email, name := range formulas {
			srv.Exec(t, "UPDATE users SET name = ? WHERE tenant_id = ? AND email = ?", name, tenant.ID, email)
		}
		inactive := newNamedUser(t, srv, tenant.Slug, "gone@example.com", "Gone")
		srv.Exec(t, "UPDATE users SET is_active = ? WHERE id = ?", false, inactive)
		newNamedUser(t, srv, tenant.Slug, "=cmd@example.com", "Formula Mail")

		// Another tenant's users never appear, whatever the query names.
		victim := newVictim(t, srv)
		newNamedUser(t, srv, victim.Tenant.Slug, "eq@example.com", "Same address, other tenant")

		tenantEmails := srv.Strings(t, "SELECT email FROM users WHERE tenant_id = ? ORDER BY email", tenant.ID)
		// As a CSV shows them: a leading = gets an apostrophe.
		csvEmails := make([]string, len(tenantEmails))
		for i, e := range tenantEmails {
			if strings.HasPrefix(e, "=") {
				e = "'" + e
			}
			csvEmails[i] = e
		}
		slices.Sort(csvEmails)

		// Unelevated: step-up first.
		requireErrorCode(t, srv.Call(t, http.MethodGet, "/api/users/export", tok, nil), http.StatusForbidden, "step_up_required")
		srv.StepUp(t, tok, apptest.Password)

		t.Run("csv", func(t *testing.T) {
			res := srv.Call(t, http.MethodGet, "/api/users/export?format=csv&tenant_id="+victim.Tenant.ID, tok, nil)
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
			require.True(t, strings.HasPrefix(res.Header.Get("Content-Disposition"), `attachment; filename="users-`+tenant.ID+"-"),
				res.Header.Get("Content-Disposition"))
			require.True(t, strings.HasSuffix(res.Header.Get("Content-Disposition"), `.csv"`))
			require.NotContains(t, string(res.Body), "$2a$", "no password hash")
			records, err := csv.NewReader(bytes.NewReader(res.Body)).ReadAll()
			require.NoError(t, err)
			rows := byEmail(t, records)
			require.Equal(t, csvEmails, keys(rows), "every user of the tenant, once, and no other tenant's")
			for email, name := range formulas {
				require.Equal(t, "'"+name, rows[email]["name"], "formula neutralised for %s", email)
			}
			require.Equal(t, "'=cmd@example.com", records[1][1], "e-mail cells too; ordered by e-mail")
			require.Equal(t, "false", rows["gone@example.com"]["is_active"])
			require.Equal(t, "true", rows[admin.Email]["is_active"])
			require.Equal(t, identity.RoleAdmin, rows[admin.Email]["roles"])
			require.Equal(t, admin.ID, rows[admin.Email]["id"])
			require.NotEmpty(t, rows[admin.Email]["created_at"])
			for _, r := range rows {
				for col := range r {
					require.NotContains(t, col, "hash")
					require.NotContains(t, col, "secret")
				}
			}
			// No query: CSV is the default.
			require.Equal(t, csvEmails, keys(exportCSV(t, srv, tok, url.Values{})))
		})

		t.Run("filters", func(t *testing.T) {
			tests := []struct {
				name string
				q    url.Values
				want []string
			}{
				{"inactive", url.Values{"is_active": {"false"}}, []string{"gone@example.com"}},
				{"role by name", url.Values{"role": {identity.RoleManager}}, []string{manager.Email}},
				{"search", url.Values{"q": {"Formula"}}, []string{"'=cmd@example.com"}},
				{"two factor", url.Values{"two_factor": {"true"}}, []string{}},
				{"not locked and active", url.Values{"locked": {"false"}, "is_active": {"true"}, "q": {"plus@"}}, []string{"plus@example.com"}},
			}
			for _, tt := range tests {
				got := keys(exportCSV(t, srv, tok, tt.q))
				require.Equal(t, tt.want, got, tt.name)
			}
		})

		t.Run("xlsx", func(t *testing.T) {
			res := srv.Call(t, http.MethodGet, "/api/users/export?format=xlsx", tok, nil)
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
			require.Equal(t, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", res.Header.Get("Content-Type"))
			require.True(t, strings.HasSuffix(res.Header.Get("Content-Disposition"), `.xlsx"`), res.Header.Get("Content-Disposition"))
			f, err := excelize.OpenReader(bytes.NewReader(res.Body))
			require.NoError(t, err, "the export is a workbook")
			defer f.Close()
			xrows, err := f.GetRows("Users")
			require.NoError(t, err)
			rows := byEmail(t, xrows)
			require.Equal(t, tenantEmails, keys(rows))
			// Text cells, never formulas: the name reads back as typed.
			for email, name := range formulas {
				if strings.HasPrefix(name, "\r") {
					continue // XML normalises a carriage return
				}
				require.Equal(t, name, rows[email]["name"], email)
			}
			for i := range len(xrows) {
				cell, _ := excelize.CoordinatesToCellName(3, i+1)
				formula, err := f.GetCellFormula("Users", cell)
				require.NoError(t, err)
				require.Empty(t, formula, "cell %s is no formula", cell)
			}
			require.Equal(t, "TRUE", strings.ToUpper(rows[admin.Email]["is_active"]))
			require.Equal(t, identity.RoleAdmin, rows[admin.Email]["roles"])

			res = srv.Call(t, http.MethodGet, "/api/users/export?format=xlsx&is_active=false", tok, nil)
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
			f2, err := excelize.OpenReader(bytes.NewReader(res.Body))
			require.NoError(t, err)
			defer f2.Close()
			xrows, err = f2.GetRows("Users")
			require.NoError(t, err)
			require.Equal(t, []string{"gone@example.com"}, keys(byEmail(t, xrows)))
		})

		t.Run("refusals", func(t *testing.T) {
			for _, bad := range []string{"format=xml", "format=CSV", "format=json", "is_active=maybe", "locked=2", "q=" + strings.Repeat("x", 201)} {
				m := requireAPIError(t, srv.Call(t, http.MethodGet, "/api/users/export?"+bad, tok, nil), http.StatusUnprocessableEntity, "validation_failed")
				require.NotEmpty(t, m["fields"], bad)
			}
			// The Owner and a Manager lack the permission (it is a danger action).
			for _, tk := range []string{ownerTok, memberTok} {
				m := requireAPIError(t, srv.Call(t, http.MethodGet, "/api/users/export?format=csv", tk, nil), http.StatusForbidden, "forbidden")
				require.Equal(t, identity.PermUsersExport, m["required_permission"])
			}
			requireErrorCode(t, srv.Call(t, http.MethodGet, "/api/users/export", "", nil), http.StatusUnauthorized, "")
		})

		t.Run("audited", func(t *testing.T) {
			rows := auditRows(t, srv, tenant.ID, identity.AuditUserExported)
			// csv (2) + filters (5) + xlsx (2); refusals write nothing.
			require.Len(t, rows, 9)
			require.Empty(t, auditRows(t, srv, victim.Tenant.ID, identity.AuditUserExported))
			byFormat := map[string]int{}
			for _, r := range rows {
				require.Equal(t, admin.ID, r.ActorID)
				var md map[string]any
				require.NoError(t, json.Unmarshal([]byte(r.Metadata), &md))
				byFormat[md["format"].(string)]++
				require.Equal(t, true, md["complete"])
				require.Contains(t, md, "rows")
				require.Contains(t, md, "filters")
			}
			require.Equal(t, map[string]int{"csv": 7, "xlsx": 2}, byFormat)
			var newest map[string]any // the xlsx export of inactive users
			require.NoError(t, json.Unmarshal([]byte(rows[0].Metadata), &newest))
			require.Equal(t, map[string]any{"format": "xlsx", "rows": float64(1), "complete": true, "filters": map[string]any{"is_active": false}}, newest)
		})
	})
}

// newNamedUser creates a user in the tenant and returns its id.
func newNamedUser(t *testing.T, srv *apptest.Server, slug, email, name string) string {
	t.Helper()
	u, err := srv.CreateUser(t, apptest.NewUser{TenantSlug: slug, Email: email, Password: apptest.Password, Name: name})
	require.NoError(t, err)
	return u.ID
}

// TestUsersExportCutShortIsAudited: an export the writer stops half-way
// (a client hanging up, a failed write) is still audited, with the rows
// written and complete false, even when the request's context is gone.
func TestUsersExportCutShortIsAudited(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		tenant := newTestTenant(t, srv)
		admin := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleAdmin, dangerZone: true})
		for range 3 {
			newRoleUser(t, srv, tenant, userOpts{})
		}
		a := identity.Actor{Principal: identity.Principal{Kind: models.PrincipalUser, TenantID: tenant.ID, UserID: admin.ID}}
		ctx, cancel := context.WithCancel(t.Context())
		hungUp := errors.New("client hung up")
		n, err := srv.Users.Export(ctx, a, identity.UserQuery{}, "csv", func(*models.User, []models.Role) error {
			cancel()
			return hungUp
		})
		require.ErrorIs(t, err, hungUp)
		require.Zero(t, n)
		n, err = srv.Users.Export(t.Context(), a, identity.UserQuery{Role: identity.RoleAdmin}, "xlsx", func(*models.User, []models.Role) error { return nil })
		require.NoError(t, err)
		require.Equal(t, 1, n)
		_, err = srv.Users.Export(t.Context(), a, identity.UserQuery{}, "pdf", func(*models.User, []models.Role) error { return nil })
		require.Error(t, err, "an unknown format is refused before anything is read")

		rows := auditRows(t, srv, tenant.ID, identity.AuditUserExported)
		require.Len(t, rows, 2, "the refused export is not audited")
		var md map[string]any
		require.NoError(t, json.Unmarshal([]byte(rows[1].Metadata), &md))
		require.Equal(t, map[string]any{"format": "csv", "rows": float64(0), "complete": false, "filters": map[string]any{}}, md)
		require.NoError(t, json.Unmarshal([]byte(rows[0].Metadata), &md))
		require.Equal(t, map[string]any{"format": "xlsx", "rows": float64(1), "complete": true, "filters": map[string]any{"role": identity.RoleAdmin}}, md)
	})
}
