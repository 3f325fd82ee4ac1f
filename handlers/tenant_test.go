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
)

// TestOwnTenant: GET and PATCH /api/tenant read and change the caller's own
// tenant, on both backends: the Owner and an Admin read it, a Member is
// refused with the permission named; changing it is a danger action (the
// Danger Zone policy and a step-up); a tenant_id in the body never picks
// another tenant; every bad field is named in one 422; each change is one
// tenant.updated audit row naming the fields.
func TestOwnTenant(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		tenant := newTestTenant(t, srv)
		other := newTestTenant(t, srv)
		owner := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleOwner, dangerZone: true})
		ownerTok := srv.Login(t, tenant.Slug, owner.Email, apptest.Password)
		admin := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleAdmin})
		adminTok := srv.Login(t, tenant.Slug, admin.Email, apptest.Password)
		member := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleMember})
		memberTok := srv.Login(t, tenant.Slug, member.Email, apptest.Password)
		plainOwner := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleOwner})
		plainOwnerTok := srv.Login(t, tenant.Slug, plainOwner.Email, apptest.Password)

		t.Run("read", func(t *testing.T) {
			for _, tok := range []string{ownerTok, adminTok} {
				res := srv.Call(t, http.MethodGet, "/api/tenant", tok, nil)
				require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
				m := res.JSON(t)
				require.Equal(t, tenant.ID, m["id"])
				require.Equal(t, tenant.Slug, m["slug"])
				require.Equal(t, tenant.Name, m["name"])
				for _, k := range []string{"description", "website", "logo_url", "primary_colour", "default_locale"} {
					require.Equal(t, "", m[k], k)
				}
			}
			m := requireAPIError(t, srv.Call(t, http.MethodGet, "/api/tenant", memberTok, nil), http.StatusForbidden, "forbidden")
			require.Equal(t, identity.PermTenantsRead, m["required_permission"])
			requireErrorCode(t, srv.Call(t, http.MethodGet, "/api/tenant", "", nil), http.StatusUnauthorized, "")
		})

		t.Run("refusals", func(t *testing.T) {
			body := map[string]any{"name": "Renamed"}
			for _, tok := range []string{memberTok, adminTok, plainOwnerTok} {
				m := requireAPIError(t, srv.Call(t, http.MethodPatch, "/api/tenant", tok, body), http.StatusForbidden, "forbidden")
				require.Equal(t, identity.PermTenantsUpdate, m["required_permission"])
			}
			// Permitted but not stepped up.
			requireErrorCode(t, srv.Call(t, http.MethodPatch, "/api/tenant", ownerTok, body), http.StatusForbidden, "step_up_required")
		})

		srv.StepUp(t, ownerTok, apptest.Password)

		t.Run("update", func(t *testing.T) {
			res := srv.Call(t, http.MethodPatch, "/api/tenant", ownerTok, map[string]any{
				"tenant_id": other.ID, "id": other.ID, "slug": "hijack",
				"name": "  Acme Ltd ", "description": "We make anvils.", "website": "https://acme.example",
				"logo_url": "https://cdn.acme.example/logo.png", "primary_colour": "#1A2B3C", "default_locale": "pt-br",
			})
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
			m := res.JSON(t)
			require.Equal(t, tenant.ID, m["id"], "the tenant is the principal's")
			require.Equal(t, tenant.Slug, m["slug"])
			require.Equal(t, "Acme Ltd", m["name"])
			require.Equal(t, "We make anvils.", m["description"])
			require.Equal(t, "https://acme.example", m["website"])
			require.Equal(t, "https://cdn.acme.example/logo.png", m["logo_url"])
			require.Equal(t, "#1a2b3c", m["primary_colour"])
			require.Equal(t, "pt-BR", m["default_locale"])

			got, err := srv.Store.GetTenant(t.Context(), other.ID)
			require.NoError(t, err)
			require.Equal(t, other.Name, got.Name, "the other tenant is untouched")
			require.Equal(t, other.Slug, got.Slug)

			// Partial: one field changes, the others stay; "" clears.
			res = srv.Call(t, http.MethodPatch, "/api/tenant", ownerTok, map[string]any{"website": ""})
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
			m = res.JSON(t)
			require.Equal(t, "", m["website"])
			require.Equal(t, "Acme Ltd", m["name"])
			require.Equal(t, "#1a2b3c", m["primary_colour"])

			res = srv.Call(t, http.MethodGet, "/api/tenant", adminTok, nil)
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
			require.Equal(t, "pt-BR", res.JSON(t)["default_locale"])
		})

		t.Run("validation", func(t *testing.T) {
			m := requireAPIError(t, srv.Call(t, http.MethodPatch, "/api/tenant", ownerTok, map[string]any{
				"name": " ", "description": strings.Repeat("x", 1001), "website": "http://acme.example",
				"logo_url": "javascript:alert(1)", "primary_colour": "red", "default_locale": "not a tag",
			}), http.StatusUnprocessableEntity, "validation_failed")
			fields, _ := m["fields"].(map[string]any)
			for _, k := range []string{"name", "description", "website", "logo_url", "primary_colour", "default_locale"} {
				require.Contains(t, fields, k)
			}
			for _, bad := range []map[string]any{
				{"name": strings.Repeat("n", 201)},
				{"name": "A\x00B"},
				{"website": "https://user:pw@acme.example"},
				{"website": "https://"},
				{"logo_url": "https://acme.example/" + strings.Repeat("a", 2000)},
				{"primary_colour": "#12345"},
				{"primary_colour": "#1234567"},
				{"default_locale": strings.Repeat("a", 40)},
				{},
				{"tenant_id": other.ID},
			} {
				m := requireAPIError(t, srv.Call(t, http.MethodPatch, "/api/tenant", ownerTok, bad), http.StatusUnprocessableEntity, "validation_failed")
				require.NotEmpty(t, m["fields"], "%v", bad)
			}
			res := srv.Do(t, apptest.Request{Method: http.MethodPatch, Path: "/api/tenant", Token: ownerTok, Body: "{"})
			requireAPIError(t, res, http.StatusUnprocessableEntity, "invalid_body")
			requireAPIError(t, srv.Call(t, http.MethodPatch, "/api/tenant", ownerTok, map[string]any{"name": 5}), http.StatusUnprocessableEntity, "invalid_body")
			// One line each: a line break is refused like any control character.
			requireAPIError(t, srv.Call(t, http.MethodPatch, "/api/tenant", ownerTok, map[string]any{"description": "a\nb"}), http.StatusUnprocessableEntity, "validation_failed")
			// Nothing of the refused changes was saved.
			got := srv.Call(t, http.MethodGet, "/api/tenant", ownerTok, nil).JSON(t)
			require.Equal(t, "Acme Ltd", got["name"])
		})

		t.Run("audited", func(t *testing.T) {
			rows := auditRows(t, srv, tenant.ID, identity.AuditTenantSelfUpdated)
			require.Len(t, rows, 2, "the refusals write nothing")
			require.Empty(t, auditRows(t, srv, other.ID, identity.AuditTenantSelfUpdated))
			var md map[string]any
			require.NoError(t, json.Unmarshal([]byte(rows[0].Metadata), &md))
			require.Equal(t, owner.ID, rows[0].ActorID)
			require.Equal(t, []any{"website"}, md["fields"])
			require.NoError(t, json.Unmarshal([]byte(rows[1].Metadata), &md))
			require.Equal(t, []any{"name", "description", "website", "logo_url", "primary_colour", "default_locale"}, md["fields"])
			require.NotContains(t, rows[1].Metadata, "Acme", "the values are not in the audit row")
		})
	})
}

// TestOwnTenantSettings: the settings object of /api/tenant — defaults that
// keep today's behaviour, partial changes, every bad setting named in one
// 422 (nothing saved), the deployment's bounds (a tenant only strengthens
// them), audit rows naming the settings, and the enforcement of the password
// minimum (changes, creations) and the session lifetimes (login) in that
// tenant only.
func TestOwnTenantSettings(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		tenant, other := newTestTenant(t, srv), newTestTenant(t, srv)
		owner := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleOwner, dangerZone: true})
		ownerTok := srv.Login(t, tenant.Slug, owner.Email, apptest.Password)
		srv.StepUp(t, ownerTok, apptest.Password)
		settings := func() map[string]any {
			res := srv.Call(t, http.MethodGet, "/api/tenant", ownerTok, nil)
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
			return res.JSON(t)["settings"].(map[string]any)
		}
		patch := func(st map[string]any) *apptest.Result {
			return srv.Call(t, http.MethodPatch, "/api/tenant", ownerTok, map[string]any{"settings": st})
		}
		defaults := map[string]any{"self_registration": false, "default_role": "Member", "allow_unverified_sign_in": true,
			"audit_retention_days": float64(0), "password_min_length": float64(12), "session_ttl_seconds": float64(0), "remember_ttl_seconds": float64(0),
			"require_2fa_roles": []any{}}
		require.Equal(t, defaults, settings())

		// Every bad setting at once: all named, nothing saved.
		m := requireAPIError(t, patch(map[string]any{"default_role": "Owner", "password_min_length": 11, "audit_retention_days": 366,
			"session_ttl_seconds": 86401, "remember_ttl_seconds": 299}), http.StatusUnprocessableEntity, "validation_failed")
		fields, _ := m["fields"].(map[string]any)
		for _, k := range []string{"default_role", "password_min_length", "audit_retention_days", "session_ttl_seconds", "remember_ttl_seconds"} {
			require.Contains(t, fields, "settings."+k)
		}
		for _, bad := range []map[string]any{
			{"default_role": "Nobody"}, {"default_role": ""}, {"password_min_length": 65}, {"audit_retention_days": -1},
			{"session_ttl_seconds": 299}, {"remember_ttl_seconds": 720*3600 + 1}, {"session_ttl_seconds": -5},
		} {
			m := requireAPIError(t, patch(bad), http.StatusUnprocessableEntity, "validation_failed")
			require.NotEmpty(t, m["fields"], "%v", bad)
		}
		// A bad presentation field with good settings: neither is saved.
		requireAPIError(t, srv.Call(t, http.MethodPatch, "/api/tenant", ownerTok, map[string]any{"website": "http://x.example",
			"settings": map[string]any{"self_registration": true}}), http.StatusUnprocessableEntity, "validation_failed")
		requireAPIError(t, srv.Call(t, http.MethodPatch, "/api/tenant", ownerTok, map[string]any{"settings": 5}), http.StatusUnprocessableEntity, "invalid_body")
		require.Equal(t, defaults, settings())
		require.Empty(t, auditRows(t, srv, tenant.ID, identity.AuditTenantSelfUpdated))

		res := patch(map[string]any{"self_registration": true, "default_role": "Manager", "allow_unverified_sign_in": false,
			"audit_retention_days": 30, "password_min_length": 16, "session_ttl_seconds": 600, "remember_ttl_seconds": 900})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		want := map[string]any{"self_registration": true, "default_role": "Manager", "allow_unverified_sign_in": false,
			"audit_retention_days": float64(30), "password_min_length": float64(16), "session_ttl_seconds": float64(600), "remember_ttl_seconds": float64(900),
			"require_2fa_roles": []any{}}
		require.Equal(t, want, res.JSON(t)["settings"])
		// Partial: one setting changes, the rest stay.
		res = patch(map[string]any{"self_registration": false})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		want["self_registration"] = false
		require.Equal(t, want, settings())
		got, err := srv.Store.GetTenant(t.Context(), other.ID)
		require.NoError(t, err)
		require.Equal(t, "{}", got.Settings, "the other tenant keeps its defaults")

		rows := auditRows(t, srv, tenant.ID, identity.AuditTenantSelfUpdated)
		require.Len(t, rows, 2)
		var md map[string]any
		require.NoError(t, json.Unmarshal([]byte(rows[0].Metadata), &md))
		require.Equal(t, []any{"settings.self_registration"}, md["fields"])
		require.NoError(t, json.Unmarshal([]byte(rows[1].Metadata), &md))
		require.ElementsMatch(t, []any{"settings.self_registration", "settings.default_role", "settings.allow_unverified_sign_in",
			"settings.audit_retention_days", "settings.password_min_length", "settings.session_ttl_seconds", "settings.remember_ttl_seconds"}, md["fields"])
		// The subtests sign in users whose addresses nobody verified: the
		// setting is enforced since e-mail verification (its own test).
		require.Equal(t, http.StatusOK, patch(map[string]any{"allow_unverified_sign_in": true}).Status)

		t.Run("password minimum", func(t *testing.T) {
			// Creating a user with a password shorter than the tenant's minimum.
			m := requireAPIError(t, srv.Call(t, http.MethodPost, "/api/users", ownerTok, map[string]any{
				"email": "short-" + apptest.RandomID(t, 6) + "@example.com", "name": "Short", "password": "Fresh-Passw0rd!"}),
				http.StatusUnprocessableEntity, "password_policy")
			require.Contains(t, m["fields"], "password.min_length")
			res := srv.Call(t, http.MethodPost, "/api/users", ownerTok, map[string]any{
				"email": "long-" + apptest.RandomID(t, 6) + "@example.com", "name": "Long", "password": "Fresh-Passw0rd!-Long"})
			require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)

			// Changing one's password.
			u := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleMember})
			tok := srv.Login(t, tenant.Slug, u.Email, apptest.Password)
			change := func(next string) *apptest.Result {
				return srv.Call(t, http.MethodPost, "/api/auth/password", tok, map[string]any{"current_password": apptest.Password, "new_password": next})
			}
			m = requireAPIError(t, change("Fresh-Passw0rd!"), http.StatusUnprocessableEntity, "password_policy")
			require.Equal(t, "Use at least 16 characters.", m["fields"].(map[string]any)["password.min_length"])
			res = change("Fresh-Passw0rd!-Long")
			require.Less(t, res.Status, 300, "%s", res.Body)

			// The other tenant keeps the deployment's minimum.
			ou := newRoleUser(t, srv, other, userOpts{role: identity.RoleMember})
			otok := srv.Login(t, other.Slug, ou.Email, apptest.Password)
			res = srv.Call(t, http.MethodPost, "/api/auth/password", otok, map[string]any{"current_password": apptest.Password, "new_password": "Fresh-Passw0rd!"})
			require.Less(t, res.Status, 300, "%s", res.Body)
		})

		t.Run("session lifetimes", func(t *testing.T) {
			lifetime := func(tn string, email string, remember bool) time.Duration {
				var mod func(*apptest.Request, map[string]any)
				if remember {
					mod = func(_ *apptest.Request, body map[string]any) { body["remember"] = true }
				}
				ans := apptest.ParseLogin(t, srv.PasswordLogin(t, tn, email, apptest.Password, mod))
				require.NotEmpty(t, ans.SessionID)
				var tenantID string
				if tn == tenant.Slug {
					tenantID = tenant.ID
				} else {
					tenantID = other.ID
				}
				u, err := srv.Store.GetUserByEmail(t.Context(), tenantID, email)
				require.NoError(t, err)
				s, err := srv.Store.GetSession(t.Context(), tenantID, u.ID, ans.SessionID)
				require.NoError(t, err)
				return s.ExpiresAt.Sub(s.CreatedAt).Round(time.Minute)
			}
			u := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleMember})
			require.Equal(t, 10*time.Minute, lifetime(tenant.Slug, u.Email, false))
			require.Equal(t, 15*time.Minute, lifetime(tenant.Slug, u.Email, true))
			ou := newRoleUser(t, srv, other, userOpts{role: identity.RoleMember})
			require.Equal(t, 24*time.Hour, lifetime(other.Slug, ou.Email, false), "the deployment's lifetime elsewhere")
			require.Equal(t, 720*time.Hour, lifetime(other.Slug, ou.Email, true))
		})
	})
}

// TestOwnTenantSettingsConcurrent: concurrent changes of different settings
// all land (each change locks the tenant's row before it merges), on both
// backends, with one audit row each.
func TestOwnTenantSettingsConcurrent(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		tenant := newTestTenant(t, srv)
		owner := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleOwner, dangerZone: true})
		tok := srv.Login(t, tenant.Slug, owner.Email, apptest.Password)
		srv.StepUp(t, tok, apptest.Password)
		changes := []map[string]any{
			{"self_registration": true}, {"default_role": "Admin"}, {"allow_unverified_sign_in": false},
			{"password_min_length": 20}, {"session_ttl_seconds": 3600}, {"remember_ttl_seconds": 7200},
		}
		type answer struct {
			res *apptest.Result
			err error
		}
		out := make(chan answer, len(changes))
		start := make(chan struct{})
		for _, ch := range changes {
			go func() {
				<-start
				res, err := apptest.Send(srv.URL, apptest.Request{Method: http.MethodPatch, Path: "/api/tenant", Token: tok, Body: map[string]any{"settings": ch}})
				out <- answer{res, err}
			}()
		}
		close(start)
		for range changes {
			a := <-out
			require.NoError(t, a.err)
			require.Equal(t, http.StatusOK, a.res.Status, "%s", a.res.Body)
		}
		res := srv.Call(t, http.MethodGet, "/api/tenant", tok, nil)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		require.Equal(t, map[string]any{"self_registration": true, "default_role": "Admin", "allow_unverified_sign_in": false,
			"audit_retention_days": float64(0), "password_min_length": float64(20), "session_ttl_seconds": float64(3600),
			"remember_ttl_seconds": float64(7200), "require_2fa_roles": []any{}}, res.JSON(t)["settings"])
		require.Len(t, auditRows(t, srv, tenant.ID, identity.AuditTenantSelfUpdated), len(changes))
	})
}
