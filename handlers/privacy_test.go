package handlers_test

import (
	"net/http"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/internal/apptest"
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
		require.ElementsMatch(t, []string{"format", "exported_at", "profile", "roles", "policies", "sessions", "devices", "push_devices", "consents", "activity"}, keysOf(d))
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
