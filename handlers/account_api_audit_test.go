package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
)

// accountAuditPages walks GET /api/audit/me with limit per page and returns
// every item in order.
func accountAuditPages(t *testing.T, e *accountEnv, token string, limit int) []map[string]any {
	t.Helper()
	var out []map[string]any
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 200, "pagination ends")
		q := url.Values{"limit": {strconv.Itoa(limit)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		res := e.Do(t, apptest.Request{Method: http.MethodGet, Path: "/api/audit/me?" + q.Encode(), Token: token})
		require.Equal(t, http.StatusOK, res.Status, "audit: %s", res.Body)
		m := res.JSON(t)
		items, ok := m["items"].([]any)
		require.True(t, ok, "items: %s", res.Body)
		require.LessOrEqual(t, len(items), limit)
		for _, it := range items {
			out = append(out, it.(map[string]any))
		}
		next, _ := m["next_cursor"].(string)
		if next == "" {
			return out
		}
		require.Len(t, items, limit, "only a full page has a next page")
		cursor = next
	}
}

func TestAccountAudit(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		u := e.newUser(t)
		var secrets []string
		keep := func(s ...string) {
			for _, v := range s {
				if v != "" {
					secrets = append(secrets, v)
				}
			}
		}
		const newPassword = "Audit-Passw0rd-1"
		keep(apptest.Password, newPassword, "Wrong-Password-1", "258147", "369258", "951753")
		ok := func(res *apptest.Result, status int) {
			t.Helper()
			require.Equal(t, status, res.Status, "%s %s", res.URL, res.Body)
		}

		a := e.token(t, u) // user.login, device.added
		keep(a.Token, a.Device)
		requireErrorShape(t, e.PasswordLogin(t, e.Tenant.Slug, u.Email, "Wrong-Password-1", nil),
			http.StatusUnauthorized, "invalid_credentials") // user.login_failed
		ok(e.Do(t, apptest.Request{Method: http.MethodPatch, Path: "/api/auth/me", Token: a.Token, Body: map[string]any{"name": "Grace Hopper"}}), http.StatusOK)
		ok(e.Do(t, apptest.Request{Path: "/api/auth/password", Token: a.Token, Body: map[string]any{"current_password": apptest.Password, "new_password": newPassword}}), http.StatusNoContent)

		// PIN: set, changed, verified, failed ×5 → locked, unlocked.
		ok(e.Do(t, apptest.Request{Method: http.MethodPut, Path: "/api/auth/pin", Token: a.Token, Body: map[string]any{"pin": "258147", "password": newPassword}}), http.StatusNoContent)
		ok(e.Do(t, apptest.Request{Method: http.MethodPut, Path: "/api/auth/pin", Token: a.Token, Body: map[string]any{"pin": "369258", "password": newPassword}}), http.StatusNoContent)
		ok(e.Do(t, apptest.Request{Path: "/api/auth/pin/verify", Token: a.Token, Body: map[string]any{"pin": "369258"}}), http.StatusOK)
		for i := 0; i < 5; i++ {
			ok(e.Do(t, apptest.Request{Path: "/api/auth/pin/verify", Token: a.Token, Body: map[string]any{"pin": "951753"}}), http.StatusUnauthorized)
		}
		ok(e.Do(t, apptest.Request{Path: "/api/auth/pin/unlock", Token: a.Token, Body: map[string]any{"password": newPassword}}), http.StatusNoContent)

		// 2FA by e-mail: enabled, failed, verified (trusting the device),
		// recovery used, recovery regenerated, disabled.
		res := e.Do(t, apptest.Request{Path: "/api/auth/2fa/email/enable", Token: a.Token, Body: map[string]any{"password": newPassword}})
		ok(res, http.StatusOK)
		codes := stringList(t, res.JSON(t)["recovery_codes"])
		keep(codes...)
		c := e.login(t, u, newPassword, nil)
		keep(c.Challenge)
		code, _ := e.mail.LastCode(t, u.Email)
		keep(code)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		ok(e.verify(t, map[string]any{"challenge": c.Challenge, "code": wrong}), http.StatusUnauthorized)
		res = e.verify(t, map[string]any{"challenge": c.Challenge, "code": code, "trust_device": true})
		ok(res, http.StatusOK)
		trusted := apptest.ParseLogin(t, res)
		keep(trusted.Token, trusted.Device)
		c = e.login(t, u, newPassword, nil)
		keep(c.Challenge)
		res = e.verify(t, map[string]any{"challenge": c.Challenge, "recovery_code": codes[0]})
		ok(res, http.StatusOK)
		keep(apptest.ParseLogin(t, res).Token, apptest.ParseLogin(t, res).Device)
		res = e.Do(t, apptest.Request{Path: "/api/auth/2fa/recovery-codes", Token: a.Token, Body: map[string]any{"password": newPassword}})
		ok(res, http.StatusOK)
		fresh := stringList(t, res.JSON(t)["recovery_codes"])
		keep(fresh...)
		ok(e.Do(t, apptest.Request{Path: "/api/auth/2fa/disable", Token: a.Token, Body: map[string]any{"password": newPassword, "recovery_code": fresh[0]}}), http.StatusOK)

		// session.revoked through the API; device.revoked through the service.
		b := e.login(t, u, newPassword, nil)
		keep(b.Token, b.Device)
		ok(e.Do(t, apptest.Request{Method: http.MethodDelete, Path: "/api/sessions/" + b.SessionID, Token: a.Token}), http.StatusNoContent)
		dev := findSession(e.devices(t, a.Token), trusted.SessionID)
		require.NotNil(t, dev)
		require.NoError(t, e.RevokeDevice(t, e.Tenant.ID, u.ID, dev["device_id"].(string)))
		e.requireDead(t, trusted.Token)

		// user.locked on another user.
		v := e.newUser(t)
		for i := 0; i < 5; i++ {
			e.PasswordLogin(t, e.Tenant.Slug, v.Email, "Wrong-Password-1", nil)
		}

		// oauth.refresh_reuse_detected for the e2e user: a rotated refresh token replayed.
		web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
		grant, _ := loggedInGrant(t, e.Env, e.Server.NewBrowser(t), cfg)
		rotated := requireTokens(t, refreshRequest(t, e.Server, web, grant.RefreshToken))
		apptest.RequireOAuthError(t, refreshRequest(t, e.Server, web, grant.RefreshToken), http.StatusBadRequest, "invalid_grant")
		keep(grant.AccessToken, grant.RefreshToken, rotated.Access, rotated.Refresh, web.Secret)

		// The user's own activity, newest first, page by page.
		all := accountAuditPages(t, e, a.Token, 100)
		paged := accountAuditPages(t, e, a.Token, 2)
		require.Equal(t, all, paged, "walking pages of 2 gives the same list")
		seen := map[string]bool{}
		var prev time.Time
		for i, it := range paged {
			id := it["id"].(string)
			require.False(t, seen[id], "no duplicates across pages")
			seen[id] = true
			at := jsonTime(t, it["created_at"])
			if i > 0 {
				require.False(t, at.After(prev), "newest first")
			}
			prev = at
			require.NotEqual(t, identity.AuditRefreshReuse, it["action"], "only the user's own events")
		}
		require.Equal(t, identity.AuditDeviceRevoked, paged[0]["action"], "the newest event comes first")

		// Log out last, then read the table.
		ok(e.Do(t, apptest.Request{Path: "/api/auth/logout", Token: a.Token}), http.StatusNoContent)

		rows := e.Server.TableRows(t, "audit_logs")
		want := map[string]string{ // action → whose
			identity.AuditLogin: u.ID, identity.AuditLoginFailed: u.ID, identity.AuditLogout: u.ID, identity.AuditLocked: v.ID,
			identity.AuditPasswordChanged: u.ID, identity.AuditProfileUpdated: u.ID,
			identity.Audit2FAEnabled: u.ID, identity.Audit2FADisabled: u.ID, identity.Audit2FAVerified: u.ID, identity.Audit2FAFailed: u.ID,
			identity.Audit2FARecoveryUsed: u.ID, identity.Audit2FARecoveryRegen: u.ID,
			identity.AuditPINSet: u.ID, identity.AuditPINChanged: u.ID, identity.AuditPINVerified: u.ID, identity.AuditPINFailed: u.ID,
			identity.AuditPINLocked: u.ID, identity.AuditPINUnlocked: u.ID,
			identity.AuditDeviceAdded: u.ID, identity.AuditDeviceTrusted: u.ID, identity.AuditDeviceRevoked: u.ID,
			identity.AuditSessionRevoked: u.ID, identity.AuditRefreshReuse: e.User.ID,
		}
		for action, userID := range want {
			var found []map[string]string
			for _, r := range rows {
				if r["action"] == action && r["user_id"] == userID {
					found = append(found, r)
				}
			}
			require.NotEmpty(t, found, "an audit row for %s", action)
			for _, r := range found {
				require.Equal(t, e.Tenant.ID, r["tenant_id"], "%s tenant", action)
				require.NotEmpty(t, r["id"])
				require.NotEmpty(t, r["created_at"])
				require.NotEmpty(t, r["ip_address"], "%s ip_address", action)
				require.NotEmpty(t, r["user_agent"], "%s user_agent", action)
			}
		}
		for _, r := range rows {
			var md map[string]any
			require.NoError(t, json.Unmarshal([]byte(r["metadata"]), &md), "metadata of %s is a JSON object", r["action"])
			for k := range md {
				lk := strings.ToLower(k)
				for _, bad := range []string{"password", "pin", "secret", "token"} {
					require.NotContains(t, lk, bad, "%s metadata key %q", r["action"], k)
				}
				require.NotEqual(t, "code", lk, "%s metadata key %q", r["action"], k)
			}
			for _, col := range []string{"metadata", "user_agent", "ip_address", "action"} {
				val := r[col]
				for _, s := range secrets {
					require.NotContains(t, val, s, "audit_logs.%s of %s holds a secret", col, r["action"])
				}
			}
		}
	})
}
