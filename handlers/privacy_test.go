package handlers_test

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

// TestConsents: GET /api/auth/me/consents lists the applications the
// person allowed (name, scopes, dates); DELETE withdraws one and kills its
// tokens at once (introspection inactive, refresh refused), audited as
// consent.revoked; another person's or tenant's is 404; /account/apps does
// the same without JavaScript.
func TestConsents(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		srv := e.Server
		web := e.WebClient(t, func(c *apptest.NewClient) { c.Name = "Shop Web" })
		other := e.WebClient(t, func(c *apptest.NewClient) { c.Name = "Notes" })
		rs := e.ServiceClient(t, nil)
		br := srv.NewBrowser(t)

		grant := func(cc *apptest.CreatedClient, scopes ...string) (access, refresh string) {
			t.Helper()
			cfg := srv.OAuthConfig(cc, scopes...)
			ar := newAuthRequest(cfg)
			f := br.Authorize(e, ar.URL, br.Cookie("identity_session") == "", "allow")
			tok := ar.exchange(t, cfg, f.Code(t, ar.State))
			return tok.AccessToken, tok.RefreshToken
		}
		at, rt := grant(web, oidc.ScopeOpenID, "email", oidc.ScopeOfflineAccess)
		otherAT, _ := grant(other, oidc.ScopeOpenID)
		srv.RequireActive(t, rs, at)

		token := srv.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
		list := requireAnswer(t, srv.Call(t, http.MethodGet, "/api/auth/me/consents", token, nil), http.StatusOK, "")
		items := list["consents"].([]any)
		require.Len(t, items, 2)
		byID := map[string]map[string]any{}
		for _, it := range items {
			m := it.(map[string]any)
			require.ElementsMatch(t, []string{"client_id", "client_name", "scopes", "granted_at", "updated_at"}, keysOf(m))
			byID[m["client_id"].(string)] = m
		}
		require.Equal(t, "Shop Web", byID[web.Client.ID]["client_name"])
		require.ElementsMatch(t, []any{"openid", "email", "offline_access"}, byID[web.Client.ID]["scopes"])
		require.NotEmpty(t, byID[web.Client.ID]["granted_at"])

		// Unknown, and signed out.
		requireAnswer(t, srv.Call(t, http.MethodDelete, "/api/auth/me/consents/no-such-client", token, nil), http.StatusNotFound, "consent_not_found")
		require.Equal(t, http.StatusUnauthorized, srv.Call(t, http.MethodGet, "/api/auth/me/consents", "", nil).Status)

		// Another person of the tenant cannot withdraw Ada's consent (and has none).
		bob := srv.AddUser(t, apptest.NewUser{TenantSlug: e.Tenant.Slug, Email: "bob." + e.Tenant.Slug + "@example.com", Password: apptest.Password, Name: "Bob"})
		bobToken := srv.Login(t, e.Tenant.Slug, bob.Email, apptest.Password)
		require.Empty(t, requireAnswer(t, srv.Call(t, http.MethodGet, "/api/auth/me/consents", bobToken, nil), http.StatusOK, "")["consents"])
		requireAnswer(t, srv.Call(t, http.MethodDelete, "/api/auth/me/consents/"+web.Client.ID, bobToken, nil), http.StatusNotFound, "consent_not_found")
		// Another tenant's user neither.
		o := apptest.Seed(t, srv)
		oToken := srv.Login(t, o.Tenant.Slug, o.User.Email, apptest.Password)
		requireAnswer(t, srv.Call(t, http.MethodDelete, "/api/auth/me/consents/"+web.Client.ID, oToken, nil), http.StatusNotFound, "consent_not_found")
		srv.RequireActive(t, rs, at)

		// Withdraw: the tokens die, the other client's live on.
		require.Equal(t, http.StatusNoContent, srv.Call(t, http.MethodDelete, "/api/auth/me/consents/"+web.Client.ID, token, nil).Status)
		srv.RequireInactive(t, rs, at)
		srv.RequireInactive(t, rs, rt)
		srv.RequireActive(t, rs, otherAT)
		res := srv.TokenRequest(t, web, map[string][]string{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
		require.Equal(t, http.StatusBadRequest, res.Status, "the refresh token is dead: %s", res.Body)
		require.Len(t, srv.Rows(t, "SELECT id FROM audit_logs WHERE action = 'consent.revoked' AND user_id = '"+e.User.ID+"'"), 1)
		requireAnswer(t, srv.Call(t, http.MethodDelete, "/api/auth/me/consents/"+web.Client.ID, token, nil), http.StatusNotFound, "consent_not_found")
		items = requireAnswer(t, srv.Call(t, http.MethodGet, "/api/auth/me/consents", token, nil), http.StatusOK, "")["consents"].([]any)
		require.Len(t, items, 1)

		// The page: linked from /account/security, lists Notes in words,
		// removes it with a CSRF-protected form.
		pb := srv.NewBrowser(t)
		security := pageLogin(t, pb, e.Tenant.Slug, e.User.Email, apptest.Password)
		require.Contains(t, string(security.Body), `href="/account/apps"`)
		anon := srv.NewBrowser(t).Get(srv.URL + "/account/apps")
		require.Equal(t, "/login", anon.URL.Path)
		page := parsePage(t, pb.Get(srv.URL+"/account/apps"))
		page.requireOn(t, "/account/apps")
		require.Contains(t, page.text(), "Notes")
		require.Contains(t, page.text(), "Confirm who you are")
		require.NotContains(t, string(page.Body), "<script")
		forged := pb.Post(srv.URL+"/account/apps/revoke", map[string][]string{"client_id": {other.Client.ID}})
		require.NotEqual(t, http.StatusOK, forged.Status, "no CSRF token, refused")
		srv.RequireActive(t, rs, otherAT)
		done := page.submit(t, pb, "/account/apps/revoke", nil)
		require.Equal(t, http.StatusOK, done.Status, "%s", done.Body)
		require.Contains(t, done.text(), "can no longer use your account")
		require.Contains(t, done.text(), "You have not allowed any apps")
		srv.RequireInactive(t, rs, otherAT)
	})
}

// TestExportMe: GET /api/auth/me/export downloads everything held about the
// person as an attachment — profile, roles, sessions, devices, masked push
// tokens, consents, their audit trail — and never a hash, secret or token;
// user.data_exported is audited.
func TestExportMe(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		srv := e.Server
		web := e.WebClient(t, func(c *apptest.NewClient) { c.Name = "Shop Web" })
		br := srv.NewBrowser(t)
		cfg := srv.OAuthConfig(web, oidc.ScopeOpenID, "email")
		ar := newAuthRequest(cfg)
		ar.exchange(t, cfg, br.Authorize(e, ar.URL, true, "allow").Code(t, ar.State))
		token := srv.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
		fcm := pdFCMToken(t)
		requireAnswer(t, srv.Call(t, http.MethodPost, "/api/push-devices", token, map[string]any{"platform": "fcm", "token": fcm, "app_id": "com.example.shop"}), http.StatusOK, "")
		// Someone else's data stays out.
		bob := srv.AddUser(t, apptest.NewUser{TenantSlug: e.Tenant.Slug, Email: "bob." + e.Tenant.Slug + "@example.com", Password: apptest.Password, Name: "Bob Other"})
		srv.Login(t, e.Tenant.Slug, bob.Email, apptest.Password)

		require.Equal(t, http.StatusUnauthorized, srv.Call(t, http.MethodGet, "/api/auth/me/export", "", nil).Status)
		res := srv.Call(t, http.MethodGet, "/api/auth/me/export", token, nil)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		require.Contains(t, res.Header.Get("Content-Disposition"), "attachment")
		require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		d := res.JSON(t)
		require.ElementsMatch(t, []string{"format", "exported_at", "profile", "roles", "policies", "sessions", "devices", "push_devices", "consents",
			"linked_identities", "passkeys", "activity"}, keysOf(d))
		require.Empty(t, d["linked_identities"], "no identity linked")
		require.Empty(t, d["passkeys"], "no passkey registered")
		profile := d["profile"].(map[string]any)
		require.Equal(t, e.User.Email, profile["email"])
		require.Equal(t, e.User.ID, profile["id"])
		require.NotEmpty(t, d["sessions"])
		require.NotEmpty(t, d["devices"])
		push := d["push_devices"].([]any)
		require.Len(t, push, 1)
		require.Equal(t, "…"+fcm[len(fcm)-6:], push[0].(map[string]any)["token"])
		consents := d["consents"].([]any)
		require.Len(t, consents, 1)
		require.Equal(t, "Shop Web", consents[0].(map[string]any)["client_name"])
		actions := map[string]bool{}
		for _, a := range d["activity"].([]any) {
			actions[a.(map[string]any)["action"].(string)] = true
		}
		require.True(t, actions["push_device.registered"], "own actions are in the trail: %v", actions)
		require.True(t, actions["user.login"] || len(actions) > 1, "logins are in the trail: %v", actions)

		// Never a secret: no hash, sealed value or whole token.
		body := string(res.Body)
		u, err := srv.Store.GetUser(t.Context(), e.Tenant.ID, e.User.ID)
		require.NoError(t, err)
		require.NotContains(t, body, u.PasswordHash)
		require.NotContains(t, body, fcm)
		require.NotContains(t, body, bob.Email, "another person's data is not in the archive")
		for _, k := range []string{"password_hash", "pin_hash", "token_hash", "secret", "sealed"} {
			require.NotContains(t, body, `"`+k, "no %s field", k)
		}
		require.Len(t, srv.Rows(t, "SELECT id FROM audit_logs WHERE action = 'user.data_exported' AND user_id = '"+e.User.ID+"'"), 1)
	})
}

// requireNoTrace asserts that no audit row of the whole table holds the
// person's id, e-mail address or name, in any column.
func requireNoTrace(t *testing.T, srv *apptest.Server, u *models.User) {
	t.Helper()
	for _, v := range []string{u.ID, strings.ToLower(u.Email), strings.ToLower(u.Name)} {
		like := sqlQuote("%" + v + "%")
		n := srv.Rows(t, "SELECT id FROM audit_logs WHERE LOWER(metadata) LIKE "+like+" OR LOWER(user_agent) LIKE "+like+
			" OR actor_id = "+sqlQuote(u.ID)+" OR LOWER(CAST(user_id AS TEXT)) LIKE "+like)
		require.Empty(t, n, "audit rows still naming %q", v)
	}
}

// TestEraseMe: DELETE /api/auth/me needs a step-up and the password; it
// refuses the tenant's last Owner (409 last_owner); it deletes the person
// and every credential, kills every token (first-party and OAuth,
// introspection inactive), and leaves an audit trail whole but
// pseudonymised: the same pseudonym on every row of the person, and no
// e-mail, name or id anywhere in the table.
func TestEraseMe(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		tenant := newTestTenant(t, srv)
		owner := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleOwner})
		ownerTok := srv.Login(t, tenant.Slug, owner.Email, apptest.Password)
		grace := srv.AddUser(t, apptest.NewUser{TenantSlug: tenant.Slug, Email: "grace." + apptest.RandomID(t, 6) + "@example.com",
			Password: apptest.Password, Name: "Grace Hopper" + apptest.RandomID(t, 4), Role: identity.RoleMember})
		e := &apptest.Env{Server: srv, Tenant: tenant, User: grace}
		web := e.WebClient(t, nil)
		rs := e.ServiceClient(t, nil)
		cfg := srv.OAuthConfig(web, oidc.ScopeOpenID, "email", oidc.ScopeOfflineAccess)
		ar := newAuthRequest(cfg)
		tok := ar.exchange(t, cfg, srv.NewBrowser(t).Authorize(e, ar.URL, true, "allow").Code(t, ar.State))
		token := srv.Login(t, tenant.Slug, grace.Email, apptest.Password)
		requireAnswer(t, srv.Call(t, http.MethodPatch, "/api/auth/me", token, map[string]any{"given_name": "Grace", "family_name": "Hopper"}), http.StatusOK, "")
		requireAnswer(t, srv.Call(t, http.MethodPost, "/api/push-devices", token, map[string]any{"platform": "fcm", "token": pdFCMToken(t), "app_id": "com.example.shop"}), http.StatusOK, "")
		// A failed login names the address too.
		srv.PasswordLogin(t, tenant.Slug, grace.Email, "wrong password 123456", nil)
		srv.RequireActive(t, rs, tok.AccessToken)

		// Step-up first, then the password.
		m := requireErrorCode(t, srv.Call(t, http.MethodDelete, "/api/auth/me", token, map[string]any{"password": apptest.Password}), http.StatusForbidden, "step_up_required")
		require.NotNil(t, m["step_up"])
		srv.StepUp(t, token, apptest.Password)
		requireAnswer(t, srv.Call(t, http.MethodDelete, "/api/auth/me", token, map[string]any{}), http.StatusForbidden, "password_required")
		requireAnswer(t, srv.Call(t, http.MethodDelete, "/api/auth/me", token, map[string]any{"password": "not the password 1"}), http.StatusUnauthorized, "invalid_password")
		require.NotEmpty(t, srv.Rows(t, "SELECT id FROM users WHERE id = "+sqlQuote(grace.ID)))

		// The last Owner cannot erase themself.
		srv.StepUp(t, ownerTok, apptest.Password)
		requireAnswer(t, srv.Call(t, http.MethodDelete, "/api/auth/me", ownerTok, map[string]any{"password": apptest.Password}), http.StatusConflict, "last_owner")
		require.NotEmpty(t, srv.Rows(t, "SELECT id FROM users WHERE id = "+sqlQuote(owner.ID)))

		// Erase.
		require.Equal(t, http.StatusNoContent, srv.Call(t, http.MethodDelete, "/api/auth/me", token, map[string]any{"password": apptest.Password}).Status)
		require.Equal(t, http.StatusUnauthorized, srv.Call(t, http.MethodGet, "/api/auth/me", token, nil).Status, "the session token is dead")
		srv.RequireInactive(t, rs, tok.AccessToken)
		srv.RequireInactive(t, rs, tok.RefreshToken)
		require.Equal(t, http.StatusUnauthorized, srv.PasswordLogin(t, tenant.Slug, grace.Email, apptest.Password, nil).Status)
		for _, q := range []string{"users WHERE id", "sessions WHERE user_id", "devices WHERE user_id", "push_devices WHERE user_id",
			"consents WHERE user_id", "password_history WHERE user_id", "role_assignments WHERE principal_id",
			"user_identities WHERE user_id", "webauthn_credentials WHERE user_id"} {
			require.Empty(t, srv.Rows(t, "SELECT 1 FROM "+q+" = "+sqlQuote(grace.ID)), q)
		}
		for _, tbl := range []string{"oauth_access_tokens", "oauth_refresh_tokens", "oauth_codes"} {
			require.Empty(t, srv.Rows(t, "SELECT 1 FROM "+tbl+" WHERE subject = "+sqlQuote(grace.ID)), tbl)
		}
		requireNoTrace(t, srv, grace)
		erased := srv.Rows(t, "SELECT user_id, actor_id, ip_address FROM audit_logs WHERE action = 'user.erased'")
		require.Len(t, erased, 1)
		pseudonym := erased[0][0]
		require.Equal(t, pseudonym, erased[0][1], "the erasure's actor is the pseudonym")
		require.Empty(t, erased[0][2], "no address of the erased person")
		rows := srv.Rows(t, "SELECT action FROM audit_logs WHERE user_id = "+sqlQuote(pseudonym))
		require.GreaterOrEqual(t, len(rows), 4, "the trail stays whole and linkable: %v", rows)

		// With a second Owner, the first may go.
		second := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleOwner})
		_ = second
		require.Equal(t, http.StatusNoContent, srv.Call(t, http.MethodDelete, "/api/auth/me", ownerTok, map[string]any{"password": apptest.Password}).Status)
		requireNoTrace(t, srv, owner)
	})
}

// TestEraseUser: POST /api/users/{id}/erase needs identity.users.erase (403
// naming it), a step-up (a danger action), a user the actor covers, and
// the actor's own tenant (another tenant's id is 404).
func TestEraseUser(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		tenant := newTestTenant(t, srv)
		owner := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleOwner})
		admin := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleAdmin, dangerZone: true})
		adminTok := srv.Login(t, tenant.Slug, admin.Email, apptest.Password)
		manager := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleManager})
		managerTok := srv.Login(t, tenant.Slug, manager.Email, apptest.Password)
		member := srv.AddUser(t, apptest.NewUser{TenantSlug: tenant.Slug, Email: "linus." + apptest.RandomID(t, 6) + "@example.com",
			Password: apptest.Password, Name: "Linus Torvalds" + apptest.RandomID(t, 4), Role: identity.RoleMember})
		memberTok := srv.Login(t, tenant.Slug, member.Email, apptest.Password)
		victim := newVictim(t, srv)
		path := func(id string) string { return "/api/users/" + id + "/erase" }

		m := requireErrorCode(t, srv.Call(t, http.MethodPost, path(member.ID), managerTok, nil), http.StatusForbidden, "forbidden")
		require.Equal(t, identity.PermUsersErase, m["required_permission"])
		requireErrorCode(t, srv.Call(t, http.MethodPost, path(member.ID), adminTok, nil), http.StatusForbidden, "step_up_required")
		srv.StepUp(t, adminTok, apptest.Password)
		requireAnswer(t, srv.Call(t, http.MethodPost, path(victim.User.ID), adminTok, nil), http.StatusNotFound, "user_not_found")
		require.NotEmpty(t, srv.Rows(t, "SELECT id FROM users WHERE id = "+sqlQuote(victim.User.ID)))
		requireAnswer(t, srv.Call(t, http.MethodPost, path("not-a-uuid"), adminTok, nil), http.StatusNotFound, "user_not_found")
		requireErrorCode(t, srv.Call(t, http.MethodPost, path(owner.ID), adminTok, nil), http.StatusForbidden, "forbidden")
		requireAnswer(t, srv.Call(t, http.MethodPost, path(admin.ID), adminTok, nil), http.StatusConflict, "cannot_target_self")

		require.Equal(t, http.StatusNoContent, srv.Call(t, http.MethodPost, path(member.ID), adminTok, nil).Status)
		require.Equal(t, http.StatusUnauthorized, srv.Call(t, http.MethodGet, "/api/auth/me", memberTok, nil).Status)
		requireAnswer(t, srv.Call(t, http.MethodPost, path(member.ID), adminTok, nil), http.StatusNotFound, "user_not_found")
		requireNoTrace(t, srv, member)
		erased := srv.Rows(t, "SELECT user_id, actor_id FROM audit_logs WHERE action = 'user.erased' AND tenant_id = "+sqlQuote(tenant.ID))
		require.Len(t, erased, 1)
		require.Equal(t, admin.ID, erased[0][1], "the administrator is the actor")
		require.NotEqual(t, member.ID, erased[0][0])
	})
}

// TestEraseLastOwnersConcurrently: two Owners, the tenant's only ones,
// erase themselves at the same time: exactly one goes, the other gets 409
// last_owner, and the tenant keeps an Owner.
func TestEraseLastOwnersConcurrently(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		tenant := newTestTenant(t, srv)
		var toks []string
		for range 2 {
			o := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleOwner})
			tok := srv.Login(t, tenant.Slug, o.Email, apptest.Password)
			srv.StepUp(t, tok, apptest.Password)
			toks = append(toks, tok)
		}
		statuses := make([]int, len(toks))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, tok := range toks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := apptest.Send(srv.URL, apptest.Request{Method: http.MethodDelete, Path: "/api/auth/me", Token: tok,
					Body: map[string]any{"password": apptest.Password}})
				if err == nil {
					statuses[i] = res.Status
				}
			}()
		}
		close(start)
		wg.Wait()
		slices.Sort(statuses)
		require.Equal(t, []int{http.StatusNoContent, http.StatusConflict}, statuses)
		require.Len(t, srv.Rows(t, "SELECT u.id FROM users u JOIN role_assignments ra ON ra.principal_id = u.id JOIN roles r ON r.id = ra.role_id WHERE r.name = 'Owner' AND u.tenant_id = "+sqlQuote(tenant.ID)), 1)
	})
}
